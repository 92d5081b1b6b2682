// JSON Schemas of the control API. The same objects validate input (ajv), serialize output
// (fast-json-stringify drops anything not listed here, so no internal field leaks by accident)
// and are published in the OpenAPI document, so the three cannot drift apart.

import { AUDIT_LIMIT_MAX } from '../audit/index.js';

type Schema = Record<string, unknown>;

const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const time = { type: 'string', format: 'date-time' } as const;
const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;
const id = { type: 'string', minLength: 1, maxLength: 200 } as const;

const durationSchema: Schema = {
  description: 'Seconds as an integer, or a string such as "90s", "30m", "1h", "1h30m", "1d".',
  anyOf: [
    { type: 'integer', minimum: 1, maximum: 31_536_000 },
    { type: 'string', pattern: '^([0-9]+[smhd])+$|^[0-9]+$', maxLength: 32 },
  ],
};

const scopeSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  description: 'Narrows a grant: a route, HTTP methods, path globs (`*` one segment, `**` any).',
  properties: {
    route: { type: 'string', minLength: 1, maxLength: 200 },
    methods: { type: 'array', maxItems: 16, items: { type: 'string', pattern: '^[A-Z]{1,16}$' } },
    paths: { type: 'array', maxItems: 64, items: { type: 'string', pattern: '^/', maxLength: 1000 } },
  },
};

const subjectRefSchema: Schema = {
  type: 'object',
  required: ['id', 'kind', 'groups'],
  properties: { id: str, kind: { type: 'string', enum: ['user', 'service'] }, groups: { type: 'array', items: str } },
};

const approvalSchema: Schema = {
  type: 'object',
  required: ['by', 'at', 'comment'],
  properties: { by: str, at: time, comment: nullableStr },
};

const nullableScope: Schema = { anyOf: [scopeSchema, { type: 'null' }] };

const requestStatuses = ['pending', 'approved', 'denied', 'withdrawn', 'expired'] as const;

export const accessRequestSchema: Schema = {
  type: 'object',
  required: [
    'id', 'requester', 'role', 'scope', 'duration_seconds', 'reason', 'ticket', 'status', 'approvals_required',
    'approver_groups', 'break_glass', 'extends_grant_id', 'extends_grant_expires_at', 'approvals', 'created_at', 'pending_expires_at',
    'decided_at', 'decided_by', 'decision_comment', 'grant_id', 'policy_revision',
  ],
  properties: {
    id: str,
    requester: subjectRefSchema,
    role: str,
    scope: nullableScope,
    duration_seconds: { type: 'integer' },
    reason: str,
    ticket: nullableStr,
    status: { type: 'string', enum: requestStatuses },
    approvals_required: { type: 'integer' },
    approver_groups: { type: 'array', items: str },
    break_glass: { type: 'boolean' },
    extends_grant_id: nullableStr,
    extends_grant_expires_at: nullableTime,
    approvals: { type: 'array', items: approvalSchema },
    created_at: time,
    pending_expires_at: time,
    decided_at: nullableTime,
    decided_by: nullableStr,
    decision_comment: nullableStr,
    grant_id: nullableStr,
    policy_revision: str,
  },
};

export const grantSchema: Schema = {
  type: 'object',
  required: [
    'id', 'request_id', 'subject', 'role', 'scope', 'reason', 'ticket', 'approved_by', 'break_glass', 'reviewed_by',
    'reviewed_at', 'starts_at', 'expires_at', 'status', 'revoked_at', 'revoked_by', 'revoke_reason', 'extension_count',
  ],
  properties: {
    id: str,
    request_id: str,
    subject: subjectRefSchema,
    role: str,
    scope: nullableScope,
    reason: str,
    ticket: nullableStr,
    approved_by: { type: 'array', items: str },
    break_glass: { type: 'boolean' },
    reviewed_by: nullableStr,
    reviewed_at: nullableTime,
    starts_at: time,
    expires_at: time,
    status: { type: 'string', enum: ['active', 'revoked', 'expired'] },
    revoked_at: nullableTime,
    revoked_by: nullableStr,
    revoke_reason: nullableStr,
    extension_count: { type: 'integer' },
  },
};

export const whoamiSchema: Schema = {
  type: 'object',
  required: ['id', 'kind', 'groups', 'claims', 'can_read_audit'],
  properties: {
    id: str,
    kind: { type: 'string', enum: ['user', 'service'] },
    groups: { type: 'array', items: str },
    claims: { type: 'object', additionalProperties: true, description: 'Verified token claims (empty for API keys).' },
    can_read_audit: { type: 'boolean' },
  },
};

const auditRecordSchema: Schema = {
  type: 'object',
  required: [
    'seq', 'at', 'kind', 'actor', 'subject', 'request_id', 'grant_id', 'role', 'route', 'decision_id',
    'policy_revision', 'reason', 'details', 'prev_hash', 'hash',
  ],
  properties: {
    seq: { type: 'integer' },
    at: time,
    kind: str,
    actor: str,
    subject: nullableStr,
    request_id: nullableStr,
    grant_id: nullableStr,
    role: nullableStr,
    route: nullableStr,
    decision_id: nullableStr,
    policy_revision: nullableStr,
    reason: nullableStr,
    details: { type: 'object', additionalProperties: true },
    prev_hash: str,
    hash: str,
  },
};

export const errorSchema: Schema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', pattern: '^JITGATE_E_[A-Z_]+$' },
        message: str,
        details: { type: 'object', additionalProperties: true },
      },
    },
  },
  example: { error: { code: 'JITGATE_E_VALIDATION', message: "body/duration: must match pattern", details: { in: 'body', field: 'duration' } } },
};

export function pageOf(item: Schema): Schema {
  return {
    type: 'object',
    required: ['items', 'limit', 'next_cursor'],
    properties: {
      items: { type: 'array', items: item },
      limit: { type: 'integer' },
      next_cursor: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null on the last page.' },
    },
  };
}

export const healthSchema: Schema = {
  type: 'object',
  required: ['ok', 'checks'],
  properties: {
    ok: { type: 'boolean' },
    checks: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['ok'],
        properties: {
          ok: { type: 'boolean' },
          status: { type: 'string', enum: ['degraded'], description: 'Present when the check passes but is in trouble worth alerting on (a token issuer whose key refreshes fail)' },
          detail: str,
        },
      },
    },
  },
};

export const pagination = {
  // The CLI checks --limit against the same bound (LIST_LIMIT_MAX in src/cli/limit.ts; a test holds them equal).
  limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  // Only 0 is taken (a client of the offset paging asking for its first page): see admin/page.ts.
  offset: { type: 'integer', minimum: 0, maximum: 1_000_000 },
  cursor: { type: 'string', minLength: 1, maxLength: 600 },
} as const;

export const idParams: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id },
};

export const newRequestBody: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['duration', 'reason'],
  properties: {
    role: { type: 'string', minLength: 1, maxLength: 200 },
    scope: scopeSchema,
    duration: durationSchema,
    reason: { type: 'string', minLength: 1, maxLength: 2000 },
    ticket: { type: 'string', minLength: 1, maxLength: 200 },
    extends_grant_id: id,
    pending_ttl: { ...durationSchema, description: 'How long the request may wait for approvers (at most, and by default, jitgate.workflow.pending_ttl_seconds). ' + String(durationSchema.description) },
  },
  // A new request names a role; an extension takes the role and scope of the grant it extends.
  if: { not: { required: ['extends_grant_id'] } },
  then: { required: ['role'] },
  // `type` inside the `not`: a body that is no object is refused for that (by `type` above), not as an extension naming a role.
  else: { not: { type: 'object', anyOf: [{ required: ['role'] }, { required: ['scope'] }] } },
};

export const commentBody: Schema = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { comment: { type: 'string', minLength: 1, maxLength: 2000 } },
};

export const revokeBody: Schema = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 2000 } },
};

export const emptyBody: Schema = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {},
};

/**
 * The query of a route that takes none. A parameter no route reads is refused, as an unknown body
 * field is: `POST /v1/requests/{id}/approve?dry_run=true` must not approve, nor `revoke?reason=x`
 * revoke without the reason its caller meant to give.
 */
export const noQuery: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {},
};

export const requestsQuery: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: requestStatuses },
    requester: { type: 'string', minLength: 1, maxLength: 200 },
    role: { type: 'string', minLength: 1, maxLength: 200 },
    ...pagination,
  },
};

export const grantsQuery: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    subject: { type: 'string', minLength: 1, maxLength: 200 },
    active: { type: 'boolean' },
    break_glass: { type: 'boolean' },
    reviewed: { type: 'boolean' },
    ...pagination,
  },
};

export const auditQuery: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    kind: {
      type: 'string', minLength: 1, maxLength: 500, pattern: '^[a-z_]+(\\.([a-z_]+|\\*))?(,[a-z_]+(\\.([a-z_]+|\\*))?)*$',
      description: 'Comma-separated kinds or families, e.g. `grant.*,request.approved`.',
    },
    actor: { type: 'string', minLength: 1, maxLength: 200 },
    subject: { type: 'string', minLength: 1, maxLength: 200 },
    who: { type: 'string', minLength: 1, maxLength: 200, description: 'Actor or subject.' },
    role: { type: 'string', minLength: 1, maxLength: 200 },
    route: { type: 'string', minLength: 1, maxLength: 200 },
    request_id: id,
    grant_id: id,
    decision_id: id,
    http_request_id: { type: 'string', minLength: 1, maxLength: 200, description: 'The `x-request-id` of the proxied request or control API call behind the records.' },
    policy_revision: { type: 'string', minLength: 1, maxLength: 200 },
    decision: { type: 'string', enum: ['allow', 'deny'] },
    since: { type: 'string', format: 'date-time', description: 'Inclusive. Digits past the millisecond count: a record at .350 is before .3505.' },
    until: { type: 'string', format: 'date-time', description: 'Exclusive. Digits past the millisecond count: a record at .350 is before .3505.' },
    order: { type: 'string', enum: ['asc', 'desc'], default: 'asc' },
    cursor: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: '`next_cursor` of the previous page.' },
    limit: { type: 'integer', minimum: 1, maximum: AUDIT_LIMIT_MAX, default: 100 },
  },
};

export const auditPageSchema: Schema = {
  type: 'object',
  required: ['items', 'next_cursor'],
  properties: {
    items: { type: 'array', items: auditRecordSchema },
    next_cursor: { type: ['integer', 'null'], description: 'Pass as `cursor` for the next page; null on the last page.' },
  },
};
