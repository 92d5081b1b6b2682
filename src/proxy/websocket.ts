// WebSocket upgrades: decided exactly like plain requests, then refused unless the route allows
// WebSockets; an allowed upgrade is opened upstream with undici and the two sockets are joined.
// Frames after the handshake are not judged (the decision covers the handshake request), only masked
// for the gateway's secrets on their way back (websocket-mask.ts), and the handshake is decided again
// for as long as the socket is open (session-watch.ts).
import { requestId as requestIdOf } from '../observability/index.js';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { errors as undiciErrors } from 'undici';
import type { Logger } from 'pino';
import { isJitgateError, jitgateError, type JitgateError, toError } from '../errors.js';
import { setCookiesForCaller } from './cookies.js';
import { callerResponseHeaders } from './headers.js';
import { DecidedError, grantsMovedAfterAudit, logDecision, notForwarded, type Decide, type Decided, type PipelineDeps } from './pipeline.js';
import { CallerClosed } from './relay.js';
import { denyBody, errorBody, type ErrorBody } from './respond.js';
import { upstreamError, type UpstreamPools } from './upstream.js';
import { watchSession } from './session-watch.js';
import { FrameMasker } from './websocket-mask.js';

export interface UpgradeContext {
  req: IncomingMessage;
  socket: Socket;
  head: Buffer;
  decide: Decide;
  deps: PipelineDeps;
  pools: UpstreamPools;
  logger: Logger;
  auditOrFail: (d: Decided, kind: 'proxy.denied' | 'proxy.allowed_with_grant', requestId: string) => Promise<void>;
  /**
   * The cleaned caller headers plus the injected credential, and whether one was injected; throws
   * (fail closed) on an unknown credential.
   */
  upgradeHeaders: (req: IncomingMessage, d: Decided, requestId: string) => string[];
  /** The credential the gateway injects for `d`, if any. */
  credentialName: (d: Decided) => string | undefined;
  /** Where the console is reached, for the 403 hint's link. */
  consoleUrl: string | undefined;
}

/** What a caller may send while its upgrade waits for the upstream (clients should send nothing). */
const MAX_EARLY_BYTES = 64 * 1024;

const REASONS: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 413: 'Payload Too Large', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout', 500: 'Internal Server Error' };

function writeJson(socket: Socket, status: number, body: ErrorBody, headers: Record<string, string>): void {
  const payload = JSON.stringify(body);
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(payload)}\r\nconnection: close\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  socket.end(`${head}\r\n${payload}`);
}

function refuse(socket: Socket, thrown: unknown, requestId: string, logger: Logger): void {
  let err: JitgateError;
  let decisionId: string | undefined;
  if (thrown instanceof DecidedError) {
    err = thrown.error;
    decisionId = thrown.decisionId;
  } else if (isJitgateError(thrown)) {
    err = thrown;
  } else {
    logger.error({ err: toError(thrown), request_id: requestId }, 'unexpected error during upgrade');
    err = jitgateError('INTERNAL');
  }
  const headers: Record<string, string> = { 'x-request-id': requestId };
  if (decisionId) headers['x-jitgate-decision-id'] = decisionId;
  if (err.status === 401) headers['www-authenticate'] = 'Bearer realm="jitgate"';
  writeJson(socket, err.status, errorBody(err, requestId, decisionId ? { decision_id: decisionId } : {}), headers);
}

export async function proxyUpgrade(ctx: UpgradeContext): Promise<void> {
  const { req, socket, head, logger, deps } = ctx;
  const requestId = requestIdOf(req);
  socket.on('error', () => { socket.destroy(); });
  let d: Decided;
  try {
    d = await ctx.decide(req, requestId);
  } catch (err) {
    refuse(socket, err, requestId, logger);
    return;
  }
  const id = d.decision.decision_id;
  const routeName = d.route.config.name;
  try {
    const result = d.decision.result;
    if (!result.allow) {
      await ctx.auditOrFail(d, 'proxy.denied', requestId);
      logDecision(deps, d, { error_code: 'JITGATE_E_FORBIDDEN' });
      writeJson(socket, 403, denyBody(requestId, id, d.decision.revision, result.reason, result.elevation, ctx.consoleUrl), { 'x-request-id': requestId, 'x-jitgate-decision-id': id });
      deps.metrics.proxyRequest(routeName, 'deny', 403);
      return;
    }
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (!d.route.config.websocket || upgrade !== 'websocket' || req.method !== 'GET') {
      logDecision(deps, d, { error_code: 'JITGATE_E_UPGRADE_REFUSED' });
      throw new DecidedError(jitgateError('UPGRADE_REFUSED'), id, routeName);
    }
    let headers: string[];
    try {
      headers = ctx.upgradeHeaders(req, d, requestId);
    } catch (err) {
      // Allowed, yet it cannot go (a credential the route lacks, an obligation refused): the
      // answer names this decision, so the log must hold it, as on the HTTP path.
      logDecision(deps, d, { error_code: isJitgateError(err) ? err.code : 'JITGATE_E_INTERNAL' });
      throw new DecidedError(isJitgateError(err) ? err : jitgateError('INTERNAL'), id, routeName);
    }
    if ((result.grant_ids?.length ?? 0) > 0) {
      await ctx.auditOrFail(d, 'proxy.allowed_with_grant', requestId);
      // As on the HTTP path: the append may have waited behind a revoke that has returned. The
      // upgrade is refused then (the caller may retry), never opened on a grant that ended, and
      // the trail says its allow did not go.
      if (await grantsMovedAfterAudit(deps, d, requestId)) {
        throw await notForwarded(deps, d, requestId, jitgateError('STORE_UNAVAILABLE', 'the grants changed while the upgrade was decided; retry'));
      }
    }
    let up;
    // The upstream's answer is waited for as long as a response's head (undici's upgrade takes no
    // headersTimeout), and not at all once the caller is gone: neither holds a pool connection.
    // A caller that hangs up is only seen by reading its socket (Node leaves it paused), so what
    // it sends meanwhile is kept for the upstream, within a bound.
    const waiting = new AbortController();
    const onCallerClose = (): void => { waiting.abort(new CallerClosed()); };
    const early: Buffer[] = [];
    let earlyBytes = 0;
    const onEarly = (chunk: Buffer): void => {
      earlyBytes += chunk.length;
      if (earlyBytes > MAX_EARLY_BYTES) socket.destroy();
      else early.push(chunk);
    };
    socket.on('data', onEarly);
    socket.once('end', onCallerClose);
    socket.once('close', onCallerClose);
    const stopWaiting = (): void => {
      clearTimeout(answerDue);
      socket.pause();
      socket.off('data', onEarly);
      socket.off('end', onCallerClose);
      socket.off('close', onCallerClose);
    };
    const answerDue = setTimeout(() => { waiting.abort(new undiciErrors.HeadersTimeoutError()); }, d.route.config.timeouts.headers_ms);
    try {
      up = await ctx.pools.for(d.route).upgrade({
        path: d.route.basePath + d.target.path + (d.target.rawQuery !== '' ? `?${d.target.rawQuery}` : ''),
        method: 'GET',
        headers,
        protocol: 'websocket',
        signal: waiting.signal,
      });
    } catch (err) {
      stopWaiting();
      const mapped = waiting.signal.reason instanceof CallerClosed ? jitgateError('CLIENT_CLOSED') : upstreamError(err);
      logDecision(deps, d, { error_code: mapped.code });
      throw new DecidedError(mapped, id, routeName);
    }
    stopWaiting();
    let response = 'HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\n';
    const upHeaders = callerResponseHeaders(up.headers, d.state.masker);
    // Cookies set with the upgrade are treated as any response's are.
    if (setCookiesForCaller(upHeaders, d.route, ctx.credentialName(d))) d.state.masker.maskHeaders(upHeaders);
    for (const [k, v] of Object.entries(upHeaders)) {
      for (const value of Array.isArray(v) ? v : [v]) response += `${k}: ${value}\r\n`;
    }
    response += `x-request-id: ${requestId}\r\nx-jitgate-decision-id: ${id}\r\n\r\n`;
    socket.write(response);
    if (head.length > 0) up.socket.write(head);
    for (const chunk of early) up.socket.write(chunk);
    up.socket.on('error', () => { socket.destroy(); });
    const session = watchSession({
      req, opened: d, decide: ctx.decide, deps,
      requestId,
      close: () => { socket.destroy(); up.socket.destroy(); },
      websocket: true,
      status: () => 101,
    });
    socket.on('close', () => { session.stop(); up.socket.destroy(); });
    up.socket.on('close', () => socket.destroy());
    socket.pipe(up.socket);
    const masker = d.state.masker;
    if (!masker.empty) {
      const frames = new FrameMasker(masker);
      frames.on('error', (err) => {
        logger.warn({ err: toError(err), route: routeName, decision_id: id, request_id: requestId }, 'WebSocket closed: a frame from the upstream could not be checked for secrets');
        socket.destroy();
        up.socket.destroy();
      });
      up.socket.pipe(frames).pipe(socket);
    } else {
      up.socket.pipe(socket);
    }
    logDecision(deps, d, { upstream_status: 101 });
    deps.metrics.proxyRequest(routeName, 'allow', 101);
  } catch (err) {
    refuse(socket, err instanceof DecidedError || !isJitgateError(err) ? err : new DecidedError(err, id, routeName), requestId, logger);
    deps.metrics.proxyRequest(routeName, 'error', isJitgateError(err) ? err.status : err instanceof DecidedError ? err.error.status : 500);
  }
}
