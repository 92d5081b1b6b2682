// Verifies the whole chain in seq order and names the first record that is wrong:
// missing (gap in seq), altered (hash does not match its content), out of place
// (does not link to its predecessor) or cut off (the checkpoint knows a later head).
import type { Db, Row } from '../store/index.js';
import { GENESIS_HASH, recordHash } from './chain.js';
import { type Checkpoint, readCheckpoint } from './checkpoint.js';
import { AUDIT_COLUMNS, rowToRecord } from './records.js';
import type { AuditRecord } from './types.js';

export interface VerifyProblem {
  /** The first bad record (or the first missing seq). */
  seq: number;
  kind: 'missing' | 'altered' | 'unlinked' | 'truncated' | 'checkpoint_mismatch' | 'unreadable';
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

  constructor(private readonly checkpoint: Checkpoint | null, private readonly fromAnywhere = false, first = 1) {
    this.expected = first;
    this.prev = GENESIS_HASH;
  }

  /** null when the record is good. */
  check(seq: number, record: AuditRecord | null): VerifyProblem | null {
    if (this.fromAnywhere && this.checked === 0 && record) {
      this.expected = seq;
      if (seq > 1) this.prev = record.prev_hash;
    }
    if (seq !== this.expected) {
      return { seq: this.expected, kind: 'missing', message: `record ${this.expected} is missing (the next record is ${seq})` };
    }
    if (!record) return { seq, kind: 'unreadable', message: `record ${seq} cannot be decoded` };
    const { hash, ...rest } = record;
    if (recordHash(rest) !== hash) {
      return { seq, kind: 'altered', message: `record ${seq} was altered: its content does not match its hash` };
    }
    if (record.prev_hash !== this.prev) {
      return { seq, kind: 'unlinked', message: `record ${seq} does not follow record ${seq - 1} (replaced or reordered)` };
    }
    if (this.checkpoint && seq === this.checkpoint.seq) this.checkpointHashSeen = hash;
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

  report(problem: VerifyProblem | null): VerifyReport {
    return {
      ok: problem === null,
      records: this.checked,
      first: this.first,
      head: this.checked > 0 ? { seq: this.expected - 1, hash: this.prev } : null,
      checkpoint: this.checkpoint,
      problem,
    };
  }
}

export async function verifyChain(db: Db, opts: { checkpointFile?: string | undefined } = {}): Promise<VerifyReport> {
  const checkpoint = opts.checkpointFile ? await readCheckpoint(opts.checkpointFile) : null;
  const chain = new ChainChecker(checkpoint);
  for (;;) {
    const rows = await db.query(`SELECT ${AUDIT_COLUMNS} FROM jitgate_audit WHERE seq >= $1 ORDER BY seq LIMIT $2`, [chain.expected, PAGE]);
    for (const row of rows) {
      const problem = chain.check(Number(row.seq), parse(row));
      if (problem) return chain.report(problem);
    }
    if (rows.length < PAGE) break;
  }
  return chain.report(chain.finish());
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
    let record: AuditRecord | null = null;
    let seq = chain.expected;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      seq = Number(parsed.seq);
      record = rowToRecord({ ...parsed, details: JSON.stringify(parsed.details ?? null) });
    } catch {
      return chain.report({ seq, kind: 'unreadable', message: `line ${lineNo} is not an audit record` });
    }
    const problem = chain.check(seq, record);
    if (problem) return chain.report(problem);
  }
  return chain.report(chain.finish());
}
