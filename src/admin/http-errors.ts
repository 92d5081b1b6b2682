// Every error leaves the control API as { error: { code, message, details? } } with the
// code's HTTP status. Unknown errors become INTERNAL without their message: internals
// (SQL, stack traces, paths) are for the log, not for the caller.
import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { ERRORS, JitgateError, isJitgateError, jitgateError } from '../errors.js';
import { REQUEST_ID_HEADER } from '../observability/index.js';

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export function errorBody(err: JitgateError): ErrorBody {
  return { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } };
}

/** fastify's schemaErrorFormatter: names the field and says why, as a JitgateError. */
export function validationError(errors: FastifySchemaValidationError[], part: string): JitgateError {
  // anyOf reports each branch's failure first; the anyOf itself says what was meant.
  const first = errors.find((e) => e.keyword === 'anyOf') ?? errors[0];
  if (!first) return jitgateError('VALIDATION', `${part} is invalid`, { in: part });
  let field = first.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const { missingProperty, additionalProperty } = first.params as { missingProperty?: string; additionalProperty?: string };
  let why = first.message ?? 'is invalid';
  if (first.keyword === 'required' && missingProperty) {
    field = field ? `${field}.${missingProperty}` : missingProperty;
    why = 'is required';
  } else if (first.keyword === 'additionalProperties' && additionalProperty) {
    field = field ? `${field}.${additionalProperty}` : additionalProperty;
    why = 'is not a known field';
  } else if (first.keyword === 'not' && part === 'body' && field === '') {
    field = 'role';
    why = 'and scope cannot be given with extends_grant_id (an extension keeps the grant\'s role and scope)';
  } else if (first.keyword === 'anyOf') {
    why = field.endsWith('duration')
      ? 'must be seconds (an integer) or a duration such as 30m, 1h or 1h30m'
      : 'is not of an accepted form';
  }
  const where = field ? `${part}.${field}` : part;
  return jitgateError('VALIDATION', `${where} ${why}`, { in: part, field: field || null, keyword: first.keyword });
}

// fastify's own client errors (bad JSON, wrong content type, too large) keep their status.
function fromFastify(err: FastifyError): JitgateError | null {
  const status = err.statusCode ?? 500;
  if (status === 413) return new JitgateError(ERRORS.BODY_TOO_LARGE);
  if (status === 415) return jitgateError('BAD_REQUEST', 'content-type must be application/json');
  if (status >= 400 && status < 500) return jitgateError('BAD_REQUEST', err.message);
  return null;
}

export function handleError(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  let known: JitgateError;
  if (isJitgateError(err)) {
    known = err;
  } else {
    const mapped = typeof err === 'object' && err !== null && 'statusCode' in err ? fromFastify(err as FastifyError) : null;
    if (mapped) known = mapped;
    else {
      request.log.error({ err }, 'control API: unexpected error');
      known = jitgateError('INTERNAL');
    }
  }
  // The cause (a driver's message, say) is for the log only: it can name tables, files or hosts.
  if (known.status >= 500) request.log.warn({ code: known.code, error: known.message, ...(known.cause === undefined ? {} : { err: known.cause }) }, 'control API: server-side error');
  // Also here: the router's own refusals (frameworkErrors) never reach the onRequest hook that sets it.
  void reply.code(known.status).type('application/json').header(REQUEST_ID_HEADER, request.id).send(errorBody(known));
}
