// The hash chain: each record's hash covers its own fields and the previous record's
// hash, so editing, deleting or reordering any record breaks every link after it.
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical.js';
import { scrubSecrets, scrubText } from './mask.js';
import type { AuditEntry, AuditRecord } from './types.js';

/** prev_hash of the first record. */
export const GENESIS_HASH = '0'.repeat(64);

export function recordHash(record: Omit<AuditRecord, 'hash'>): string {
  const body = {
    seq: record.seq,
    at: record.at,
    prev_hash: record.prev_hash,
    kind: record.kind,
    actor: record.actor,
    subject: record.subject,
    request_id: record.request_id,
    grant_id: record.grant_id,
    role: record.role,
    route: record.route,
    decision_id: record.decision_id,
    policy_revision: record.policy_revision,
    reason: record.reason,
    details: record.details,
  };
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

/**
 * A lone surrogate (`"\ud800"` is valid JSON) as U+FFFD, which is what the store's UTF-8 keeps of
 * it: hashed as sent, a record would no longer verify once read back.
 */
function wellFormed(text: string): string {
  return /\p{Cs}/u.test(text) ? text.replace(/\p{Cs}/gu, '\uFFFD') : text;
}

/**
 * A column's text: well formed, and NUL as U+FFFD too. PostgreSQL's text cannot hold NUL: the
 * INSERT would fail, and with it every append of the group-commit batch. (JSON escapes it in details.)
 */
function columnText(text: string): string {
  const t = wellFormed(text);
  return t.includes('\u0000') ? t.replaceAll('\u0000', '\uFFFD') : t;
}

function columnTextOrNull(text: string | null | undefined): string | null {
  return text == null ? null : columnText(text);
}

/** Fills the optional fields so every record has the same shape (and hashes the same after storage). */
export function normalizeEntry(entry: Partial<AuditEntry> & Pick<AuditEntry, 'kind' | 'actor'>): AuditEntry {
  return {
    kind: columnText(entry.kind) as AuditEntry['kind'],
    actor: columnText(entry.actor),
    subject: columnTextOrNull(entry.subject),
    request_id: columnTextOrNull(entry.request_id),
    grant_id: columnTextOrNull(entry.grant_id),
    role: columnTextOrNull(entry.role),
    route: columnTextOrNull(entry.route),
    decision_id: columnTextOrNull(entry.decision_id),
    policy_revision: columnTextOrNull(entry.policy_revision),
    // Free text comes from users: a pasted token must not become permanent evidence.
    reason: entry.reason == null ? null : columnText(scrubText(entry.reason)),
    // Round-trip through JSON: what is hashed is exactly what the store will give back.
    details: JSON.parse(canonicalJson(scrubSecrets(entry.details ?? {})), (_key, value: unknown) => (typeof value === 'string' ? wellFormed(value) : value)) as Record<string, unknown>,
  };
}

export function seal(entry: AuditEntry, seq: number, at: string, prevHash: string): AuditRecord {
  const unsealed = { ...normalizeEntry(entry), seq, at, prev_hash: prevHash };
  return { ...unsealed, hash: recordHash(unsealed) };
}
