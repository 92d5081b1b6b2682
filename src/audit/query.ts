// The auditor's questions as one filter: who (subject/actor), what (kind, decision),
// which grant/request/route/role, when (time range). Paged by seq.
import { jitgateError } from '../errors.js';
import type { Db } from '../store/index.js';
import { AUDIT_COLUMNS, rowToRecord } from './records.js';
import type { AuditKind, AuditRecord } from './types.js';

export interface AuditFilter {
  /** Whom the record concerns. */
  subject?: string;
  /** Who acted. */
  actor?: string;
  /** Either the subject or the actor. */
  who?: string;
  role?: string;
  grant_id?: string;
  request_id?: string;
  route?: string;
  /** A decision's record, and the records of the decisions that replaced it, round by round (details.supersedes). */
  decision_id?: string;
  /** The HTTP request behind a record (a proxied request's or a control API call's x-request-id). */
  http_request_id?: string;
  policy_revision?: string;
  /** Exact kinds (AuditKind), or a family such as `grant.*`. */
  kinds?: readonly string[];
  /** allow: grants used, requests approved; deny: proxy denials and requests not forwarded, requests denied, workflow actions refused. */
  decision?: 'allow' | 'deny';
  /** Inclusive lower bound on the time (anything Date parses). */
  since?: string;
  /** Exclusive upper bound on the time. */
  until?: string;
  /** Paging cursor: records after this seq (asc) or before it (desc). */
  cursor?: number;
  limit?: number;
  order?: 'asc' | 'desc';
}

export interface AuditPage {
  records: AuditRecord[];
  /** Pass as `cursor` for the next page; null when this was the last. */
  next_cursor: number | null;
}

export const DECISION_KINDS: Record<'allow' | 'deny', AuditKind[]> = {
  allow: ['proxy.allowed_with_grant', 'proxy.allowed_standing', 'request.approved'],
  deny: ['proxy.denied', 'proxy.not_forwarded', 'request.denied', 'workflow.refused'],
};

/** The most records one page holds: the API's and `jitgate audit query`'s `limit` maximum. */
export const AUDIT_LIMIT_MAX = 1000;

/** A date, or an RFC 3339 date-time with its zone: what the API's `format: date-time` takes, and a day. */
const BOUND = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|[+-](\d{2}):(\d{2})))?$/;

/**
 * A bound as stored times are written; a bound that is no time is the caller's mistake (400),
 * never a 500. Only the forms above: Date also reads "1" (2001), "2026-02-30" (2 March), a time
 * without a zone (in this machine's zone) and years past 9999 (written "+010000-…", which sorts
 * before every stored time), and each would answer a question other than the one asked.
 */
function isoTime(value: string, name: string): string {
  const refuse = (why: string): never => {
    throw jitgateError('VALIDATION', `${name}: ${why}: ${value}`, { field: name });
  };
  const m = BOUND.exec(value);
  if (!m) return refuse('give a date (2026-11-01) or a time with its zone (2026-11-01T09:30:00Z, 2026-11-01T10:30:00+01:00)');
  const [, y, mo, d, h = '0', mi = '0', sec = '0', fraction = '', oh = '0', om = '0'] = m as (string | undefined)[];
  // RFC 3339 allows a leap second (`23:59:60Z`), which JavaScript dates cannot hold.
  if (sec === '60') return refuse('a leap second (:60) cannot be compared with stored times; give :59');
  const day = new Date(`${String(y)}-${String(mo)}-${String(d)}T00:00:00Z`);
  const sameDay = day.getUTCFullYear() === Number(y) && day.getUTCMonth() === Number(mo) - 1 && day.getUTCDate() === Number(d);
  if (!sameDay || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59 || Number(oh) > 23 || Number(om) > 59) return refuse('no such time');
  // Date keeps milliseconds and drops the digits after them, which moved a bound back in time
  // (`until=…41.3505Z` left out a record at `…41.350Z`, `since=` took it in). Stored times are
  // whole milliseconds, so the next whole millisecond at or after the bound splits them exactly
  // as the bound itself does, for `since` (at >= bound) and `until` (at < bound) alike.
  const whole = new Date(fraction === '' ? value : value.replace(`.${fraction}`, ''));
  if (Number.isNaN(whole.getTime())) return refuse('not a time');
  const ms = Number(fraction.padEnd(3, '0').slice(0, 3)) + (/[1-9]/.test(fraction.slice(3)) ? 1 : 0);
  const iso = new Date(whole.getTime() + ms).toISOString();
  // An offset can carry 9999-12-31 or 0000-01-01 across the year's edge, where the ISO form changes.
  if (iso.length !== 24) return refuse('outside the years 0000 to 9999 in UTC');
  return iso;
}

/**
 * `id` and every decision that replaced it, then replaced that, and so on. An auditor asking
 * about a decision that did not take effect learns what happened instead, also when that was
 * replaced in turn: a request decided three times ends in the third round's record, which names
 * only the second. Each round is one indexed lookup of the ids found in the round before; the
 * chain is short (the proxy decides a request at most MAX_DECISION_ROUNDS times), and an id is
 * followed once, so even a chain that loops ends.
 */
async function decisionChain(db: Db, id: string): Promise<string[]> {
  const ids = new Set([id]);
  const placeholders = (values: readonly unknown[]): string => values.map((_, i) => `$${String(i + 1)}`).join(', ');
  // Two lookups a round, each by its own index: joined, PostgreSQL may read every decision's record.
  for (let round = [id]; round.length > 0;) {
    const replacing = (await db.query(`SELECT seq FROM jitgate_audit_supersedes WHERE decision_id IN (${placeholders(round)})`, round)).map((r) => Number(r.seq));
    if (replacing.length === 0) break;
    const rows = await db.query(`SELECT decision_id FROM jitgate_audit WHERE seq IN (${placeholders(replacing)})`, replacing);
    const found = rows.flatMap((r) => (typeof r.decision_id === 'string' ? [r.decision_id] : []));
    round = [...new Set(found)].filter((next) => !ids.has(next));
    for (const next of round) ids.add(next);
  }
  return [...ids];
}

export async function queryAudit(db: Db, filter: AuditFilter = {}): Promise<AuditPage> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: (p: string) => string, value: unknown): void => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  const exact: [keyof AuditFilter, string][] = [
    ['subject', 'subject'], ['actor', 'actor'], ['request_id', 'request_id'],
    ['route', 'route'], ['policy_revision', 'policy_revision'],
  ];
  for (const [key, column] of exact) {
    const value = filter[key];
    if (typeof value === 'string') add((p) => `${column} = ${p}`, value);
  }
  // A record names one grant (and its role) in its columns, and every grant it rests on in
  // jitgate_audit_grants: a request allowed under two grants is found by either.
  for (const column of ['grant_id', 'role'] as const) {
    const value = filter[column];
    if (typeof value === 'string') add((p) => `seq IN (SELECT seq FROM jitgate_audit WHERE ${column} = ${p} UNION ALL SELECT seq FROM jitgate_audit_grants WHERE ${column} = ${p})`, value);
  }
  // A decision is named by its own record and by the records of the decisions that replaced it
  // (details.supersedes, indexed in jitgate_audit_supersedes), round by round: decisionChain.
  if (filter.decision_id !== undefined) {
    const ids = await decisionChain(db, filter.decision_id);
    const list = (): string => ids.map((id) => `$${params.push(id)}`).join(', ');
    where.push(`seq IN (SELECT seq FROM jitgate_audit WHERE decision_id IN (${list()}) UNION ALL SELECT seq FROM jitgate_audit_supersedes WHERE decision_id IN (${list()}))`);
  }
  if (filter.http_request_id !== undefined) add((p) => `seq IN (SELECT seq FROM jitgate_audit_http WHERE http_request_id = ${p})`, filter.http_request_id);
  if (filter.who !== undefined) {
    params.push(filter.who);
    const p = `$${params.length}`;
    where.push(`(subject = ${p} OR actor = ${p})`);
  }
  // A family (`grant.*`) is the kinds beginning with its name and a dot, compared as `=` compares
  // whole kinds: not with LIKE, whose `_` and `%` are wildcards and which folds ASCII case on
  // SQLite but not on PostgreSQL (so `GRANT.*` answered differently on the two stores).
  const kindClause = (kinds: readonly string[]): string =>
    `(${kinds.map((k) => {
      if (!k.endsWith('.*')) return `kind = $${params.push(k)}`;
      const prefix = k.slice(0, -1);
      // substr counts code points on both stores, as Array.from does.
      return `substr(kind, 1, ${String(Array.from(prefix).length)}) = $${params.push(prefix)}`;
    }).join(' OR ')})`;
  if (filter.kinds && filter.kinds.length > 0) where.push(kindClause(filter.kinds));
  if (filter.decision) where.push(kindClause(DECISION_KINDS[filter.decision]));
  if (filter.since !== undefined) add((p) => `at >= ${p}`, isoTime(filter.since, 'since'));
  if (filter.until !== undefined) add((p) => `at < ${p}`, isoTime(filter.until, 'until'));
  const order = filter.order ?? 'asc';
  if (filter.cursor !== undefined) add((p) => (order === 'asc' ? `seq > ${p}` : `seq < ${p}`), filter.cursor);
  // Refused, not clamped: a page of another size than asked for would be taken for the one asked for.
  const limit = filter.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_LIMIT_MAX) {
    throw jitgateError('VALIDATION', `limit: must be a whole number from 1 to ${String(AUDIT_LIMIT_MAX)}`, { field: 'limit' });
  }
  params.push(limit + 1);
  const sql = `SELECT ${AUDIT_COLUMNS} FROM jitgate_audit${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT $${params.length}`;
  const rows = await db.query(sql, params);
  const records = rows.slice(0, limit).map(rowToRecord);
  const last = records[records.length - 1];
  return { records, next_cursor: rows.length > limit && last ? last.seq : null };
}
