// Grant store: the SQL for requests, approvals and grants over the shared Db port. Every
// method takes the Sql to run on, so the workflow can compose them in one transaction.
import { randomBytes } from 'node:crypto';
import type { GrantScope, PolicyGrant } from '../policy/index.js';
import type { Db, Row, Sql } from '../store/index.js';
import type { AccessRequest, Approval } from './model.js';
import { grantsMigrations } from './migrations.js';
import {
  GRANT_COLUMNS, REQUEST_COLUMNS, approvalFromRow, grantFromRow, grantParams, insertSql, readRow, requestFromRow, requestParams, subjectKindOf, UnreadableRowError,
  type StoredGrant,
} from './rows.js';
import type { GrantFilter, ListPosition, RequestFilter, SubjectKey } from './types.js';

const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

/** A live grant as the cache keeps it: what the policy sees, plus its holder and window. */
export interface ActiveGrant {
  subject: SubjectKey;
  grant: PolicyGrant;
  startsMs: number;
  expiresMs: number;
}

export interface GrantStore {
  readonly db: Db;
  migrate(): Promise<void>;
  insertRequest(sql: Sql, r: AccessRequest): Promise<void>;
  getRequest(sql: Sql, id: string): Promise<AccessRequest | null>;
  listRequests(sql: Sql, filter: RequestFilter): Promise<AccessRequest[]>;
  /** Adds an approval; false when this approver (case-insensitive) already approved. */
  addApproval(sql: Sql, requestId: string, approval: Approval): Promise<boolean>;
  /** Raises a pending request's approvals_required to `required` (never lowers it); false when nothing changed. */
  raiseApprovalsRequired(sql: Sql, id: string, required: number): Promise<boolean>;
  /** Moves a pending request to a final status; null when it was no longer pending (a concurrent step won). */
  decideRequest(
    sql: Sql,
    id: string,
    decision: { status: 'approved' | 'denied' | 'withdrawn' | 'expired'; at: string; by: string | null; comment: string | null; grantId: string | null },
  ): Promise<boolean>;
  insertGrants(sql: Sql, grants: readonly StoredGrant[]): Promise<void>;
  getGrant(sql: Sql, id: string): Promise<StoredGrant | null>;
  listGrants(sql: Sql, filter: GrantFilter, nowIso: string): Promise<StoredGrant[]>;
  /** Active grants extending `id` (extensions end with the grant they extend). */
  extensionsOf(sql: Sql, id: string): Promise<StoredGrant[]>;
  /** active → revoked; false when the grant was no longer active. */
  revokeGrant(sql: Sql, id: string, at: string, by: string, reason: string | null): Promise<boolean>;
  /** Records a review of a break-glass grant; false when it was already reviewed. */
  reviewGrant(sql: Sql, id: string, at: string, by: string): Promise<boolean>;
  /** Grants past their end that are still marked active (the sweeper records them). */
  endedGrantIds(sql: Sql, nowIso: string, limit: number): Promise<string[]>;
  markGrantExpired(sql: Sql, id: string, nowIso: string): Promise<boolean>;
  stalePendingIds(sql: Sql, nowIso: string, limit: number): Promise<string[]>;
  countPending(sql: Sql): Promise<number>;
  /** Pending requests made by `requesterId` and active grants held by it, at `nowIso`. */
  countOpen(sql: Sql, requesterId: string, nowIso: string): Promise<number>;
  /** The key listing cursors are signed with, made by the first caller of any replica and shared by all. */
  listingKey(sql: Sql): Promise<Buffer>;
  /**
   * One page of active, unexpired grants in id order after `afterId` (the cache loads in pages).
   * `next` is the id to continue after, or null when this was the last page.
   */
  /** Rows that cannot be read are left out (`unreadable`): one damaged grant must not stop every other. */
  activeGrantsPage(sql: Sql, nowIso: string, afterId: string, limit: number): Promise<{ grants: ActiveGrant[]; next: string | null; unreadable: UnreadableRowError[] }>;
}

function pageLimit(filter: { limit?: number }): number {
  return Math.min(Math.max(1, Math.trunc(filter.limit ?? DEFAULT_PAGE)), MAX_PAGE);
}

async function approvalsFor(sql: Sql, ids: readonly string[]): Promise<Map<string, Approval[]>> {
  const byRequest = new Map<string, Approval[]>();
  if (ids.length === 0) return byRequest;
  const placeholders = ids.map((_, i) => `$${i + 1}`).join(', ');
  const rows = await sql.query(
    `SELECT request_id, approver, at, comment FROM jitgate_approvals WHERE request_id IN (${placeholders}) ORDER BY at, approver`,
    ids,
  );
  for (const row of rows) {
    const id = String(row.request_id);
    let list = byRequest.get(id);
    if (!list) byRequest.set(id, (list = []));
    list.push(approvalFromRow(row));
  }
  return byRequest;
}

/** Rows after `after` in a newest-first list ordered by (`at` DESC, `id` DESC). */
function listedAfter(at: string, id: string, after: ListPosition, params: unknown[]): string {
  const a = params.push(after.at);
  if (after.id === undefined) return `${at} <= $${a}`;
  const i = params.push(after.id);
  return `(${at} < $${a} OR (${at} = $${a} AND ${id} < $${i}))`;
}

/** A guarded write with RETURNING: true when it changed exactly one row, i.e. the guard held. */
async function changedOne(sql: Sql, text: string, params: readonly unknown[]): Promise<boolean> {
  return (await sql.query(text, params)).length === 1;
}

async function selectIds(sql: Sql, text: string, params: readonly unknown[]): Promise<string[]> {
  return (await sql.query(text, params)).map((r) => String(r.id));
}

async function withApprovals(sql: Sql, rows: Row[]): Promise<AccessRequest[]> {
  const approvals = await approvalsFor(sql, rows.map((r) => String(r.id)));
  return rows.map((row) => requestFromRow(row, approvals.get(String(row.id)) ?? []));
}

export function createGrantStore(db: Db): GrantStore {
  const insertRequestSql = insertSql('jitgate_requests', REQUEST_COLUMNS, 1);
  const grantColumns = GRANT_COLUMNS.join(', ');
  // A request with the end of the grant it extends (extensions are rare: the join costs the others nothing).
  const selectRequests = `SELECT r.*, x.expires_at AS extends_grant_expires_at FROM jitgate_requests r
    LEFT JOIN jitgate_grants x ON r.extends_grant_id IS NOT NULL AND x.id = r.extends_grant_id`;
  // One requester's open items. SQLite's planner, without statistics, prefers the (status, expiry)
  // indexes for these (two columns constrained), which walk every pending request and active grant
  // of every requester: 28 ms a call at 100,000 active grants, inside the audit chain's lock and on
  // the event loop. PostgreSQL's planner has statistics and picks the per-requester index itself.
  const byRequester = db.dialect === 'sqlite' ? ' INDEXED BY jitgate_requests_requester' : '';
  const bySubject = db.dialect === 'sqlite' ? ' INDEXED BY jitgate_grants_subject' : '';
  return {
    db,
    migrate: () => db.migrate('grants', grantsMigrations),

    async listingKey(sql) {
      await sql.query('INSERT INTO jitgate_listing_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING', [randomBytes(32).toString('hex')]);
      const rows = await sql.query('SELECT key FROM jitgate_listing_key WHERE id = 1');
      const key = rows[0]?.key;
      if (typeof key !== 'string' || !/^[0-9a-f]{64}$/.test(key)) throw new Error('jitgate_listing_key holds no usable key');
      return Buffer.from(key, 'hex');
    },

    async insertRequest(sql, r) {
      await sql.query(insertRequestSql, requestParams(r));
      for (const a of r.approvals) await this.addApproval(sql, r.id, a);
    },

    async getRequest(sql, id) {
      const rows = await sql.query(`${selectRequests} WHERE r.id = $1`, [id]);
      return (await withApprovals(sql, rows))[0] ?? null;
    },

    async listRequests(sql, filter) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.status !== undefined) where.push(`r.status = $${params.push(filter.status)}`);
      if (filter.requester !== undefined) where.push(`r.requester_id = $${params.push(filter.requester)}`);
      if (filter.role !== undefined) where.push(`r.role = $${params.push(filter.role)}`);
      if (filter.after !== undefined) where.push(listedAfter('r.created_at', 'r.id', filter.after, params));
      const limit = pageLimit(filter);
      const rows = await sql.query(
        `${selectRequests} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY r.created_at DESC, r.id DESC LIMIT ${limit}`,
        params,
      );
      return withApprovals(sql, rows);
    },

    addApproval(sql, requestId, a) {
      // The primary key (request, lower-cased approver) makes "each approver counts once" hold in the database too.
      return changedOne(
        sql,
        `INSERT INTO jitgate_approvals (request_id, approver_key, approver, at, comment) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (request_id, approver_key) DO NOTHING RETURNING request_id`,
        [requestId, a.by.toLowerCase(), a.by, a.at, a.comment],
      );
    },

    raiseApprovalsRequired(sql, id, required) {
      return changedOne(
        sql,
        `UPDATE jitgate_requests SET approvals_required = $2 WHERE id = $1 AND status = 'pending' AND approvals_required < $2 RETURNING id`,
        [id, required],
      );
    },

    decideRequest(sql, id, d) {
      return changedOne(
        sql,
        `UPDATE jitgate_requests SET status = $2, decided_at = $3, decided_by = $4, decision_comment = $5, grant_id = $6
         WHERE id = $1 AND status = 'pending' RETURNING id`,
        [id, d.status, d.at, d.by, d.comment, d.grantId],
      );
    },

    async insertGrants(sql, grants) {
      if (grants.length === 0) return;
      await sql.query(insertSql('jitgate_grants', GRANT_COLUMNS, grants.length), grants.flatMap(grantParams));
    },

    async getGrant(sql, id) {
      const rows = await sql.query(`SELECT ${grantColumns} FROM jitgate_grants WHERE id = $1`, [id]);
      return rows[0] ? readRow(rows[0], grantFromRow) : null;
    },

    async listGrants(sql, filter, nowIso) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.subject !== undefined) where.push(`subject_id = $${params.push(filter.subject)}`);
      if (filter.active === true) where.push(`status = 'active' AND expires_at > $${params.push(nowIso)}`);
      if (filter.active === false) where.push(`(status <> 'active' OR expires_at <= $${params.push(nowIso)})`);
      if (filter.break_glass !== undefined) where.push(`break_glass = ${filter.break_glass ? 1 : 0}`);
      if (filter.reviewed !== undefined) where.push(`reviewed_by IS ${filter.reviewed ? 'NOT ' : ''}NULL`);
      if (filter.after !== undefined) where.push(listedAfter('starts_at', 'id', filter.after, params));
      const limit = pageLimit(filter);
      const rows = await sql.query(
        `SELECT ${grantColumns} FROM jitgate_grants ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY starts_at DESC, id DESC LIMIT ${limit}`,
        params,
      );
      return rows.map(grantFromRow);
    },

    async extensionsOf(sql, id) {
      const rows = await sql.query(`SELECT ${grantColumns} FROM jitgate_grants WHERE extends_grant_id = $1 AND status = 'active'`, [id]);
      return rows.map(grantFromRow);
    },

    revokeGrant(sql, id, at, by, reason) {
      return changedOne(
        sql,
        `UPDATE jitgate_grants SET status = 'revoked', revoked_at = $2, revoked_by = $3, revoke_reason = $4
         WHERE id = $1 AND status = 'active' RETURNING id`,
        [id, at, by, reason],
      );
    },

    reviewGrant(sql, id, at, by) {
      return changedOne(
        sql,
        `UPDATE jitgate_grants SET reviewed_by = $3, reviewed_at = $2 WHERE id = $1 AND reviewed_by IS NULL RETURNING id`,
        [id, at, by],
      );
    },

    endedGrantIds(sql, nowIso, limit) {
      return selectIds(
        sql,
        `SELECT id FROM jitgate_grants WHERE status = 'active' AND expires_at <= $1 ORDER BY expires_at LIMIT ${Math.trunc(limit)}`,
        [nowIso],
      );
    },

    markGrantExpired(sql, id, nowIso) {
      return changedOne(
        sql,
        `UPDATE jitgate_grants SET status = 'expired', expired_recorded_at = $2
         WHERE id = $1 AND status = 'active' AND expires_at <= $2 RETURNING id`,
        [id, nowIso],
      );
    },

    stalePendingIds(sql, nowIso, limit) {
      return selectIds(
        sql,
        `SELECT id FROM jitgate_requests WHERE status = 'pending' AND pending_expires_at <= $1 ORDER BY pending_expires_at LIMIT ${Math.trunc(limit)}`,
        [nowIso],
      );
    },

    async countPending(sql) {
      const rows = await sql.query(`SELECT COUNT(*) AS n FROM jitgate_requests WHERE status = 'pending'`);
      return Number(rows[0]?.n ?? 0);
    },

    async countOpen(sql, requesterId, nowIso) {
      // Served by the (requester_id, created_at) and (subject_id, status) indexes (byRequester, bySubject).
      const pending = await sql.query(
        `SELECT COUNT(*) AS n FROM jitgate_requests${byRequester} WHERE requester_id = $1 AND status = 'pending' AND pending_expires_at > $2`,
        [requesterId, nowIso],
      );
      const active = await sql.query(
        `SELECT COUNT(*) AS n FROM jitgate_grants${bySubject} WHERE subject_id = $1 AND status = 'active' AND expires_at > $2`,
        [requesterId, nowIso],
      );
      return Number(pending[0]?.n ?? 0) + Number(active[0]?.n ?? 0);
    },

    async activeGrantsPage(sql, nowIso, afterId, limit) {
      const n = Math.trunc(limit);
      // Expiry is filtered here rather than in SQL so the (status, id) index serves both the range and the order.
      // Only what the policy sees is read: the load at start (and after a lost feed) is the cost that grows with the store.
      const rows = await sql.query(
        `SELECT id, subject_id, subject, role, scope, reason, ticket, approved_by, break_glass, starts_at, expires_at, request_id
         FROM jitgate_grants WHERE status = 'active' AND id > $1 ORDER BY id LIMIT ${n}`,
        [afterId],
      );
      const grants: ActiveGrant[] = [];
      const unreadable: UnreadableRowError[] = [];
      for (const row of rows) {
        const expiresAt = String(row.expires_at);
        if (expiresAt <= nowIso) continue;
        const expiresMs = Date.parse(expiresAt);
        const startsAt = String(row.starts_at);
        try {
          grants.push(readRow(row, (): ActiveGrant => ({
            subject: { id: String(row.subject_id), kind: subjectKindOf(row.subject) },
            startsMs: Date.parse(startsAt),
            expiresMs,
            grant: {
              id: String(row.id),
              role: String(row.role),
              scope: row.scope === null ? null : (JSON.parse(row.scope as string) as GrantScope),
              starts_at: startsAt,
              expires_at: expiresAt,
              expires_at_ns: expiresMs * 1e6,
              approved_by: JSON.parse(String(row.approved_by)) as string[],
              reason: String(row.reason),
              ticket: row.ticket === null ? null : (row.ticket as string),
              break_glass: Number(row.break_glass) === 1,
              request_id: String(row.request_id),
            },
          })));
        } catch (err) {
          if (!(err instanceof UnreadableRowError)) throw err;
          unreadable.push(err);
        }
      }
      const last = rows[rows.length - 1];
      return { grants, next: last && rows.length === n ? String(last.id) : null, unreadable };
    },
  };
}

