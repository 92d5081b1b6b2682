// Route table: the most specific match wins (host-bound routes before host-less ones, then the
// longest path prefix). Prefixes match whole segments: `/api` matches `/api` and `/api/x`, not `/apix`.
// Matching runs on the normalized path, case-sensitive unless the route says its upstream is not.
import { jitgateError } from '../errors.js';
import type { RouteConfig } from './config.js';
import { canonicalHost, normalizeTarget } from './normalize.js';
import { upstreamTls, type UpstreamTls } from './upstream-tls.js';

export interface CompiledRoute {
  config: RouteConfig;
  host: string | null;
  /** Lower case when the route matches without regard to case. */
  prefix: string;
  caseSensitive: boolean;
  /** Origin of the upstream (scheme://host:port) and its base path (no trailing slash). */
  origin: string;
  basePath: string;
  /** The upstream's host name, lower case (cookie domains are compared with it). */
  upstreamHost: string;
  /** TLS towards the upstream (upstream_tls), read when the routes are built. */
  tls: UpstreamTls | null;
}

export function compileRoute(config: RouteConfig): CompiledRoute {
  const url = new URL(config.upstream);
  const caseSensitive = config.match.case_sensitive !== false;
  // In the form requests are matched in (`/api/café` is `/api/caf%C3%A9`, `/api//x` is `/api/x`):
  // written otherwise, the route would never match, and its traffic would go to a looser one.
  const normal = normalizeTarget(config.match.path_prefix, undefined).path;
  const prefix = normal.length > 1 ? normal.replace(/\/+$/, '') : '/';
  return {
    config,
    host: config.match.host ? canonicalHost(config.match.host) : null,
    prefix: caseSensitive ? prefix : prefix.toLowerCase(),
    caseSensitive,
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ''),
    upstreamHost: url.hostname.toLowerCase(),
    tls: upstreamTls(config),
  };
}

/** `example.com:8080` → `example.com`, `[::1]:8080` → `[::1]`. */
function withoutPort(host: string): string {
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(host);
  return m?.[1] ?? host;
}

/** A route host without a port matches that host on any port (the gateway may listen on 8080). */
function hostMatches(routeHost: string | null, host: string | null, hostname: string | null): boolean {
  if (routeHost === null || routeHost === host) return true;
  return withoutPort(routeHost) === routeHost && routeHost === hostname;
}

export class RouteTable {
  private readonly routes: CompiledRoute[];

  constructor(configs: readonly RouteConfig[]) {
    const names = new Set<string>();
    for (const c of configs) {
      // Route names key the policy's decisions and grant scopes: two routes with one name would share them.
      if (names.has(c.name)) throw jitgateError('CONFIG_INVALID', `routes: duplicate route name "${c.name}"`);
      names.add(c.name);
    }
    this.routes = configs.map(compileRoute).sort((a, b) => {
      if ((a.host === null) !== (b.host === null)) return a.host === null ? 1 : -1;
      return b.prefix.length - a.prefix.length;
    });
  }

  match(host: string | undefined, path: string): CompiledRoute | null {
    const h = host === undefined ? null : canonicalHost(host);
    const hostname = h === null ? null : withoutPort(h);
    let lower: string | null = null;
    for (const r of this.routes) {
      if (!hostMatches(r.host, h, hostname)) continue;
      const p = r.caseSensitive ? path : (lower ??= path.toLowerCase());
      if (r.prefix === '/' || p === r.prefix || p.startsWith(r.prefix + '/')) return r;
    }
    return null;
  }

  get all(): readonly CompiledRoute[] {
    return this.routes;
  }
}
