// The fastify instance behind a listener, plain HTTP or HTTPS. Both servers (data path and
// control API) are built here so they take TLS the same way and swap certificates the same way.
import type { Server as HttpsServer, ServerOptions as HttpsOptions } from 'node:https';
import Fastify, { type FastifyHttpOptions, type FastifyHttpsOptions, type FastifyInstance } from 'fastify';
import type { Server } from 'node:http';
import type { TlsMaterial } from './material.js';

/**
 * A fastify instance serving HTTPS with `tls`, plain HTTP without, typed as the plain one: an
 * https.Server is an http.Server for everything the servers use (requests, upgrades, CONNECT,
 * addresses), and certificates are swapped through `useTls`.
 */
export function listenerFastify(options: FastifyHttpOptions<Server>, tls: TlsMaterial | null): FastifyInstance {
  if (tls === null) return Fastify(options);
  const { http, ...rest } = options;
  const https: HttpsOptions = { ...(http ?? {}), ...contextOptions(tls), minVersion: 'TLSv1.2' };
  if (tls.clients) {
    https.requestCert = true;
    // Optional: the handshake completes without one, and only a verified one counts (peer.ts).
    https.rejectUnauthorized = tls.clients.required;
  }
  const httpsOptions = { ...rest, https } as FastifyHttpsOptions<HttpsServer>;
  return Fastify(httpsOptions);
}

/** Serves `tls` on new connections from now on (connections already open keep theirs). */
export function useTls(app: FastifyInstance, tls: TlsMaterial): void {
  (app.server as unknown as HttpsServer).setSecureContext({ ...contextOptions(tls), minVersion: 'TLSv1.2' });
}

function contextOptions(tls: TlsMaterial): { cert: Buffer; key: Buffer; ca?: Buffer } {
  return { cert: tls.cert, key: tls.key, ...(tls.clients ? { ca: tls.clients.ca } : {}) };
}
