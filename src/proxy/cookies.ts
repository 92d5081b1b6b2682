// Cookies the upstream sets, scoped to where the caller reaches it. An upstream that knows itself
// as orders.internal under /v1 writes `Domain=orders.internal; Path=/v1` into its cookies; passed
// on as they are, the browser refuses the first (not its host) and never sends back the second
// (not a path it asks for). As nginx's proxy_cookie_domain and proxy_cookie_path would be set up
// for the route: a Domain the upstream's host falls under is dropped (the cookie is then the
// gateway host's own), and a Path under the upstream's base path loses that base. Cookies named
// in the gateway's own namespace are not set at all.
import type { RouteConfig } from './config.js';
import { isGatewayCookie } from './headers.js';
import { belowBase } from './redirects.js';
import type { CompiledRoute } from './routes.js';

/**
 * Whether cookies pass between the caller and the upstream on a request that goes with
 * `credential` (the one the gateway injects, if any). Not when there is one: a session the
 * upstream opens for the injected credential is that credential in the caller's hands, still
 * working after the grant behind it ended; and a session cookie of the caller's sent beside it
 * could make an upstream that reads cookies first act as someone else. A route whose upstream's
 * cookies carry no authority (a UI's preferences, a CSRF token) sets `upstream_cookies: true`.
 */
export function cookiesPass(route: Pick<RouteConfig, 'upstream_cookies'>, credential: string | undefined): boolean {
  return credential === undefined || route.upstream_cookies === true;
}

/** What of a route scopes its cookies: the upstream's base path and host name (lower case). */
export type CookieScope = Pick<CompiledRoute, 'basePath' | 'upstreamHost'>;

/** Whether `host` is `domain` or under it (RFC 6265 5.1.3 domain-match, leading dot ignored as browsers do). */
function domainMatches(host: string, domain: string): boolean {
  const d = domain.replace(/^\./, '').toLowerCase();
  return d !== '' && (host === d || host.endsWith(`.${d}`));
}

/** One Set-Cookie value rebased from `upstream`; null when it is not to be set. */
export function rebaseSetCookie(value: string, upstream: CookieScope): string | null {
  const parts = value.split(';');
  const name = (parts[0] ?? '').split('=')[0]?.trim() ?? '';
  if (isGatewayCookie(name)) return null;
  const out = [parts[0] ?? ''];
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i] ?? '';
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const attr = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (key === 'domain' && domainMatches(upstream.upstreamHost, attr)) continue;
    if (key === 'path' && attr.startsWith('/')) {
      const rest = belowBase(attr, upstream.basePath);
      if (rest !== null && rest !== attr) {
        out.push(` ${part.slice(0, eq).trim()}=${rest}`);
        continue;
      }
    }
    out.push(part);
  }
  return out.join(';');
}

/**
 * The response's Set-Cookie headers as the caller gets them, in place, for a request that went
 * with `credential`: dropped when cookies may not pass (cookiesPass), else rebased. True when
 * some were rewritten, so the headers are to be masked again (a rewrite can join what masking saw apart).
 */
export function setCookiesForCaller(headers: Record<string, string | string[]>, route: CookieScope & Pick<CompiledRoute, 'config'>, credential: string | undefined): boolean {
  if (headers['set-cookie'] === undefined) return false;
  if (!cookiesPass(route.config, credential)) {
    delete headers['set-cookie'];
    return false;
  }
  rebaseCookies(headers, route);
  return true;
}

/** The response's Set-Cookie values rebased, in place (those in the gateway's namespace removed). */
export function rebaseCookies(headers: Record<string, string | string[]>, upstream: CookieScope): void {
  const raw = headers['set-cookie'];
  if (raw === undefined) return;
  const kept: string[] = [];
  for (const value of Array.isArray(raw) ? raw : [raw]) {
    const rebased = rebaseSetCookie(value, upstream);
    if (rebased !== null) kept.push(rebased);
  }
  if (kept.length === 0) delete headers['set-cookie'];
  else headers['set-cookie'] = kept;
}
