// The fastify instance behind a listener, plain HTTP or HTTPS. Both servers (data path and
// control API) are built here so they take TLS the same way, swap certificates the same way,
// and give slow callers the same bounds.
import type { Server as HttpsServer, ServerOptions as HttpsOptions } from 'node:https';
import Fastify, { type FastifyHttpOptions, type FastifyHttpsOptions, type FastifyInstance } from 'fastify';
import type { Server } from 'node:http';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { contextOptions, type TlsMaterial } from './material.js';
import { pemBlocks } from './pem.js';
import { isRevoked, vouchedUntilMs, type RevocationList } from './revocation.js';

/**
 * How long a caller may take to send a request, head and all. Node's own limits would let an
 * unauthenticated caller hold a connection for a minute with a trickled head (fastify turns the
 * whole-request limit off), and an authenticated one hold an upstream connection for good with
 * a trickled body.
 */
export interface ClientTimeouts {
  /** The request head (line and headers), from its first byte. */
  head_ms: number;
  /** The whole request, head and body. At least `head_ms`. */
  request_ms: number;
  /**
   * How long a kept-alive connection may sit idle between requests. Node's http default is 5 s,
   * but fastify raises it to 72 s: an idle connection costs nobody anything to hold open, so a
   * single client could keep tens of thousands of them, and with them the process's file limit.
   */
  keep_alive_ms: number;
}

export const CLIENT_TIMEOUT_DEFAULTS: Readonly<ClientTimeouts> = Object.freeze({ head_ms: 10_000, request_ms: 300_000, keep_alive_ms: 5_000 });

/** How many connections a listener holds open at once, and who hears of one turned away. */
export interface ConnectionLimit {
  /** Node's `server.maxConnections`: a connection past it is closed as it is accepted. */
  max: number;
  /** Told of each connection closed for being past `max` (a metric). */
  dropped?: () => void;
}

/** How often Node looks for requests past their limits: a limit is kept to within this. */
const CHECK_INTERVAL_MS = 1_000;
/** While a listener drains, how often connections gone idle since are ended. */
const DRAIN_SWEEP_MS = 100;

/**
 * Stops a listener: no new connections, requests in flight finish, and each kept-alive connection
 * ends as soon as it goes idle. fastify ends only those idle when it is asked, and Node keeps the
 * others open for their keep-alive time (72 s by fastify's default) after their last answer.
 */
export async function closeDraining(app: FastifyInstance): Promise<void> {
  const sweep = setInterval(() => { app.server.closeIdleConnections(); }, DRAIN_SWEEP_MS);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
  }
}

/**
 * A fastify instance serving HTTPS with `tls`, plain HTTP without, typed as the plain one: an
 * https.Server is an http.Server for everything the servers use (requests, upgrades, CONNECT,
 * addresses), and certificates are swapped through `useTls`. A caller past `timeouts` gets
 * 408 through the server's `clientError` handler, and the connection is closed.
 */
export function listenerFastify(
  fastifyOptions: FastifyHttpOptions<Server>,
  tls: TlsMaterial | null,
  timeouts: ClientTimeouts = CLIENT_TIMEOUT_DEFAULTS,
  connections?: ConnectionLimit,
): FastifyInstance {
  const options: FastifyHttpOptions<Server> = {
    ...fastifyOptions,
    // fastify sets the server's request and keep-alive timeouts from its own options, after creating it.
    requestTimeout: timeouts.request_ms,
    keepAliveTimeout: timeouts.keep_alive_ms,
    http: {
      ...(fastifyOptions.http ?? {}),
      headersTimeout: timeouts.head_ms,
      requestTimeout: timeouts.request_ms,
      connectionsCheckingInterval: CHECK_INTERVAL_MS,
    },
  };
  if (tls === null) return limited(Fastify(options), connections);
  const { http, ...rest } = options;
  const https: HttpsOptions = { ...(http ?? {}), ...contextOptions(tls), minVersion: 'TLSv1.2' };
  if (tls.clients) {
    https.requestCert = true;
    // Optional: the handshake completes without one, and only a verified one counts (peer.ts).
    https.rejectUnauthorized = tls.clients.required;
  }
  const httpsOptions = { ...rest, https } as FastifyHttpsOptions<HttpsServer>;
  const app = Fastify(httpsOptions);
  // No renegotiation (TLS 1.2; 1.3 has none): a client could present another certificate on an
  // open connection than the one its handshake was checked and tracked with.
  app.server.on('secureConnection', (socket: TLSSocket) => { socket.disableRenegotiation(); });
  if (tls.clients) trackConnections(app, tls.clients);
  return limited(app, connections);
}

/**
 * Caps the connections open at once. Each one is a file descriptor: without a cap, enough idle or
 * slow callers take the process to its file limit, and then the gateway can open neither upstream
 * connections nor its store. Past the cap Node closes a new connection as it accepts it (before
 * any TLS handshake or byte is read), and says so with `drop`.
 */
function limited(app: FastifyInstance, connections: ConnectionLimit | undefined): FastifyInstance {
  if (connections === undefined) return app;
  app.server.maxConnections = connections.max;
  const { dropped } = connections;
  if (dropped) app.server.on('drop', () => { dropped(); });
  return app;
}

/**
 * Open connections of listeners that ask for client certificates, with each one's chain (DER, the
 * client's certificate first, the trusted root left out), so a new revocation list reaches them.
 * The chain is Node's, linked by issuer from what the client sent (OpenSSL's verified chain is not
 * exposed), and taken at the handshake: the intermediates are gone later (measured:
 * `issuerCertificate` is undefined after the first request).
 */
interface Tracked {
  open: Map<TLSSocket, OpenConnection>;
  /** The configured client CA file, as read, and its certificates (to complete chains with). */
  ca: Buffer;
  authorities: X509Certificate[];
  /** The revocation lists served: past a list's next update, the connections it vouched for end. */
  lists: readonly RevocationList[];
}

interface OpenConnection {
  chain: readonly Buffer[];
  /** The earliest notAfter in the chain. */
  expiresMs: number;
  /** Ends the connection at the earlier of that and its lists' next update (re-armed on reload). */
  timer?: NodeJS.Timeout;
}

const connections = new WeakMap<FastifyInstance, Tracked>();

/** Bounded: a chain is a handful of certificates; a cycle must not hold the handshake. */
const MAX_CHAIN = 16;

function authoritiesIn(pem: Buffer): X509Certificate[] {
  return pemBlocks(pem, 'CERTIFICATE').map((block) => new X509Certificate(block));
}

/**
 * The chain up to (not including) the trusted root. A client that sent only its own certificate
 * leaves Node's links at it, though OpenSSL found its intermediates in the configured CA file:
 * the chain is completed from there, so revoking such an intermediate reaches it too.
 */
function verifiedChain(socket: TLSSocket, authorities: readonly X509Certificate[]): X509Certificate[] {
  const chain: X509Certificate[] = [];
  if (!socket.authorized) return chain;
  let certificate: X509Certificate | undefined = socket.getPeerX509Certificate();
  let last: X509Certificate | undefined;
  while (certificate !== undefined && certificate.issuer !== certificate.subject && chain.length < MAX_CHAIN) {
    chain.push(certificate);
    last = certificate;
    certificate = certificate.issuerCertificate;
  }
  while (certificate === undefined && last !== undefined && chain.length < MAX_CHAIN) {
    const below = last;
    const issuer = authorities.find((ca) => below.checkIssued(ca) && below.verify(ca.publicKey));
    if (issuer === undefined || issuer.issuer === issuer.subject) break;
    chain.push(issuer);
    last = issuer;
  }
  return chain;
}

/** setTimeout's longest delay: a later end is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Ends a connection let in by a client certificate when its chain stops verifying: a certificate
 * in it expires, or the revocation list of an issuer in it passes its next update. OpenSSL checks
 * both at the handshake only, so a keep-alive connection (and the WebSockets and streams on it)
 * would otherwise go on as its workload, unbounded, after the certificate stopped being one.
 */
function endWhenUnvouched(tracked: Tracked, socket: TLSSocket, entry: OpenConnection): void {
  clearTimeout(entry.timer);
  if (entry.chain.length === 0) return;
  const endMs = Math.min(entry.expiresMs, vouchedUntilMs(entry.chain, tracked.lists));
  const arm = (): void => {
    const left = endMs - Date.now();
    // A date that does not parse (NaN) ends the connection too: it cannot be shown to be valid.
    if (!(left > 0)) {
      socket.destroy();
      return;
    }
    entry.timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    entry.timer.unref();
  };
  arm();
}

function trackConnections(app: FastifyInstance, clients: NonNullable<TlsMaterial['clients']>): void {
  const tracked: Tracked = { open: new Map(), ca: clients.ca, authorities: authoritiesIn(clients.ca), lists: clients.revoked ?? [] };
  connections.set(app, tracked);
  (app.server as unknown as HttpsServer).on('secureConnection', (socket: TLSSocket) => {
    const chain = verifiedChain(socket, tracked.authorities);
    const entry: OpenConnection = { chain: chain.map((c) => c.raw), expiresMs: Math.min(...chain.map((c) => Date.parse(c.validTo))) };
    tracked.open.set(socket, entry);
    socket.once('close', () => {
      clearTimeout(entry.timer);
      tracked.open.delete(socket);
    });
    endWhenUnvouched(tracked, socket, entry);
  });
}

/**
 * Ends the open connections (WebSockets and streams on them too) whose verified chain `lists`
 * name anywhere: the client's own certificate, or a CA between it and the trusted root (a
 * revoked intermediate takes every certificate under it along). Returns how many.
 */
function endRevoked(app: FastifyInstance, lists: readonly RevocationList[]): number {
  return endWhere(app, (chain) => chain.some((der) => isRevoked(der, lists)));
}

function endWhere(app: FastifyInstance, end: (chain: readonly Buffer[]) => boolean): number {
  let ended = 0;
  for (const [socket, { chain }] of connections.get(app)?.open ?? []) {
    if (end(chain)) {
      socket.destroy();
      ended++;
    }
  }
  return ended;
}

/**
 * Applies new `timeouts` (a config reload): Node reads its limits at every check, so requests
 * under way are held to them from the next check on.
 */
export function useClientTimeouts(app: FastifyInstance, timeouts: ClientTimeouts): void {
  app.server.headersTimeout = timeouts.head_ms;
  app.server.requestTimeout = timeouts.request_ms;
  // Read when a connection goes idle: those idle now keep the timer they were given.
  app.server.keepAliveTimeout = timeouts.keep_alive_ms;
}

/**
 * Serves `tls` on new connections from now on; connections already open keep their handshake,
 * but those whose client certificate its revocation lists name are ended, and, when the client CA
 * file changed, every connection that was let in by a client certificate (the CAs that vouched
 * for it may be the ones taken out); the others end at their lists' next update from now on.
 * Returns how many were ended.
 */
export function useTls(app: FastifyInstance, tls: TlsMaterial): number {
  (app.server as unknown as HttpsServer).setSecureContext({ ...contextOptions(tls), minVersion: 'TLSv1.2' });
  const tracked = connections.get(app);
  let ended = 0;
  if (tracked && tls.clients && !tls.clients.ca.equals(tracked.ca)) {
    ended += endWhere(app, (chain) => chain.length > 0);
    tracked.ca = tls.clients.ca;
    tracked.authorities = authoritiesIn(tls.clients.ca);
  }
  ended += tls.clients?.revoked ? endRevoked(app, tls.clients.revoked) : 0;
  if (tracked) {
    // New lists bring new next updates: a fresh list keeps the connections it vouches for.
    tracked.lists = tls.clients?.revoked ?? [];
    for (const [socket, entry] of tracked.open) if (!socket.destroyed) endWhenUnvouched(tracked, socket, entry);
  }
  return ended;
}
