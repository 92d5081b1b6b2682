// The data-path server: fastify accepts the request, the pipeline decides, and an allowed request is
// streamed to the upstream through undici (pooled, keep-alive, no buffering) with the broker's
// credential. Any failure before forwarding answers without forwarding.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { FastifyError, FastifyInstance } from 'fastify';
import { requestId as requestIdFor } from '../observability/index.js';
import { closeDraining, listenerFastify, useClientTimeouts, useTls, type TlsMaterial } from '../tls/index.js';
import { ERRORS, isJitgateError, jitgateError, type JitgateError, toError } from '../errors.js';
import { uuid } from '../uuid.js';
import { CALLER_TIMEOUT_DEFAULTS, type CallerTimeouts, type RouteConfig } from './config.js';
import { ClientAddresses, type TrustedProxyHeader } from './client-address.js';
import { BodyBudget, defaultCallerShare } from './body-budget.js';
import { guardBody, type GuardedBody } from './body-guard.js';
import { ConnectionErrors } from './client-errors.js';
import { CredentialBroker } from './credentials.js';
import { deferContinue, inviteBody } from './expect-continue.js';
import { callerResponseHeaders, obligationHeaders, upstreamRequestHeaders } from './headers.js';
import { auditEntryFor, type ProxyAuditKind } from './audit-entry.js';
import { createPipeline, DecidedError, grantsMovedAfterAudit, logDecision, logRefusal, notForwarded, recordNotForwarded, routingState, type Decided, type PipelineDeps, type RoutingState } from './pipeline.js';
import { SecretMasker } from './redact.js';
import { callerOrigin, mayRedirect, rebaseRedirects } from './redirects.js';
import { cookiesPass, setCookiesForCaller } from './cookies.js';
import { watchSession } from './session-watch.js';
import { CallerClosed, relayUpstream, type Relayed } from './relay.js';
import { denyBody, errorBody, JSON_TYPE, rawAnswer, specBody, type ErrorBody } from './respond.js';
import { RouteTable } from './routes.js';
import { upstreamError, upstreamFailure, UpstreamPools } from './upstream.js';
import { proxyUpgrade } from './websocket.js';

/** What the pipeline needs, plus the routes the server builds its routing state from. */
export interface ProxyServerOptions extends Omit<PipelineDeps, 'state' | 'clients' | 'bodyReads' | 'bodyBudget'> {
  routes: RouteConfig[];
  /** Peers whose X-Forwarded-For and X-Forwarded-Proto are believed (addresses and CIDR blocks). */
  trustedProxies?: readonly string[];
  /** The header the trusted proxies write (default X-Forwarded-For). */
  trustedProxyHeader?: TrustedProxyHeader;
  /** Where credential secrets are read from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Largest request head accepted (default 16 KiB); larger answers 431. */
  maxHeaderBytes?: number;
  /** Connections per upstream pool (default 128). */
  upstreamConnections?: number;
  /** Where users reach the web console's server: 403 hints then carry a link to its request form. */
  consoleUrl?: string;
  /** Serve HTTPS with this certificate (plain HTTP without). */
  tls?: TlsMaterial | null;
  /** How long callers may take (default CALLER_TIMEOUT_DEFAULTS). */
  clientTimeouts?: CallerTimeouts;
  /** Connections open at once (default 10,000); those past it are closed as accepted, and counted. */
  maxConnections?: number;
  /** Bytes of request bodies held for the policy, all requests together (default 64 MiB). */
  policyBodyBudgetBytes?: number;
  /** The most of that one caller may hold (default: defaultCallerShare of the budget). */
  policyBodyCallerShareBytes?: number;
}

export const PROXY_MAX_CONNECTIONS = 10_000;
export const POLICY_BODY_BUDGET_BYTES = 64 * 1024 * 1024;

/** What a config reload may change about callers: whom to believe about them, and how long they may take. */
export interface CallerSettings {
  trustedProxies: readonly string[];
  trustedProxyHeader: TrustedProxyHeader;
  clientTimeouts: CallerTimeouts;
}

/** Headers the gateway adds upstream, and every name it owns (callers' copies are dropped). */
interface Injected {
  headers: string[];
  reserved: ReadonlySet<string>;
}

export interface ProxyServer {
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
  readonly address: { host: string; port: number } | null;
  /**
   * Replaces the routes (config reload). Validated completely first (names, secrets, default
   * credentials): on error it throws and the running routes stay. Requests in flight finish under
   * the routes they were decided with.
   */
  updateRoutes(routes: readonly RouteConfig[]): void;
  /**
   * Swaps the certificate new connections get (a server started with TLS only), and ends the open
   * connections whose client certificate the new revocation lists name; returns how many.
   */
  useTls(tls: TlsMaterial): number;
  /**
   * Replaces the trusted proxies and client timeouts (config reload) from the next request on;
   * `head_ms` and `request_ms` hold requests under way too, from the next check of their limits.
   */
  updateCallers(settings: CallerSettings): void;
}

/** A response still streaming this long after its decision is watched like an open WebSocket. */
const LINGER_AFTER_MS = 1_000;
/** Decisions one request may get when its grants change under each (then 503: the store is in flux). */
const MAX_DECISION_ROUNDS = 3;
const PROXIED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

/**
 * The gateway's own answer. A caller that never takes it (nor the answers to the requests it
 * pipelined behind) is cut off after `untakenMs`, as one that stops taking a relayed body is:
 * otherwise its connection would be held for good, since every request on it is complete and no
 * other timer runs.
 */
function sendJson(res: ServerResponse, untakenMs: number, status: number, body: ErrorBody, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(payload), 'cache-control': 'no-store', ...extra });
  res.end(payload);
  if (res.writableFinished) return;
  const untaken = setTimeout(() => { res.destroy(); }, untakenMs);
  const taken = (): void => { clearTimeout(untaken); };
  res.once('finish', taken);
  res.once('close', taken);
}

export function createProxyServer(opts: ProxyServerOptions): ProxyServer {
  const { logger, metrics, audit } = opts;
  const env = opts.env ?? process.env;
  /** Builds (and so validates: names, secrets, default credentials) a complete routing state. */
  const buildState = (configs: readonly RouteConfig[]): RoutingState => {
    const broker = new CredentialBroker(configs, env);
    return routingState(new RouteTable(configs), broker, new SecretMasker(broker.secretValues()));
  };
  let state = buildState(opts.routes);
  const pools = new UpstreamPools(opts.upstreamConnections ?? 128);
  let timeouts = opts.clientTimeouts ?? CALLER_TIMEOUT_DEFAULTS;
  let clients = new ClientAddresses(opts.trustedProxies ?? [], opts.trustedProxyHeader);
  const connectionErrors = new ConnectionErrors();
  const budgetBytes = opts.policyBodyBudgetBytes ?? POLICY_BODY_BUDGET_BYTES;
  const bodyBudget = new BodyBudget(budgetBytes, opts.policyBodyCallerShareBytes ?? defaultCallerShare(budgetBytes), () => { metrics.policyBodyRefused(); });
  const deps: PipelineDeps = { ...opts, state: () => state, clients: () => clients, bodyReads: connectionErrors, bodyBudget };
  const decide = createPipeline(deps);

  const tls = opts.tls ?? null;

  const app: FastifyInstance = listenerFastify({
    logger: false,
    http: { maxHeaderSize: opts.maxHeaderBytes ?? 16384 },
    // The caller's X-Request-Id when short and plain (end-to-end correlation), a fresh one otherwise.
    genReqId: requestIdFor,
    exposeHeadRoutes: false,
    // fastify's own 503 while closing is `{"error":"Service Unavailable",...}`: no code, no request
    // or decision id. A request that still arrives on an open connection (pipelined behind one in
    // flight at SIGTERM) is decided and served as any other, since policy, grants and the trail stop
    // only after this listener; fastify marks its answer to close the connection.
    return503OnClosing: false,
    frameworkErrors(error, request, reply) {
      reply.hijack();
      refuse(request.raw, reply.raw, request.id, jitgateError(error.code === 'FST_ERR_BAD_URL' ? 'REQUEST_AMBIGUOUS' : 'BAD_REQUEST'));
    },
    clientErrorHandler: connectionErrors.handle,
  }, tls, timeouts, { max: opts.maxConnections ?? PROXY_MAX_CONNECTIONS, dropped: () => { metrics.connectionDropped('proxy'); } });
  // Fastify turns away, before the handler, a request whose Content-Type is not a media type
  // (`text`, `a, b`): refused here like any other request the policy never saw, ids and all.
  app.setErrorHandler<FastifyError>((error, request, reply) => {
    reply.hijack();
    const badType = error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE';
    if (!badType) logger.error({ err: toError(error), request_id: request.id }, 'unexpected data-path error');
    refuse(request.raw, reply.raw, request.id, badType ? jitgateError('BAD_REQUEST', 'the Content-Type header is not a media type') : jitgateError('INTERNAL'));
  });
  app.removeAllContentTypeParsers();
  // Leave every body unread: it is streamed to the upstream, never parsed or buffered here.
  app.addContentTypeParser('*', (_req, _payload, done) => { done(null); });

  function bodyCutOff(cause: NonNullable<GuardedBody['cutOff']>, req: IncomingMessage): JitgateError {
    if (cause === 'too_large') return jitgateError('BODY_TOO_LARGE');
    if (cause === 'stalled') return jitgateError('BODY_TIMEOUT');
    return connectionErrors.whyCutOff(req.socket);
  }

  function fail(req: IncomingMessage, res: ServerResponse, requestId: string, thrown: unknown, routeName: string | null): void {
    let err: JitgateError;
    let decisionId: string | undefined;
    if (thrown instanceof DecidedError) {
      err = thrown.error;
      decisionId = thrown.decisionId;
      routeName = thrown.routeName;
    } else if (isJitgateError(thrown)) {
      err = thrown;
    } else {
      logger.error({ err: toError(thrown), request_id: requestId }, 'unexpected data-path error');
      err = jitgateError('INTERNAL');
    }
    const extra: Record<string, string> = { 'x-request-id': requestId };
    if (decisionId) extra['x-jitgate-decision-id'] = decisionId;
    if (err.status === 401) extra['www-authenticate'] = 'Bearer realm="jitgate"';
    if (hasBody(req)) extra.connection = 'close';
    sendJson(res, timeouts.response_idle_ms, err.status, errorBody(err, requestId, decisionId ? { decision_id: decisionId } : {}), extra);
    const kind = err.status === 401 ? 'unauthenticated' : 'error';
    metrics.proxyRequest(routeName ?? '', kind, err.status);
  }

  /** Answers a request refused before the pipeline saw it, logged as such (logRefusal). */
  function refuse(req: IncomingMessage, res: ServerResponse, requestId: string, err: JitgateError, headers: Record<string, string> = {}): void {
    const decisionId = logRefusal(deps, req, err);
    const extra = { ...headers, 'x-request-id': requestId, 'x-jitgate-decision-id': decisionId };
    sendJson(res, timeouts.response_idle_ms, err.status, errorBody(err, requestId, { decision_id: decisionId }), hasBody(req) ? { ...extra, connection: 'close' } : extra);
    metrics.proxyRequest('', 'error', err.status);
  }

  /**
   * Deny (403) and allow-with-grant are audited before the caller hears anything, and so is an
   * allow on standing access that replaces a recorded allow-with-grant (proxy.allowed_standing).
   */
  async function auditOrFail(d: Decided, kind: ProxyAuditKind, requestId: string): Promise<void> {
    try {
      await audit.append(auditEntryFor(d, kind, requestId));
    } catch (err) {
      logger.error({ err: toError(err), decision_id: d.decision.decision_id, request_id: requestId }, 'audit append failed; request refused');
      logDecision(deps, d, { error_code: 'JITGATE_E_AUDIT_UNAVAILABLE' });
      throw new DecidedError(jitgateError('AUDIT_UNAVAILABLE'), d.decision.decision_id, d.route.config.name);
    }
  }

  /** The credential an allowed request goes upstream with: the policy's choice, or the route's default. */
  function credentialName(d: Decided): string | undefined {
    return d.decision.result.obligations?.credential ?? d.route.config.default_credential;
  }

  /** Credential and obligation headers for an allowed decision; a policy naming unknown ones fails closed. */
  function injected(d: Decided): Injected {
    const routeName = d.route.config.name;
    const obligations = d.decision.result.obligations;
    const broker = d.state.broker;
    const credentialHeaders = broker.reservedHeaders(routeName);
    const headers = obligationHeaders(obligations?.headers, credentialHeaders);
    const credName = credentialName(d);
    if (credName !== undefined) {
      const h = broker.header(routeName, credName);
      headers.push(h.name, h.value);
    }
    // Whatever the gateway sets, the caller's copy of it is dropped (no second value beside ours).
    let reserved = credentialHeaders;
    if (obligations?.headers) {
      const all = new Set(credentialHeaders);
      for (let i = 0; i < headers.length; i += 2) all.add(headers[i] ?? '');
      reserved = all;
    }
    return { headers, reserved };
  }

  /** How the caller reached the gateway (or the first trusted proxy in front of it). */
  function callerScheme(d: Decided): 'http' | 'https' {
    return d.client.proto ?? (tls === null ? 'http' : 'https');
  }

  /** The request headers the upstream gets: the caller's, cleaned, plus what the gateway injects. */
  function upstreamHeaders(req: IncomingMessage, d: Decided, requestId: string): string[] {
    const extra = injected(d);
    const headers = upstreamRequestHeaders(req.rawHeaders, {
      clientIp: d.client.ip,
      forwardedFor: d.client.forwardedFor,
      host: d.input.request.host,
      requestId,
      reserved: extra.reserved,
      judged: d.route.config.policy_headers,
      proto: callerScheme(d),
      upgrade: false,
      // Whenever the gateway holds a secret, not only when this request carries one: an upstream
      // may echo what it got earlier (a request log, an error page), another caller's secret included.
      plainResponses: !d.state.masker.empty,
      cookies: cookiesPass(d.route.config, credentialName(d)),
    });
    for (const h of extra.headers) headers.push(h);
    return headers;
  }

  // The ids go into each writeHead's object (no setHeader first: Node's merge path costs per request).
  // `superseded`: the previous round's decision, whose allow is on the trail; this round's record names it.
  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string, superseded?: Decided, round = 1): Promise<void> {
    let d: Decided;
    try {
      d = await decide(req, requestId, superseded);
    } catch (err) {
      // Refused before the policy decided (the token expired meanwhile, the store went): the
      // recorded allow did not go either, and the trail says so.
      if (superseded) await recordNotForwarded(deps, superseded, requestId, err instanceof DecidedError ? err.error.code : isJitgateError(err) ? err.code : ERRORS.INTERNAL.code);
      fail(req, res, requestId, err, null);
      return;
    }
    if (superseded) d.supersedes = superseded.decision.decision_id;
    const { decision, route } = d;
    const result = decision.result;
    const routeName = route.config.name;
    try {
      if (!result.allow) {
        await auditOrFail(d, 'proxy.denied', requestId);
        logDecision(deps, d, { error_code: 'JITGATE_E_FORBIDDEN' });
        const ids = { 'x-request-id': requestId, 'x-jitgate-decision-id': decision.decision_id };
        sendJson(res, timeouts.response_idle_ms, 403, denyBody(requestId, decision.decision_id, decision.revision, result.reason, result.elevation, opts.consoleUrl),
          hasBody(req) ? { ...ids, connection: 'close' } : ids);
        metrics.proxyRequest(routeName, 'deny', 403);
        return;
      }
      let headers: string[];
      try {
        headers = upstreamHeaders(req, d, requestId);
      } catch (err) {
        const refused = isJitgateError(err) ? err : jitgateError('INTERNAL');
        logDecision(deps, d, { error_code: refused.code });
        // Unrecorded otherwise: the trail would keep the allow this decision replaced.
        if (superseded) await recordNotForwarded(deps, d, requestId, refused.code);
        throw new DecidedError(refused, decision.decision_id, routeName);
      }
      if ((result.grant_ids?.length ?? 0) > 0) {
        await auditOrFail(d, 'proxy.allowed_with_grant', requestId);
        // The append may have waited behind a revoke, here or on another replica: a grant set
        // that moved meanwhile has the request decided again on what holds now.
        if (await grantsMovedAfterAudit(deps, d, requestId)) {
          if (round >= MAX_DECISION_ROUNDS) {
            throw await notForwarded(deps, d, requestId, jitgateError('STORE_UNAVAILABLE', 'the grants kept changing while the request was decided'));
          }
          logDecision(deps, d, { error_code: ERRORS.CONFLICT.code });
          await handle(req, res, requestId, d, round + 1);
          return;
        }
      } else if (superseded) {
        // Standing access is not audited, except here: the trail holds the allow this replaces.
        await auditOrFail(d, 'proxy.allowed_standing', requestId);
      }
      await forward(req, res, d, headers, requestId);
    } catch (err) {
      fail(req, res, requestId, err instanceof DecidedError || !isJitgateError(err) ? err : new DecidedError(err, decision.decision_id, routeName), routeName);
    }
  }

  async function forward(req: IncomingMessage, res: ServerResponse, d: Decided, headers: string[], requestId: string): Promise<void> {
    const route = d.route;
    const cfg = route.config;

    // What the policy read goes as read; otherwise the request streams through unread.
    const read = d.body?.upstream ?? null;
    let body: Readable | Buffer | null = null;
    let guard: GuardedBody | null = null;
    if (Buffer.isBuffer(read)) {
      body = read;
    } else if (read !== null || hasBody(req)) {
      const source: Readable = read ?? req;
      // With a valid Content-Length (checked against the limit already) Node never reads past it.
      guard = guardBody(req.headers['content-length'] !== undefined ? null : cfg.body_limit_bytes, timeouts.body_idle_ms);
      const watched = guard;
      body = source.pipe(watched.stream);
      source.on('error', (e) => { watched.sourceFailed(e); });
      connectionErrors.reading(req.socket, watched);
    }
    if (body !== null) inviteBody(req);
    const path = route.basePath + d.target.path + (d.target.rawQuery !== '' ? `?${d.target.rawQuery}` : '');
    const masker = d.state.masker;
    const decisionId = d.decision.decision_id;
    const head = (upstreamHeaders: IncomingHttpHeaders): Record<string, string | string[]> => {
      const out = callerResponseHeaders(upstreamHeaders, masker);
      // Rewritten headers are masked again: a rewrite can join what masking saw apart.
      let rewritten = false;
      if (mayRedirect(out)) {
        rebaseRedirects(out, route, callerOrigin(callerScheme(d), d.input.request.host));
        rewritten = true;
      }
      if (setCookiesForCaller(out, route, credentialName(d))) rewritten = true;
      if (rewritten) masker.maskHeaders(out);
      out['x-request-id'] = requestId;
      out['x-jitgate-decision-id'] = decisionId;
      return out;
    };
    const t0 = process.hrtime.bigint();
    let relayed: Relayed;
    // A request body still on its way up, or a response still streaming, a second after its
    // decision is decided again while it lasts (one watch for both: the first to linger starts it).
    let watch: { stop(): void } | null = null;
    const linger = (): { stop(): void } => (watch ??= watchSession({
      req, opened: d, decide, deps,
      requestId,
      close: () => { res.destroy(); },
      websocket: false,
      status: () => res.statusCode,
    }));
    const unwatch = (): void => { watch?.stop(); };
    const uploading = guard === null ? null : setTimeout(() => {
      if (!req.complete) linger();
    }, Math.max(0, d.decidedMs + LINGER_AFTER_MS - Date.now()));
    try {
      relayed = await relayUpstream(pools.for(route), {
        path,
        method: d.input.request.method,
        headers,
        body,
        headersTimeout: cfg.timeouts.headers_ms,
        bodyTimeout: cfg.timeouts.body_ms,
        reset: cfg.upstream_keep_alive === false,
      }, res, masker, head, {
        stallMs: timeouts.response_idle_ms,
        lingerAtMs: d.decidedMs + LINGER_AFTER_MS,
        linger,
        // A HEAD answer names the encoding of a body it does not send.
        maskedOnly: d.input.request.method !== 'HEAD' && !masker.empty,
        headersMs: cfg.timeouts.headers_ms,
      });
    } catch (err) {
      // The caller's side ended it (its body cut off, or the caller gone), or else the upstream failed.
      const callers = guard?.cutOff ? bodyCutOff(guard.cutOff, req) : err instanceof CallerClosed ? jitgateError('CLIENT_CLOSED') : null;
      const mapped = callers ?? upstreamError(err);
      if (callers === null) logger.warn({ upstream_error: upstreamFailure(err, masker.maskString), route: cfg.name, decision_id: decisionId, request_id: requestId }, 'upstream request failed');
      else logger.info({ code: callers.code, route: cfg.name, decision_id: decisionId, request_id: requestId }, 'the caller ended the request before the upstream answered');
      logDecision(deps, d, { error_code: mapped.code });
      throw new DecidedError(mapped, decisionId, cfg.name);
    } finally {
      guard?.stop();
      connectionErrors.doneReading(req.socket);
      // Settled: the response was relayed, cut off, or never came.
      if (uploading !== null) clearTimeout(uploading);
      unwatch();
    }
    metrics.upstreamLatency(cfg.name, Number(relayed.headersAtNs - t0) / 1e9);
    if (relayed.cutOff !== null) logger.warn({ route: cfg.name, decision_id: decisionId, request_id: requestId, reason: relayed.cutOff }, 'streaming the upstream response was cut off');
    logDecision(deps, d, { upstream_status: relayed.statusCode });
    metrics.proxyRequest(cfg.name, 'allow', relayed.statusCode);
  }

  app.route({
    method: [...PROXIED_METHODS],
    url: '*',
    handler(request, reply) {
      reply.hijack();
      // However the request ends (answered, refused, timed out, the caller gone), the bytes
      // read for its policy are no longer held: the response closes in every case.
      reply.raw.once('close', () => { bodyBudget.release(request.raw); });
      return handle(request.raw, reply.raw, request.id);
    },
  });

  // Methods outside the route's list (TRACE, PROPFIND, ...) never reach the policy or the upstream.
  app.setNotFoundHandler((request, reply) => {
    reply.hijack();
    refuse(request.raw, reply.raw, request.id, jitgateError('METHOD_NOT_ALLOWED'), { allow: PROXIED_METHODS.join(', ') });
  });
  deferContinue(app.server);
  // CONNECT would turn the gateway into a tunnel.
  app.server.on('connect', (req: IncomingMessage, socket: Socket) => {
    const requestId = uuid();
    const decisionId = logRefusal(deps, req, jitgateError('METHOD_NOT_ALLOWED'));
    socket.end(rawAnswer('405 Method Not Allowed', { error: { ...specBody('METHOD_NOT_ALLOWED', requestId).error, decision_id: decisionId } }));
  });

  app.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    void proxyUpgrade({ req, socket, head, decide, deps, pools, logger, auditOrFail, upgradeHeaders: upstreamHeaders, credentialName, consoleUrl: opts.consoleUrl });
  });

  let bound: { host: string; port: number } | null = null;
  return {
    async listen(host, port) {
      await app.listen({ host, port });
      const addr = app.server.address() as AddressInfo;
      bound = { host: addr.address, port: addr.port };
      return bound;
    },
    async close() {
      await closeDraining(app);
      await pools.close();
      bound = null;
    },
    get address() {
      return bound;
    },
    updateRoutes(configs) {
      // Built completely before the swap: an invalid set throws and the running one stays.
      state = buildState(configs);
      pools.retain(state.routes.all);
    },
    useTls(material) {
      if (tls === null) throw new Error('the proxy listener was started without TLS');
      return useTls(app, material);
    },
    updateCallers(settings) {
      // Entries that do not parse throw here, before anything is replaced.
      clients = new ClientAddresses(settings.trustedProxies, settings.trustedProxyHeader);
      timeouts = settings.clientTimeouts;
      useClientTimeouts(app, timeouts);
    },
  };
}
