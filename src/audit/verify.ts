// Verifies the whole chain in seq order and names the first record that is wrong:
// missing (gap in seq), altered (hash does not match its content), out of place
// (does not link to its predecessor) or cut off (the checkpoint knows a later head).
// Rows beside the chain (a seq outside 1..head) are tampering too: query and export show them.
import type { Db, Row } from '../store/index.js';
import { GENESIS_HASH, recordHash } from './chain.js';
import { type Checkpoint, readCheckpoint } from './checkpoint.js';
import { AUDIT_COLUMNS, detailsText, rowToRecord } from './records.js';
import type { AuditRecord } from './types.js';

export interface VerifyProblem {
  /** The first bad record (or the first missing seq); null for rows whose seq is NULL. */
  seq: number | null;
  /** Tampering, except `empty`: no records, so nothing to vouch for (the trail could not be checked). */
  kind: 'missing' | 'altered' | 'unlinked' | 'truncated' | 'checkpoint_mismatch' | 'unreadable' | 'outside_chain' | 'empty';
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Records checked. */
  records: number;
  /**
   * The first record checked: 1 for a chain verified from genesis. Later for an export of a
   * range, whose first link is then taken on trust (records before it are not vouched for).
   */
  first: number | null;
  head: { seq: number; hash: string } | null;
  checkpoint: Checkpoint | null;
  /**
   * Whether the checkpoint was compared: the chain holds its record, or (a range) begins right after
   * it and links to it. A range that begins later cannot be compared with it.
   */
  checkpoint_compared: boolean;
  problem: VerifyProblem | null;
}

const PAGE = 1000;

function parse(row: Row): AuditRecord | null {
  try {
    return rowToRecord(row);
  } catch {
    return null;
  }
}

/**
 * Follows a chain record by record. Starts at seq 1 (genesis) unless told the first
 * record may be later (an export of a range): then that record's prev_hash is trusted.
 */
class ChainChecker {
  expected: number;
  prev: string;
  checked = 0;
  first: number | null = null;
  checkpointHashSeen: string | null = null;
  checkpointLinked = false;

  constructor(private readonly checkpoint: Checkpoint | null, private readonly fromAnywhere = false, first = 1) {
    this.expected = first;
    this.prev = GENESIS_HASH;
  }

  /**
   * null when the record is good. `details`: the details text as stored (or exported); it must be
   * the one text the writer stores, or other readers could see what the hash does not cover
   * (a duplicate key, digits beyond a double's precision).
   */
  check(seq: number, record: AuditRecord | null, details?: string): VerifyProblem | null {
    const cp = this.checkpoint;
    if (this.fromAnywhere && this.checked === 0 && record) {
      this.expected = seq;
      if (seq > 1) this.prev = record.prev_hash;
      // A range that begins right after the checkpoint must link to the head it saw.
      if (cp && seq === cp.seq + 1) {
        if (record.prev_hash !== cp.hash) {
          return { seq, kind: 'checkpoint_mismatch', message: `record ${seq} does not follow record ${cp.seq} of the checkpoint of ${cp.at} (the chain was rewritten)` };
        }
        this.checkpointLinked = true;
      }
    }
    if (seq !== this.expected) {
      return { seq: this.expected, kind: 'missing', message: `record ${this.expected} is missing (the next record is ${seq})` };
    }
    if (!record) return { seq, kind: 'unreadable', message: `record ${seq} cannot be decoded` };
    const { hash, ...rest } = record;
    if (recordHash(rest) !== hash) {
      return { seq, kind: 'altered', message: `record ${seq} was altered: its content does not match its hash` };
    }
    if (details !== undefined && details !== detailsText(record.details)) {
      return { seq, kind: 'altered', message: `record ${seq} was altered: its details are not stored as written` };
    }
    if (record.prev_hash !== this.prev) {
      return { seq, kind: 'unlinked', message: `record ${seq} does not follow record ${seq - 1} (replaced or reordered)` };
    }
    if (cp && seq === cp.seq) this.checkpointHashSeen = hash;
    this.first ??= seq;
    this.prev = hash;
    this.expected++;
    this.checked++;
    return null;
  }

  /** After the last record: a checkpoint beyond the end means a cut-off tail. */
  finish(): VerifyProblem | null {
    const cp = this.checkpoint;
    if (!cp) return null;
    const last = this.expected - 1;
    if (cp.seq > last) {
      return {
        seq: last + 1,
        kind: 'truncated',
        message: `the chain ends at record ${last} but the checkpoint of ${cp.at} saw record ${cp.seq}: records ${last + 1}..${cp.seq} are missing`,
      };
    }
    if (this.checkpointHashSeen !== null && this.checkpointHashSeen !== cp.hash) {
      return { seq: cp.seq, kind: 'checkpoint_mismatch', message: `record ${cp.seq} differs from the checkpoint of ${cp.at} (the chain was rewritten)` };
    }
    if (this.checkpointHashSeen === null && !this.fromAnywhere) {
      return { seq: cp.seq, kind: 'checkpoint_mismatch', message: `record ${cp.seq} differs from the checkpoint of ${cp.at} (the chain was rewritten)` };
    }
    return null;
  }

  /** No records: nothing is vouched for, which is not the same as intact. `genesis`: record 1 was required. */
  empty(what: string, genesis: boolean): VerifyProblem | null {
    if (this.checked > 0) return null;
    if (genesis) return { seq: 1, kind: 'missing', message: `record 1 is missing (${what} holds no records)` };
    return { seq: null, kind: 'empty', message: `${what} holds no records` };
  }

  report(problem: VerifyProblem | null): VerifyReport {
    return {
      ok: problem === null,
      records: this.checked,
      first: this.first,
      head: this.checked > 0 ? { seq: this.expected - 1, hash: this.prev } : null,
      checkpoint: this.checkpoint,
      checkpoint_compared: this.checkpointHashSeen !== null || this.checkpointLinked,
      problem,
    };
  }
}

/**
 * Rows the walk (seq 1, 2, ... head) never reads: seq NULL (SQLite allows it in a non-rowid key),
 * below 1, or not a whole number (SQLite stores 1000.5 as is). A whole seq above head is not
 * counted: the walk reads every row above its position, so one there now was appended since.
 */
async function outsideChain(db: Db, head: number): Promise<VerifyProblem | null> {
  const outside = 'seq IS NULL OR seq < 1 OR seq <> CAST(seq AS BIGINT)';
  const rows = await db.query(`SELECT COUNT(*) AS n, MIN(seq) AS low FROM jitgate_audit WHERE ${outside}`);
  const n = Number(rows[0]?.n ?? 0);
  if (n === 0) return null;
  const low = rows[0]?.low;
  const at = low === null || low === undefined ? null : Number(low);
  return {
    seq: at,
    kind: 'outside_chain',
    message: `${n} row(s) beside the chain 1..${head}, with a seq that is NULL, below 1 or not a whole number (${at === null ? 'NULL' : `lowest ${String(low)}`}): inserted, not appended`,
  };
}

export async function verifyChain(db: Db, opts: { checkpointFile?: string | undefined } = {}): Promise<VerifyReport> {
  const checkpoint = opts.checkpointFile ? await readCheckpoint(opts.checkpointFile) : null;
  const chain = new ChainChecker(checkpoint);
  for (;;) {
    const rows = await db.query(`SELECT ${AUDIT_COLUMNS} FROM jitgate_audit WHERE seq >= $1 ORDER BY seq LIMIT $2`, [chain.expected, PAGE]);
    for (const row of rows) {
      const problem = chain.check(Number(row.seq), parse(row), String(row.details));
      if (problem) return chain.report(problem);
    }
    if (rows.length < PAGE) break;
  }
  return chain.report((await outsideChain(db, chain.expected - 1)) ?? chain.finish() ?? chain.empty('the audit table', false));
}

/**
 * Verifies an export (`jitgate audit export`, JSONL) away from the database. A full export
 * verifies from genesis; a contiguous range verifies internally, trusting its first link (the
 * report's `first` says where it began; `fromGenesis` refuses one that does not begin at 1).
 * Filtered exports (not contiguous) report the first gap.
 */
export async function verifyExport(
  lines: AsyncIterable<string>,
  opts: { checkpoint?: Checkpoint | null; fromGenesis?: boolean } = {},
): Promise<VerifyReport> {
  // fromGenesis: the export must begin at record 1, so nothing before its first record is taken on trust.
  const chain = new ChainChecker(opts.checkpoint ?? null, opts.fromGenesis !== true);
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') continue;
    let record: AuditRecord;
    let details: string;
    let seq = chain.expected;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      seq = Number(parsed.seq);
      details = JSON.stringify(parsed.details ?? null);
      record = rowToRecord({ ...parsed, details });
    } catch {
      return chain.report({ seq, kind: 'unreadable', message: `line ${lineNo} is not an audit record` });
    }
    // The line must be exactly the record (as export writes it): fields the hash does not cover
    // (added, or of another JSON type that decoding coerces) would be evidence nobody vouched for.
    if (JSON.stringify(record) !== line) {
      return chain.report({ seq, kind: 'unreadable', message: `line ${lineNo} is not exactly an audit record (fields added, of the wrong type, or reformatted)` });
    }
    const problem = chain.check(seq, record, details);
    if (problem) return chain.report(problem);
  }
  return chain.report(chain.empty('the export', opts.fromGenesis === true) ?? chain.finish());
}
