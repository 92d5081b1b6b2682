// Request ids for fastify's logger: one id per request on every log line, taken from
// an incoming X-Request-Id only when it is short and plain, so a caller cannot inject
// text into the logs; otherwise a fresh one.
import type { IncomingMessage } from 'node:http';
import { LogController, type FastifyBaseLogger } from 'fastify';
import { uuid } from '../uuid.js';

export const REQUEST_ID_HEADER = 'x-request-id';
const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(req: Pick<IncomingMessage, 'headers'>): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && ACCEPTABLE_ID.test(given) ? given : uuid();
}

/** Spread into fastify's options: `fastify({ ...requestLogging(logger) })`. */
export function requestLogging<L extends FastifyBaseLogger>(logger: L): {
  loggerInstance: L;
  genReqId: (req: IncomingMessage) => string;
  logController: LogController;
} {
  // requestIdHeader is left off: genReqId does the validated read of X-Request-Id itself.
  // The label through a LogController: fastify 5.12 deprecates the top-level option (FSTDEP024).
  return { loggerInstance: logger, genReqId: requestId, logController: new LogController({ requestIdLogLabel: 'request_id' }) };
}
