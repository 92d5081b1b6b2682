// The one place that knows the column layout of requests, approvals and grants.
import type { GrantScope, SubjectKind } from '../policy/index.js';
import type { Row } from '../store/index.js';
import type { AccessRequest, Approval, Grant, GrantStatus, RequestStatus, SubjectRef } from './model.js';

export const REQUEST_COLUMNS = [
  'id', 'requester_id', 'requester', 'role', 'scope', 'duration_seconds', 'reason', 'ticket', 'status',
  'approvals_required', 'approver_groups', 'break_glass', 'extends_grant_id', 'created_at', 'pending_expires_at',
  'decided_at', 'decided_by', 'decision_comment', 'grant_id', 'policy_revision',
] as const;

export const GRANT_COLUMNS = [
  'id', 'request_id', 'subject_id', 'subject', 'role', 'scope', 'reason', 'ticket', 'approved_by', 'break_glass',
  'reviewed_by', 'reviewed_at', 'starts_at', 'expires_at', 'status', 'revoked_at', 'revoked_by', 'revoke_reason',
  'expired_recorded_at', 'extension_count', 'extends_grant_id',
] as const;

function str(v: unknown): string {
  return typeof v === 'string' ? v : String(v);
}

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : str(v);
}

/**
 * A stored row whose JSON does not parse (edited by hand, or damaged): it can only be left out.
 * What reads rows tells it from a store that cannot be reached, which is another failure.
 */
export class UnreadableRowError extends Error {
  constructor(readonly rowId: string, cause: unknown) {
    super(`row ${rowId} cannot be read: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'UnreadableRowError';
  }
}

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the stored JSON's type
function json<T>(v: unknown): T {
  return JSON.parse(str(v)) as T;
}

/** `read(row)`, or UnreadableRowError naming the row when its stored JSON does not parse. */
export function readRow<T>(row: Row, read: (row: Row) => T): T {
  try {
    return read(row);
  } catch (err) {
    throw new UnreadableRowError(str(row.id), err);
  }
}

/** The kind in a stored subject's JSON; a row naming no known kind cannot be read (its grant is not honoured). */
export function subjectKindOf(v: unknown): SubjectKind {
  const kind = json<Partial<SubjectRef>>(v).kind;
  if (kind !== 'user' && kind !== 'service') throw new Error(`the subject's kind is ${JSON.stringify(kind)}`);
  return kind;
}

function scopeOf(v: unknown): GrantScope | null {
  return v === null || v === undefined ? null : json<GrantScope>(v);
}

export function requestFromRow(row: Row, approvals: Approval[]): AccessRequest {
  return {
    id: str(row.id),
    requester: json<SubjectRef>(row.requester),
    role: str(row.role),
    scope: scopeOf(row.scope),
    duration_seconds: Number(row.duration_seconds),
    reason: str(row.reason),
    ticket: strOrNull(row.ticket),
    status: str(row.status) as RequestStatus,
    approvals_required: Number(row.approvals_required),
    approver_groups: json<string[]>(row.approver_groups),
    break_glass: Number(row.break_glass) === 1,
    extends_grant_id: strOrNull(row.extends_grant_id),
    extends_grant_expires_at: strOrNull(row.extends_grant_expires_at),
    approvals,
    created_at: str(row.created_at),
    pending_expires_at: str(row.pending_expires_at),
    decided_at: strOrNull(row.decided_at),
    decided_by: strOrNull(row.decided_by),
    decision_comment: strOrNull(row.decision_comment),
    grant_id: strOrNull(row.grant_id),
    policy_revision: str(row.policy_revision),
  };
}

export function requestParams(r: AccessRequest): unknown[] {
  return [
    r.id, r.requester.id, JSON.stringify(r.requester), r.role, r.scope === null ? null : JSON.stringify(r.scope),
    r.duration_seconds, r.reason, r.ticket, r.status, r.approvals_required, JSON.stringify(r.approver_groups),
    r.break_glass ? 1 : 0, r.extends_grant_id, r.created_at, r.pending_expires_at, r.decided_at, r.decided_by,
    r.decision_comment, r.grant_id, r.policy_revision,
  ];
}

export function approvalFromRow(row: Row): Approval {
  return { by: str(row.approver), at: str(row.at), comment: strOrNull(row.comment) };
}

/** A stored grant plus the grant it extends (not part of the public model). */
export interface StoredGrant extends Grant {
  extends_grant_id: string | null;
}

export function grantFromRow(row: Row): StoredGrant {
  return {
    id: str(row.id),
    request_id: str(row.request_id),
    subject: json<SubjectRef>(row.subject),
    role: str(row.role),
    scope: scopeOf(row.scope),
    reason: str(row.reason),
    ticket: strOrNull(row.ticket),
    approved_by: json<string[]>(row.approved_by),
    break_glass: Number(row.break_glass) === 1,
    reviewed_by: strOrNull(row.reviewed_by),
    reviewed_at: strOrNull(row.reviewed_at),
    starts_at: str(row.starts_at),
    expires_at: str(row.expires_at),
    status: str(row.status) as GrantStatus,
    revoked_at: strOrNull(row.revoked_at),
    revoked_by: strOrNull(row.revoked_by),
    revoke_reason: strOrNull(row.revoke_reason),
    expired_recorded_at: strOrNull(row.expired_recorded_at),
    extension_count: Number(row.extension_count),
    extends_grant_id: strOrNull(row.extends_grant_id),
  };
}

export function grantParams(g: StoredGrant): unknown[] {
  return [
    g.id, g.request_id, g.subject.id, JSON.stringify(g.subject), g.role, g.scope === null ? null : JSON.stringify(g.scope),
    g.reason, g.ticket, JSON.stringify(g.approved_by), g.break_glass ? 1 : 0, g.reviewed_by, g.reviewed_at, g.starts_at,
    g.expires_at, g.status, g.revoked_at, g.revoked_by, g.revoke_reason, g.expired_recorded_at, g.extension_count,
    g.extends_grant_id,
  ];
}

/** `INSERT INTO table (cols) VALUES ($1..), ($n..)` for `rows` rows. */
export function insertSql(table: string, columns: readonly string[], rows: number): string {
  const values: string[] = [];
  for (let r = 0; r < rows; r++) {
    values.push(`(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`);
  }
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values.join(', ')}`;
}

/** Grants of the public model: the internal link to an extended grant is dropped. */
export function publicGrant(g: StoredGrant): Grant {
  const { extends_grant_id: _ignored, ...grant } = g;
  return grant;
}
