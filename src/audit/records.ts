// Reading and writing audit rows: the one place that knows the column layout.
import type { Row, Sql } from '../store/index.js';
import { canonicalJson } from './canonical.js';
import type { AuditKind, AuditRecord } from './types.js';

export const AUDIT_COLUMNS =
  'seq, at, kind, actor, subject, request_id, grant_id, role, route, decision_id, policy_revision, reason, details, prev_hash, hash';

function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * The one text the details column holds for these details: JSON of their canonical form, as
 * insertRecords stores a sealed record's (normalizeEntry already put them in canonical form).
 * Verify compares the stored text with it, since the hash covers the parsed value only.
 */
export function detailsText(details: unknown): string {
  return JSON.stringify(JSON.parse(canonicalJson(details)));
}

export function rowToRecord(row: Row): AuditRecord {
  return {
    seq: Number(row.seq),
    at: String(row.at),
    kind: String(row.kind) as AuditKind,
    actor: String(row.actor),
    subject: text(row.subject),
    request_id: text(row.request_id),
    grant_id: text(row.grant_id),
    role: text(row.role),
    route: text(row.route),
    decision_id: text(row.decision_id),
    policy_revision: text(row.policy_revision),
    reason: text(row.reason),
    details: JSON.parse(String(row.details)) as Record<string, unknown>,
    prev_hash: String(row.prev_hash),
    hash: String(row.hash),
  };
}

export async function readHead(sql: Sql): Promise<{ seq: number; hash: string; at: string } | null> {
  const rows = await sql.query('SELECT seq, hash, at FROM jitgate_audit ORDER BY seq DESC LIMIT 1');
  const row = rows[0];
  return row ? { seq: Number(row.seq), hash: String(row.hash), at: String(row.at) } : null;
}

/** The hash of the record at `seq`, or null when the trail holds none there. */
export async function hashAt(sql: Sql, seq: number): Promise<string | null> {
  const rows = await sql.query('SELECT hash FROM jitgate_audit WHERE seq = $1', [seq]);
  return rows[0] ? String(rows[0].hash) : null;
}

const COLUMN_COUNT = 15;
/** Rows per INSERT: one round trip for a typical group commit, well under both stores' parameter limits. */
const ROWS_PER_INSERT = 100;

function placeholders(rows: number): string {
  const groups: string[] = [];
  for (let r = 0; r < rows; r++) {
    const cols: string[] = [];
    for (let c = 1; c <= COLUMN_COUNT; c++) cols.push(`$${r * COLUMN_COUNT + c}`);
    groups.push(`(${cols.join(', ')})`);
  }
  return groups.join(', ');
}

export async function insertRecords(sql: Sql, records: readonly AuditRecord[]): Promise<void> {
  for (let i = 0; i < records.length; i += ROWS_PER_INSERT) {
    const chunk = records.slice(i, i + ROWS_PER_INSERT);
    const params = chunk.flatMap((r) => [
      r.seq, r.at, r.kind, r.actor, r.subject, r.request_id, r.grant_id, r.role, r.route, r.decision_id,
      r.policy_revision, r.reason, JSON.stringify(r.details), r.prev_hash, r.hash,
    ]);
    await sql.query(`INSERT INTO jitgate_audit (${AUDIT_COLUMNS}) VALUES ${placeholders(chunk.length)}`, params);
  }
  const uses = records.flatMap(grantsNamed);
  for (let i = 0; i < uses.length; i += ROWS_PER_INSERT) {
    const chunk = uses.slice(i, i + ROWS_PER_INSERT);
    const values = chunk.map((_u, r) => `($${r * 3 + 1}, $${r * 3 + 2}, $${r * 3 + 3})`).join(', ');
    await sql.query(`INSERT INTO jitgate_audit_grants (seq, grant_id, role) VALUES ${values}`, chunk.flatMap((u) => [u.seq, u.grant_id, u.role]));
  }
  await insertNamed(sql, records, 'jitgate_audit_http', 'http_request_id', (r) => r.details.http_request_id);
  await insertNamed(sql, records, 'jitgate_audit_supersedes', 'decision_id', (r) => r.details.supersedes);
}

/** One (seq, id) row in `table` for every record that names an id (a string) in its details. */
async function insertNamed(sql: Sql, records: readonly AuditRecord[], table: string, column: string, named: (r: AuditRecord) => unknown): Promise<void> {
  const rows = records.flatMap((r) => {
    const id = named(r);
    return typeof id === 'string' ? [[r.seq, id] as const] : [];
  });
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + ROWS_PER_INSERT);
    const values = chunk.map((_r, n) => `($${n * 2 + 1}, $${n * 2 + 2})`).join(', ');
    await sql.query(`INSERT INTO ${table} (seq, ${column}) VALUES ${values}`, chunk.flat());
  }
}

/**
 * Every grant a record names (details.grant_ids, with their roles from details.grant_roles):
 * the rows of jitgate_audit_grants, which queries by grant and role read.
 */
function grantsNamed(r: AuditRecord): { seq: number; grant_id: string; role: string | null }[] {
  const ids = r.details.grant_ids;
  if (!Array.isArray(ids)) return [];
  const roles = (r.details.grant_roles ?? {}) as Record<string, unknown>;
  return ids.filter((id): id is string => typeof id === 'string').map((id) => {
    const role = roles[id];
    return { seq: r.seq, grant_id: id, role: typeof role === 'string' ? role : id === r.grant_id ? r.role : null };
  });
}
