// The one catalogue of jitgate error codes (as fastify keeps lib/errors.js).
// Codes are stable API: clients, scripts and auditors match on them, so a code is
// never renamed or reused; add new ones instead. Each part of the gateway adds its
// codes in its own block below.

export interface ErrorSpec {
  readonly code: string;
  readonly status: number;
  readonly message: string;
}

function spec(code: string, status: number, message: string): ErrorSpec {
  return { code: `JITGATE_E_${code}`, status, message };
}

export const ERRORS = {
  // generic
  INTERNAL: spec('INTERNAL', 500, 'Internal error'),
  BAD_REQUEST: spec('BAD_REQUEST', 400, 'The request is malformed'),
  VALIDATION: spec('VALIDATION', 400, 'The request failed validation'),
  NOT_FOUND: spec('NOT_FOUND', 404, 'Not found'),

  // config
  CONFIG_INVALID: spec('CONFIG_INVALID', 500, 'The configuration is invalid'),
  CONFIG_READ: spec('CONFIG_READ', 500, 'The configuration file cannot be read'),
  SECRET_MISSING: spec('SECRET_MISSING', 500, 'An upstream credential is not available'),

  // policy toolchain and engine
  OPA_NOT_FOUND: spec('OPA_NOT_FOUND', 500, 'The opa binary was not found'),
  POLICY_COMPILE: spec('POLICY_COMPILE', 500, 'The policies failed to compile'),
  BUNDLE_INVALID: spec('BUNDLE_INVALID', 500, 'The policy bundle is invalid'),
  POLICY_NOT_LOADED: spec('POLICY_NOT_LOADED', 503, 'No policy is loaded'),
  POLICY_EVAL: spec('POLICY_EVAL', 503, 'The policy failed to evaluate'),
  POLICY_UNDEFINED: spec('POLICY_UNDEFINED', 503, 'The policy returned no decision'),
  POLICY_RESULT_INVALID: spec('POLICY_RESULT_INVALID', 503, 'The policy returned a malformed decision'),
  POLICY_INPUT_INVALID: spec('POLICY_INPUT_INVALID', 503, 'The policy input is malformed'),

  // identity
  UNAUTHENTICATED: spec('UNAUTHENTICATED', 401, 'Authentication is required'),
  TOKEN_INVALID: spec('TOKEN_INVALID', 401, 'The token is invalid'),
  TOKEN_EXPIRED: spec('TOKEN_EXPIRED', 401, 'The token has expired'),
  API_KEY_INVALID: spec('API_KEY_INVALID', 401, 'The API key is invalid'),
  IDENTITY_AMBIGUOUS: spec('IDENTITY_AMBIGUOUS', 401, 'More than one credential was presented'),
  // The gateway's trouble, not the caller's: its issuer's keys never loaded. A 401 would tell a
  // client to drop a good token; a 503 tells it (and a load balancer) to try again or elsewhere.
  KEYS_UNAVAILABLE: spec('KEYS_UNAVAILABLE', 503, 'The gateway has no keys to verify this token with now'),

  // data path
  FORBIDDEN: spec('FORBIDDEN', 403, 'The policy denied this request'),
  NO_ROUTE: spec('NO_ROUTE', 404, 'No route matches this request'),
  REQUEST_AMBIGUOUS: spec('REQUEST_AMBIGUOUS', 400, 'The request target is ambiguous and was refused'),
  METHOD_OVERRIDE: spec('METHOD_OVERRIDE', 400, 'Method override headers are not accepted'),
  PATH_OVERRIDE: spec('PATH_OVERRIDE', 400, 'Path override headers are not accepted'),
  HEADERS_TOO_LARGE: spec('HEADERS_TOO_LARGE', 431, 'The request headers are too large'),
  BODY_TOO_LARGE: spec('BODY_TOO_LARGE', 413, 'The request body is too large'),
  BODY_AMBIGUOUS: spec('BODY_AMBIGUOUS', 400, 'The request body could be read more than one way and was refused'),
  BODY_TIMEOUT: spec('BODY_TIMEOUT', 408, 'The request body did not arrive in time'),
  // The gateway's load, not the caller's body: the bodies held for the policy fill their budget.
  POLICY_BODY_BUSY: spec('POLICY_BODY_BUSY', 503, 'The gateway holds as many request bodies for its policy as it may now; try again shortly'),
  REQUEST_TIMEOUT: spec('REQUEST_TIMEOUT', 408, 'The request did not arrive in time'),
  UPGRADE_REFUSED: spec('UPGRADE_REFUSED', 400, 'Protocol upgrade is not allowed on this route'),
  UPSTREAM_UNAVAILABLE: spec('UPSTREAM_UNAVAILABLE', 502, 'The upstream could not be reached'),
  UPSTREAM_TIMEOUT: spec('UPSTREAM_TIMEOUT', 504, 'The upstream did not answer in time'),
  UPSTREAM_ENCODED: spec('UPSTREAM_ENCODED', 502, 'The upstream answered compressed in a way the gateway cannot decode to check it for its credential'),
  STORE_UNAVAILABLE: spec('STORE_UNAVAILABLE', 503, 'The grant store is unavailable'),
  STORE_IN_USE: spec('STORE_IN_USE', 500, 'The SQLite store is served by another gateway process'),
  AUDIT_UNAVAILABLE: spec('AUDIT_UNAVAILABLE', 503, 'The audit trail could not be written'),
  CREDENTIAL_UNKNOWN: spec('CREDENTIAL_UNKNOWN', 503, 'The policy chose an upstream credential this route does not have'),
  METHOD_NOT_ALLOWED: spec('METHOD_NOT_ALLOWED', 405, 'The gateway does not proxy this method'),
  // Nobody hears it: it says, in the decision log and the metrics, why an allowed request got no answer.
  CLIENT_CLOSED: spec('CLIENT_CLOSED', 499, 'The caller closed the connection before the answer came'),

  // workflow
  ELEVATION_DENIED: spec('ELEVATION_DENIED', 403, 'The elevation policy refused this action'),
  SELF_APPROVAL: spec('SELF_APPROVAL', 403, 'A requester cannot approve or deny their own request'),
  ALREADY_APPROVED: spec('ALREADY_APPROVED', 409, 'This approver has already approved the request'),
  REQUEST_NOT_PENDING: spec('REQUEST_NOT_PENDING', 409, 'The request is no longer pending'),
  GRANT_NOT_ACTIVE: spec('GRANT_NOT_ACTIVE', 409, 'The grant is not active'),
  // The approver may decide, the request is stale: its grant would open nothing on the data path.
  REQUESTER_NOT_ELIGIBLE: spec('REQUESTER_NOT_ELIGIBLE', 409, 'The requester is no longer eligible for the role: the request cannot be approved'),
  // As REQUESTER_NOT_ELIGIBLE, for what the request carries: the role's settings tightened since it was made.
  REQUEST_OUTSIDE_SETTINGS: spec('REQUEST_OUTSIDE_SETTINGS', 409, 'The request no longer meets the role\'s settings in the policy in force: it cannot be approved'),
  REASON_REQUIRED: spec('REASON_REQUIRED', 400, 'A reason is required'),
  TICKET_REQUIRED: spec('TICKET_REQUIRED', 400, 'A ticket reference is required'),
  DURATION_TOO_LONG: spec('DURATION_TOO_LONG', 400, 'The requested duration exceeds the maximum'),
  CONFLICT: spec('CONFLICT', 409, 'The change conflicts with a concurrent change'),
  TOO_MANY_OPEN: spec('TOO_MANY_OPEN', 409, 'The requester has too many pending requests and active grants'),

  // control API
  AUDIT_READ_DENIED: spec('AUDIT_READ_DENIED', 403, 'Reading the audit trail is not allowed for this subject'),
  CROSS_SITE: spec('CROSS_SITE', 403, 'A change sent by a browser from another site is not accepted'),

  // audit
} as const satisfies Record<string, ErrorSpec>;

export type ErrorName = keyof typeof ERRORS;

/** An error that carries a stable code and HTTP status; safe to show to clients. */
export class JitgateError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(errorSpec: ErrorSpec, detail?: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(detail ? `${errorSpec.message}: ${detail}` : errorSpec.message, options);
    this.name = 'JitgateError';
    this.code = errorSpec.code;
    this.status = errorSpec.status;
    this.details = details;
  }
}

export function jitgateError(
  name: ErrorName,
  detail?: string,
  details?: Record<string, unknown>,
  cause?: unknown,
): JitgateError {
  return new JitgateError(ERRORS[name], detail, details, cause === undefined ? undefined : { cause });
}

export function isJitgateError(value: unknown, name?: ErrorName): value is JitgateError {
  return value instanceof JitgateError && (name === undefined || value.code === ERRORS[name].code);
}

/**
 * Third-party code (notably the opa-wasm SDK) throws strings and plain objects.
 * Normalise anything thrown into an Error with a readable message.
 */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'string') return new Error(thrown);
  if (thrown !== null && typeof thrown === 'object' && 'message' in thrown && typeof thrown.message === 'string') {
    return new Error(thrown.message);
  }
  try {
    return new Error(JSON.stringify(thrown));
  } catch {
    return new Error(String(thrown));
  }
}
