// Request ids for fastify's logger: one id per request on every log line, taken from
// an incoming X-Request-Id only when it is short and plain, so a caller cannot inject
// text into the logs; otherwise a fresh one.
import type { IncomingMessage } from 'node:http';
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import { uuid } from '../uuid.js';
import { loggedUrl } from './logged-url.js';

export const REQUEST_ID_HEADER = 'x-request-id';
const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(req: Pick<IncomingMessage, 'headers'>): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && ACCEPTABLE_ID.test(given) ? given : uuid();
}

/** What fastify's request lines read of a request. */
interface LoggedRequest {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number } | null;
}

/**
 * A request as its log lines show it: fastify's own fields, with the URL as loggedUrl() shows it
 * (its query's values left out, cut to 1 KiB), where fastify's serializer logs it whole.
 */
function serializeRequest(req: LoggedRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? loggedUrl(req.url) : undefined,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** Fastify's request lines, with its "route not found" line's URL shown as the others'. */
class RequestLines extends LogController {
  override routeNotFound(request: FastifyRequest, _reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    request.log.info(`Route ${String(request.raw.method)}:${loggedUrl(request.raw.url ?? '')} not found`);
  }
}

/** Spread into fastify's options: `fastify({ ...requestLogging(logger) })`. */
export function requestLogging(logger: FastifyBaseLogger): {
  loggerInstance: FastifyBaseLogger;
  genReqId: (req: IncomingMessage) => string;
  logController: LogController;
} {
  // requestIdHeader is left off: genReqId does the validated read of X-Request-Id itself.
  // The label through a LogController: fastify 5.12 deprecates the top-level option (FSTDEP024).
  // The child's `req` serializer replaces fastify's (its logger's own serializers win).
  return {
    loggerInstance: logger.child({}, { serializers: { req: serializeRequest } }),
    genReqId: requestId,
    logController: new RequestLines({ requestIdLogLabel: 'request_id' }),
  };
}
