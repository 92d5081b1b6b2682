// TLS towards a route's https upstream: the CAs that may sign its certificate (an internal CA),
// the client certificate the gateway presents when the upstream asks for one (mTLS), and the
// name to verify. The files are read whenever the routes are built (start and every reload),
// so a renewed client certificate is used from the next reload; a set that cannot be used
// refuses the routes whole, as a missing credential does.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { jitgateError } from '../errors.js';
import type { RouteConfig } from './config.js';

/** What undici's connector hands to tls.connect for this route, and a key naming it. */
export interface UpstreamTls {
  connect: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string };
  /** Equal for equal settings and file contents: connections are pooled per upstream and TLS setup. */
  id: string;
}

function read(route: string, key: 'ca_file' | 'cert_file' | 'key_file', path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw jitgateError('CONFIG_INVALID', `routes.${route}.upstream_tls.${key}: cannot read ${path}: ${(err as Error).message}`, undefined, err);
  }
}

/** The route's upstream TLS settings, read and checked; null for a route without any. */
export function upstreamTls(route: RouteConfig): UpstreamTls | null {
  const cfg = route.upstream_tls;
  if (cfg === undefined) return null;
  if (!route.upstream.startsWith('https://')) {
    throw jitgateError('CONFIG_INVALID', `routes.${route.name}.upstream_tls: the upstream ${route.upstream} is not https`);
  }
  const connect: UpstreamTls['connect'] = {};
  const ca = read(route.name, 'ca_file', cfg.ca_file);
  const cert = read(route.name, 'cert_file', cfg.cert_file);
  const key = read(route.name, 'key_file', cfg.key_file);
  if (ca) connect.ca = ca;
  if (cert) connect.cert = cert;
  if (key) connect.key = key;
  if (cfg.server_name !== undefined) connect.servername = cfg.server_name;
  try {
    // Unparsable PEM, an encrypted key, or a key that is not the certificate's.
    createSecureContext(connect);
  } catch (err) {
    throw jitgateError('CONFIG_INVALID', `routes.${route.name}.upstream_tls: the files are not a usable CA, certificate and key: ${(err as Error).message}`, undefined, err);
  }
  const hash = createHash('sha256');
  for (const part of [ca, cert, key]) hash.update(part ?? '').update('\0');
  hash.update(cfg.server_name ?? '');
  return { connect, id: hash.digest('hex').slice(0, 16) };
}
