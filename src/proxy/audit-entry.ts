// A proxied request's record in the audit trail: who, under which grants and policy revision,
// and what was asked of the upstream: method, path, query and, where the policy read it, the
// body. The trail is the record that outlives the decision log (hash-chained, never rotated),
// so "what did alice do with her writer grant" must be answerable from it alone.
import { createHash } from 'node:crypto';
import type { AuditEntry } from '../audit/index.js';
import type { PolicyGrant } from '../policy/index.js';
import type { Decided } from './pipeline.js';

/** A judged body larger than this (as JSON) is recorded by its hash and size only. */
const BODY_RECORDED_MAX = 4096;

/** The role of each grant a decision rests on, by id (ids the input does not hold are left out). */
function grantRoles(d: Decided, grantIds: readonly string[]): Record<string, string> {
  const roles: Record<string, string> = {};
  for (const id of grantIds) {
    const grant = d.input.grants.find((g) => g.id === id);
    if (grant) roles[id] = grant.role;
  }
  return roles;
}

/**
 * The query and the body the policy judged. A body is recorded by its SHA-256 and size (to be
 * matched against the upstream's own logs), and on an allowed request its parsed value too when
 * small: a refund of 5 and one of 9999 differ only there. A denied one keeps the hash only, so
 * a flood of refused requests cannot grow the trail by their bodies.
 */
function whatWasAsked(d: Decided, allowed: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const query = d.input.request.query;
  if (Object.keys(query).length > 0) out.query = query;
  const bytes = d.body?.upstream;
  if (Buffer.isBuffer(bytes)) {
    out.body_sha256 = createHash('sha256').update(bytes).digest('hex');
    out.body_bytes = bytes.length;
    const value = d.input.request.body;
    if (allowed && value !== undefined && JSON.stringify(value).length <= BODY_RECORDED_MAX) out.body = value;
  }
  return out;
}

/** The trail's kinds for a proxied request. */
export type ProxyAuditKind = 'proxy.denied' | 'proxy.allowed_with_grant' | 'proxy.allowed_standing' | 'proxy.not_forwarded';

/**
 * What a record says beyond the decision. `session`: the request was decided again while its
 * WebSocket or response was open, and is still allowed under grants not recorded for it yet
 * (`rechecked`), or is ended by this deny (`closed`). `error_code`: why a proxy.not_forwarded
 * request did not go.
 */
export interface EntryMarks {
  session?: 'rechecked' | 'closed';
  error_code?: string;
}

const NO_MARKS: EntryMarks = Object.freeze({});

/**
 * The trail's record of a decision. One that replaces a decision whose allow is already on the
 * trail (d.supersedes) names it, whatever it decided: no record of that allow stands unanswered.
 */
export function auditEntryFor(d: Decided, kind: ProxyAuditKind, requestId: string, marks: EntryMarks = NO_MARKS): AuditEntry {
  const result = d.decision.result;
  const grantIds = result.grant_ids ?? [];
  const firstGrant: PolicyGrant | undefined = d.input.grants.find((g) => g.id === grantIds[0]);
  const details: Record<string, unknown> = {
    method: d.input.request.method,
    path: d.input.request.path,
    ...whatWasAsked(d, kind === 'proxy.allowed_with_grant' || kind === 'proxy.allowed_standing'),
    client_ip: d.client.ip,
    http_request_id: requestId,
    ...(grantIds.length > 0 ? { grant_ids: grantIds, grant_roles: grantRoles(d, grantIds) } : {}),
  };
  if (marks.session !== undefined) details.session = marks.session;
  if (d.supersedes !== undefined) details.supersedes = d.supersedes;
  if (marks.error_code !== undefined) details.error_code = marks.error_code;
  return {
    kind,
    actor: d.subject.id,
    subject: d.subject.id,
    request_id: null,
    grant_id: grantIds[0] ?? null,
    role: kind === 'proxy.denied' ? (result.elevation?.role ?? null) : (firstGrant?.role ?? null),
    route: d.route.config.name,
    decision_id: d.decision.decision_id,
    policy_revision: d.decision.revision,
    reason: result.reason ?? null,
    details,
  };
}
