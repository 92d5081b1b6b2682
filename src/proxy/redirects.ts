// Redirects the upstream answers with, pointed back through the gateway. An upstream that knows
// itself as http://orders.internal:9000/v1 writes that into Location; passed on as it is, it
// tells callers an internal address and sends their clients around the gateway. As nginx's
// `proxy_redirect default`: a URL under the route's upstream, in Location, Content-Location or
// Refresh, becomes the same place under the address the caller used. Anything else (another
// site, a path outside the upstream's base path) is passed on as it is: there is no gateway
// address for it.

/** Where a route forwards to: the upstream's origin and the base path every request is put under. */
export interface UpstreamBase {
  origin: string;
  basePath: string;
}

/**
 * `Refresh: 5; url=http://orders.internal:9000/v1/x` as browsers read it: the delay, `;` or `,`,
 * an optional `url=`, then the URL, perhaps quoted. Only this lead is a pattern: the URL is taken
 * by hand, since a lazy match up to an optional closing quote backtracks quadratically on an
 * upstream's long value (and blocks every caller while it does).
 */
const REFRESH_LEAD = /^\s*\d+(?:\.\d*)?\s*[;,]\s*(?:url\s*=\s*)?/i;

/** `path` without the upstream's base path, or null when it is not under it. */
export function belowBase(path: string, basePath: string): string | null {
  if (basePath === '') return path;
  if (!path.startsWith(basePath)) return null;
  const rest = path.slice(basePath.length);
  if (rest === '') return '/';
  if (rest.startsWith('/')) return rest;
  return rest.startsWith('?') || rest.startsWith('#') ? `/${rest}` : null;
}

/**
 * A path that stays a path: `/v1//evil.example/x` is a path on the upstream, but with `/v1`
 * taken off it would be `//evil.example/x`, which browsers follow to another site (as `/\\` and
 * with tabs or line breaks between, which they drop). Leading slashes and backslashes become one.
 */
function onThisHost(path: string): string {
  return /^\/[\t\n\r]*[/\\]/.test(path) ? `/${path.replace(/^[/\\\t\n\r]+/, '')}` : path;
}

/** An absolute URL (`scheme:`) or one relative to the scheme only (`//host/x`). */
const NAMES_A_HOST = /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i;

/**
 * One Location or Content-Location value, rebased from `upstream` onto `callerOrigin`
 * (`https://gateway.example`; null when the caller named no host: absolute URLs then stay).
 */
export function rebaseLocation(value: string, upstream: UpstreamBase, callerOrigin: string | null): string {
  if (!NAMES_A_HOST.test(value)) {
    const rest = value.startsWith('/') ? belowBase(value, upstream.basePath) : null;
    return rest === null ? value : onThisHost(rest);
  }
  if (callerOrigin === null) return value;
  let url: URL;
  try {
    // `//host/x` is relative to the upstream's scheme.
    url = new URL(value, upstream.origin);
  } catch {
    return value;
  }
  if (url.origin !== upstream.origin) return value;
  const rest = belowBase(url.pathname + url.search + url.hash, upstream.basePath);
  return rest === null ? value : callerOrigin + rest;
}

/** A host name or address with an optional port: a Host header that is anything else is not echoed into URLs. */
const PLAIN_HOST = /^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/** `scheme://host` as the caller addressed the gateway, or null when its Host header is not a plain host. */
export function callerOrigin(scheme: 'http' | 'https', host: string): string | null {
  return PLAIN_HOST.test(host) ? `${scheme}://${host}` : null;
}

/** One Refresh value, its URL (if it names one) rebased as rebaseLocation does. */
export function rebaseRefresh(value: string, upstream: UpstreamBase, callerOrigin: string | null): string {
  const lead = REFRESH_LEAD.exec(value)?.[0];
  if (lead === undefined) return value;
  const rest = value.slice(lead.length).trimEnd();
  const first = rest[0];
  const quote = (first === '"' || first === "'") && rest.length >= 2 && rest.endsWith(first) ? first : '';
  const url = quote === '' ? rest : rest.slice(1, -1);
  return url === '' ? value : `${lead}${quote}${rebaseLocation(url, upstream, callerOrigin)}${quote}`;
}

/** The response headers that may point at the upstream: rebased, in place. */
export function rebaseRedirects(headers: Record<string, string | string[]>, upstream: UpstreamBase, callerOrigin: string | null): void {
  const { location, refresh } = headers;
  const contentLocation = headers['content-location'];
  if (typeof location === 'string') headers.location = rebaseLocation(location, upstream, callerOrigin);
  if (typeof contentLocation === 'string') headers['content-location'] = rebaseLocation(contentLocation, upstream, callerOrigin);
  if (typeof refresh === 'string') headers.refresh = rebaseRefresh(refresh, upstream, callerOrigin);
}

/** Whether a response carries a header rebaseRedirects would look at (most carry none). */
export function mayRedirect(headers: Record<string, string | string[]>): boolean {
  return headers.location !== undefined || headers['content-location'] !== undefined || headers.refresh !== undefined;
}
