// TLS towards a route's https upstream: the CAs that may sign its certificate (an internal CA),
// the client certificate the gateway presents when the upstream asks for one (mTLS), and the
// name to verify. The files are read whenever the routes are built (start and every reload),
// so a renewed client certificate is used from the next reload; a set that cannot be used
// refuses the routes whole, as a missing credential does.
import { jitgateError } from '../errors.js';
import { clientConnectOptions, clientTlsId, readConfiguredPem, type ClientConnectOptions, type ClientTlsParts } from '../tls/index.js';
import type { RouteConfig } from './config.js';

/** What undici's connector hands to tls.connect for this route, and a key naming it. */
export interface UpstreamTls {
  connect: ClientConnectOptions;
  /** Equal for equal settings and file contents: connections are pooled per upstream and TLS setup. */
  id: string;
}

/** The route's upstream TLS settings, read and checked; null for a route without any. */
export function upstreamTls(route: RouteConfig): UpstreamTls | null {
  const cfg = route.upstream_tls;
  if (cfg === undefined) return null;
  const at = `routes.${route.name}.upstream_tls`;
  if (!route.upstream.startsWith('https://')) throw jitgateError('CONFIG_INVALID', `${at}: the upstream ${route.upstream} is not https`);
  const parts: ClientTlsParts = {};
  if (cfg.ca_file !== undefined) parts.ca = readConfiguredPem(cfg.ca_file, `${at}.ca_file`);
  if (cfg.cert_file !== undefined) parts.cert = readConfiguredPem(cfg.cert_file, `${at}.cert_file`);
  if (cfg.key_file !== undefined) parts.key = readConfiguredPem(cfg.key_file, `${at}.key_file`);
  if (cfg.server_name !== undefined) parts.servername = cfg.server_name;
  try {
    return { connect: clientConnectOptions(parts), id: clientTlsId(parts) };
  } catch (err) {
    throw jitgateError('CONFIG_INVALID', `${at}: the files are not a usable CA, certificate and key: ${(err as Error).message}`, undefined, err);
  }
}
