// ajv schemas of the policy contract (contract.ts), compiled once. Inputs are checked so a
// gateway bug cannot feed a policy something it was not written for; results are checked
// because a policy is code we did not write. Extra properties are allowed in results: the
// entrypoint is the whole package document, so helper rules appear next to `allow`.
import { Ajv, type ValidateFunction } from 'ajv';
import type { AuthzInput, AuthzResult, ElevationInput, ElevationResult, LogMaskRule, PolicyGrant } from './contract.js';

const stringList = { type: 'array', items: { type: 'string' } };

const scope = {
  type: ['object', 'null'],
  properties: {
    route: { type: 'string' },
    methods: stringList,
    paths: stringList,
  },
};

const subject = {
  type: 'object',
  required: ['id', 'kind', 'groups', 'claims'],
  properties: {
    id: { type: 'string', minLength: 1 },
    kind: { enum: ['user', 'service'] },
    groups: stringList,
    claims: { type: 'object' },
  },
};

const grant = {
  type: 'object',
  required: ['id', 'role', 'scope', 'starts_at', 'expires_at', 'expires_at_ns', 'approved_by', 'reason', 'ticket', 'break_glass', 'request_id'],
  properties: {
    id: { type: 'string' },
    role: { type: 'string' },
    scope,
    starts_at: { type: 'string' },
    expires_at: { type: 'string' },
    expires_at_ns: { type: 'number' },
    approved_by: stringList,
    reason: { type: 'string' },
    ticket: { type: ['string', 'null'] },
    break_glass: { type: 'boolean' },
    request_id: { type: 'string' },
  },
};

const authzInputSchema = {
  type: 'object',
  required: ['request', 'subject', 'grants', 'route', 'now_ns'],
  properties: {
    request: {
      type: 'object',
      required: ['method', 'path', 'segments', 'query', 'headers', 'host'],
      properties: {
        method: { type: 'string', minLength: 1 },
        path: { type: 'string' },
        segments: stringList,
        query: { type: 'object', additionalProperties: stringList },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        host: { type: 'string' },
        client_ip: { type: 'string' },
        client_certificate: {
          type: 'object',
          required: ['san_uris', 'san_dns', 'fingerprint_sha256'],
          properties: { subject_cn: { type: 'string' }, san_uris: stringList, san_dns: stringList, fingerprint_sha256: { type: 'string' } },
        },
        body: {},
        body_status: { enum: ['none', 'parsed', 'too_large', 'malformed', 'unsupported'] },
      },
      // A body is only ever handed over parsed.
      if: { properties: { body: {} }, required: ['body'] },
      then: { required: ['body_status'], properties: { body_status: { const: 'parsed' } } },
    },
    subject,
    // Grants are checked on their own (validatePolicyGrants): a sealed set only once.
    grants: { type: 'array' },
    route: {
      type: 'object',
      required: ['name', 'upstream', 'credentials'],
      properties: { name: { type: 'string' }, upstream: { type: 'string' }, credentials: stringList },
    },
    now_ns: { type: 'number' },
  },
};

const elevationInputSchema = {
  type: 'object',
  required: ['action', 'request', 'actor', 'requester', 'grant', 'now_ns'],
  // Reading the audit trail is about no request, requester or grant; every other step has a request and a requester.
  if: { properties: { action: { const: 'audit_read' } } },
  then: { properties: { request: { type: 'null' }, requester: { type: 'null' }, grant: { type: 'null' } } },
  else: { properties: { request: { type: 'object' }, requester: { type: 'object' } } },
  properties: {
    action: { enum: ['request', 'approve', 'deny', 'withdraw', 'revoke', 'extend', 'review', 'view', 'audit_read'] },
    request: {
      type: ['object', 'null'],
      required: ['id', 'role', 'scope', 'duration_seconds', 'reason', 'ticket', 'status', 'requested_at', 'approvals', 'extends_grant_id', 'extension_count'],
      properties: {
        id: { type: ['string', 'null'] },
        role: { type: 'string' },
        scope,
        duration_seconds: { type: 'number' },
        reason: { type: 'string' },
        ticket: { type: ['string', 'null'] },
        status: { type: 'string' },
        requested_at: { type: ['string', 'null'] },
        approvals: {
          type: 'array',
          items: { type: 'object', required: ['by', 'at'], properties: { by: { type: 'string' }, at: { type: 'string' } } },
        },
        extends_grant_id: { type: ['string', 'null'] },
        extension_count: { type: 'integer', minimum: 0 },
      },
    },
    actor: subject,
    requester: { anyOf: [{ type: 'null' }, subject] },
    grant: { anyOf: [{ type: 'null' }, grant] },
    now_ns: { type: 'number' },
  },
};

const authzResultSchema = {
  type: 'object',
  required: ['allow'],
  properties: {
    allow: { type: 'boolean' },
    reason: { type: 'string' },
    elevation: {
      type: 'object',
      required: ['role'],
      properties: { role: { type: 'string' }, max_duration_seconds: { type: 'number', minimum: 0 }, scope, require_ticket: { type: 'boolean' } },
    },
    obligations: {
      type: 'object',
      properties: {
        credential: { type: 'string' },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    grant_ids: stringList,
  },
};

const elevationResultSchema = {
  type: 'object',
  required: ['allow'],
  properties: {
    allow: { type: 'boolean' },
    reason: { type: 'string' },
    max_duration_seconds: { type: 'number', minimum: 0 },
    approvals_required: { type: 'integer', minimum: 0 },
    approver_groups: stringList,
    auto_approve: { type: 'boolean' },
    break_glass: { type: 'boolean' },
    require_reason: { type: 'boolean' },
    require_ticket: { type: 'boolean' },
    step_up: { type: 'boolean' },
    max_extensions: { type: 'integer', minimum: 0 },
    requester_eligible: { type: 'boolean' },
    request_within_settings: { type: 'boolean' },
  },
};

// One instance, no coercion or defaults: a validator must never rewrite what it checks.
const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });

/** Pointers into the event that OPA lets a mask rule touch: under /input or /result. */
const eventPointer = { type: 'string', pattern: '^/(input|result)(/.*)?$' };

const logMaskSchema = {
  type: 'array',
  items: {
    oneOf: [
      eventPointer,
      {
        type: 'object',
        required: ['op', 'path'],
        additionalProperties: false,
        properties: { op: { const: 'remove' }, path: eventPointer },
      },
      {
        type: 'object',
        required: ['op', 'path', 'value'],
        additionalProperties: false,
        properties: { op: { const: 'upsert' }, path: eventPointer, value: {} },
      },
    ],
  },
};

/** The authz input without looking into its grants; validatePolicyGrants checks those. */
export const validateAuthzInput: ValidateFunction<AuthzInput> = ajv.compile<AuthzInput>(authzInputSchema);
export const validatePolicyGrants: ValidateFunction<PolicyGrant[]> = ajv.compile<PolicyGrant[]>({ type: 'array', items: grant });
export const validateLogMask: ValidateFunction<LogMaskRule[]> = ajv.compile<LogMaskRule[]>(logMaskSchema);
export const validateElevationInput: ValidateFunction<ElevationInput> = ajv.compile<ElevationInput>(elevationInputSchema);
export const validateAuthzResult: ValidateFunction<AuthzResult> = ajv.compile<AuthzResult>(authzResultSchema);
export const validateElevationResult: ValidateFunction<ElevationResult> = ajv.compile<ElevationResult>(elevationResultSchema);

/** One readable line from ajv's errors. */
export function describeErrors(validate: ValidateFunction): string {
  const first = validate.errors?.[0];
  if (!first) return 'invalid';
  return `${first.instancePath || '/'} ${first.message ?? 'is invalid'}`;
}
