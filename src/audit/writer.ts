// The audit writer. append() resolves only after the record is committed; appends that
// arrive while a commit is in flight (or within group_commit_ms) share the next
// transaction, so durability costs one commit per batch instead of one per record.
import { jitgateError } from '../errors.js';
import type { Db, Sql } from '../store/index.js';
import { GENESIS_HASH, normalizeEntry, seal } from './chain.js';
import { type Checkpoint, type CheckpointWitness, readCheckpoint, sendCheckpoint, writeCheckpoint } from './checkpoint.js';
import type { AuditConfig } from './config.js';
import { auditMigrations } from './migrations.js';
import { hashAt, readHead, insertRecords } from './records.js';
import { AUDIT_CHAIN_LOCK, type AuditEntry, type AuditRecord, type AuditWriter } from './types.js';
import { verifyChain, type VerifyReport } from './verify.js';

/** Large enough to absorb bursts, small enough to keep one transaction short. */
const MAX_BATCH = 500;

interface Waiting {
  entry: AuditEntry;
  resolve: (record: AuditRecord) => void;
  reject: (err: Error) => void;
}

export interface AuditTrailHooks {
  /** Called when a commit fails (metrics: store errors). */
  onStoreError?: (operation: string, err: unknown) => void;
}

export interface AuditTrail extends AuditWriter {
  /** Applies the audit migrations and starts periodic checkpoints. */
  start(): Promise<void>;
  /** Commits what is queued, writes a last checkpoint and refuses further appends. */
  stop(): Promise<void>;
  verify(): Promise<VerifyReport>;
  /**
   * Writes the current head to the checkpoint file (null when none is configured or the chain is
   * empty). Refuses (AUDIT_UNAVAILABLE) while the trail does not hold the record the file names.
   */
  checkpoint(): Promise<Checkpoint | null>;
  /** Why the trail disagrees with its checkpoint file (records lost or replaced), or null. */
  readonly discontinuity: string | null;
}

/** Appends inside an open transaction that holds AUDIT_CHAIN_LOCK. */
async function appendInTx(sql: Sql, entries: readonly AuditEntry[]): Promise<AuditRecord[]> {
  const head = await readHead(sql);
  let seq = head?.seq ?? 0;
  let prev = head?.hash ?? GENESIS_HASH;
  // Never before the head's: replicas' clocks differ, and a record stamped earlier than the one
  // before it would fall out of an export by time (--since/--until) while its neighbours are in.
  const now = new Date().toISOString();
  const at = head !== null && head.at > now ? head.at : now;
  const records = entries.map((entry) => {
    const record = seal(entry, ++seq, at, prev);
    prev = record.hash;
    return record;
  });
  await insertRecords(sql, records);
  return records;
}

class StoreAuditTrail implements AuditTrail {
  private queue: Waiting[] = [];
  private timer: { cancel(): void } | null = null;
  private checkpoints: Promise<unknown> = Promise.resolve();
  private flushing: Promise<void> | null = null;
  private checkpointTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private started: Promise<void> | null = null;
  #discontinuity: string | null = null;

  constructor(
    private readonly db: Db,
    private readonly config: AuditConfig,
    private readonly hooks: AuditTrailHooks,
    private readonly witnesses: readonly CheckpointWitness[],
  ) {}

  start(): Promise<void> {
    this.started ??= (async () => {
      try {
        await this.db.migrate('audit', auditMigrations);
      } catch (err) {
        // A store that was down at startup may come back: let the next call try again.
        this.started = null;
        throw err;
      }
      if (this.config.checkpoint_file !== undefined || this.witnesses.length > 0) {
        // At once: a trail that lost records since the last run is not ready from the start.
        await this.checkpoint().catch((err: unknown) => this.hooks.onStoreError?.('audit.checkpoint', err));
        this.checkpointTimer = setInterval(() => {
          this.checkpoint().catch((err: unknown) => this.hooks.onStoreError?.('audit.checkpoint', err));
        }, this.config.checkpoint_interval_ms);
        this.checkpointTimer.unref();
      }
    })();
    return this.started;
  }

  append(entry: AuditEntry): Promise<AuditRecord> {
    if (this.stopped) return Promise.reject(jitgateError('AUDIT_UNAVAILABLE', 'the audit trail is stopped'));
    let normalized: AuditEntry;
    try {
      // An entry that cannot be encoded fails alone, not the batch it would have joined.
      normalized = normalizeEntry(entry);
    } catch (err) {
      return Promise.reject(jitgateError('AUDIT_UNAVAILABLE', `unencodable audit entry: ${(err as Error).message}`, undefined, err));
    }
    return new Promise<AuditRecord>((resolve, reject) => {
      this.queue.push({ entry: normalized, resolve, reject });
      this.schedule();
    });
  }

  appendWithin(sql: Sql, entries: readonly AuditEntry[]): Promise<AuditRecord[]> {
    return appendInTx(sql, entries);
  }

  private schedule(): void {
    if (this.timer || this.flushing || this.queue.length === 0) return;
    const wait = this.config.group_commit_ms;
    if (wait > 0) {
      const t = setTimeout(() => { this.fire(); }, wait);
      this.timer = { cancel: () => { clearTimeout(t); } };
    } else {
      const t = setImmediate(() => { this.fire(); });
      this.timer = { cancel: () => { clearImmediate(t); } };
    }
  }

  private fire(): void {
    this.timer = null;
    this.flushing = this.commitBatch().finally(() => {
      this.flushing = null;
      // Whoever queued during the commit has waited long enough: no extra delay.
      if (this.queue.length > 0) this.fire();
    });
  }

  private async commitBatch(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    try {
      await this.start();
      const records = await this.db.tx((sql) => appendInTx(sql, batch.map((w) => w.entry)), { lockKey: AUDIT_CHAIN_LOCK });
      batch.forEach((w, i) => { w.resolve(records[i] as AuditRecord); });
    } catch (err) {
      this.hooks.onStoreError?.('audit.append', err);
      const failure = jitgateError('AUDIT_UNAVAILABLE', (err as Error).message, undefined, err);
      for (const w of batch) w.reject(failure);
    }
  }

  private async drain(): Promise<void> {
    if (this.timer) {
      this.timer.cancel();
      this.fire();
    }
    while (this.flushing) await this.flushing;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    this.checkpointTimer = null;
    await this.drain();
    // The last head is written (and sent) on the way out; a witness that is down must not stop the stop.
    if (this.started) await this.checkpoint().catch((err: unknown) => this.hooks.onStoreError?.('audit.checkpoint', err));
  }

  verify(): Promise<VerifyReport> {
    return verifyChain(this.db, { checkpointFile: this.config.checkpoint_file });
  }

  checkpoint(): Promise<Checkpoint | null> {
    // One at a time, so an older head can never overwrite a newer one.
    const next = this.checkpoints.then(async () => {
      const file = this.config.checkpoint_file;
      if (file === undefined && this.witnesses.length === 0) return null;
      const head = await readHead(this.db);
      if (!head) {
        if (file !== undefined) await this.#keepsCheckpoint(file);
        return null;
      }
      const cp = { seq: head.seq, hash: head.hash, at: new Date().toISOString() };
      // Every copy is attempted whatever happens to the others: a full disk or a witness that is
      // down must not keep the other witnesses uninformed. A checkpoint file the trail no longer
      // holds (a store restored from a backup, a tail cut off) is the evidence of it: it is never
      // overwritten, and the trail is not ready.
      const outcomes = await Promise.allSettled([
        file === undefined ? null : this.#keepsCheckpoint(file).then(() => writeCheckpoint(file, cp)),
        ...this.witnesses.map((witness) => sendCheckpoint(witness, cp)),
      ]);
      for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
      return cp;
    });
    this.checkpoints = next.catch(() => undefined);
    return next;
  }

  get discontinuity(): string | null {
    return this.#discontinuity;
  }

  /** Throws (and says so in `discontinuity`) when the trail does not hold the checkpoint `file` names. */
  async #keepsCheckpoint(file: string): Promise<void> {
    const previous = await readCheckpoint(file);
    if (previous === null) {
      // Moved away (what the operator does once a loss is understood), or never written: the
      // checkpoint about to be written is of the trail as it is, so the trail is ready again now,
      // not one interval later when that new file is read back.
      this.#discontinuity = null;
      return;
    }
    const hash = await hashAt(this.db, previous.seq);
    if (hash === previous.hash) {
      this.#discontinuity = null;
      return;
    }
    this.#discontinuity = `the trail does not hold the record the checkpoint ${file} names (seq ${String(previous.seq)}, `
      + `${hash === null ? 'missing' : 'another hash'}): records were lost or replaced since it was written. The file is kept as the evidence; `
      + 'run jitgate audit verify --checkpoint on it, then move it away to checkpoint the trail as it is now';
    throw jitgateError('AUDIT_UNAVAILABLE', this.#discontinuity);
  }
}

/** `witnesses`: the services `config.checkpoint_service` names, resolved by the caller (it holds the top-level `services`). */
export function createAuditTrail(db: Db, config: AuditConfig, hooks: AuditTrailHooks = {}, witnesses: readonly CheckpointWitness[] = []): AuditTrail {
  return new StoreAuditTrail(db, config, hooks, witnesses);
}
