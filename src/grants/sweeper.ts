// Records the end of what ended on its own: an `expired` event for each grant past its
// end and each pending request past its deadline. Expiry itself does not wait for this
// (the cache never hands an ended grant to the policy); the sweeper makes it visible in
// the history and the audit trail. Several replicas may sweep: conditional updates make
// each end recorded exactly once.
import type { AuditEntry, AuditWriter } from '../audit/index.js';
import { AUDIT_CHAIN_LOCK } from '../audit/index.js';
import { GRANTS_CHANNEL } from './cache.js';
import { iso, systemClock, type Clock } from './clock.js';
import type { AccessRequest } from './model.js';
import { publicGrant, UnreadableRowError, type StoredGrant } from './rows.js';
import type { GrantStore } from './store.js';
import type { WorkflowEvent } from './types.js';
import type { GrantSink, WorkflowEventSink } from './workflow.js';

export interface SweeperOptions {
  store: GrantStore;
  audit: AuditWriter;
  intervalMs: number;
  cache?: GrantSink;
  notifier?: WorkflowEventSink;
  clock?: Clock;
  /** Rows per transaction. */
  batchSize?: number;
  onError?: (err: unknown) => void;
}

interface Ended {
  events: WorkflowEvent[];
  grants: StoredGrant[];
}

function entry(kind: 'grant.expired' | 'request.expired', req: AccessRequest, grantId: string | null, details: Record<string, unknown>): AuditEntry {
  return {
    kind, actor: 'system', subject: req.requester.id, request_id: req.id, grant_id: grantId, role: req.role,
    route: req.scope?.route ?? null, decision_id: null, policy_revision: req.policy_revision, reason: null, details,
  };
}

export class Sweeper {
  readonly #o: SweeperOptions;
  readonly #clock: Clock;
  readonly #batch: number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> | null = null;
  #pending = 0;

  constructor(options: SweeperOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#batch = options.batchSize ?? 200;
  }

  /** Pending requests counted at the last sweep (metrics). */
  get pendingRequests(): number {
    return this.#pending;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = this.sweepOnce()
        .catch((err: unknown) => this.#o.onError?.(err))
        .finally(() => { this.#running = null; });
    }, this.#o.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** One pass; returns how many grants and requests it recorded as expired. */
  async sweepOnce(): Promise<{ grants: number; requests: number }> {
    let grants = 0;
    let requests = 0;
    for (;;) {
      const n = await this.#batchOf('grants');
      grants += n.done;
      if (n.seen < this.#batch) break;
    }
    for (;;) {
      const n = await this.#batchOf('requests');
      requests += n.done;
      if (n.seen < this.#batch) break;
    }
    this.#pending = await this.#o.store.countPending(this.#o.store.db);
    return { grants, requests };
  }

  async #batchOf(what: 'grants' | 'requests'): Promise<{ seen: number; done: number }> {
    const { store, audit } = this.#o;
    const nowMs = this.#clock();
    const now = iso(nowMs);
    const ids = what === 'grants' ? await store.endedGrantIds(store.db, now, this.#batch) : await store.stalePendingIds(store.db, now, this.#batch);
    if (ids.length === 0) return { seen: 0, done: 0 };
    const ended = await store.db.tx(async (sql): Promise<Ended> => {
      const out: Ended = { events: [], grants: [] };
      const entries: AuditEntry[] = [];
      for (const id of ids) {
        if (what === 'grants') {
          // Another replica may have recorded it first: the conditional update decides.
          if (!(await store.markGrantExpired(sql, id, now))) continue;
          let g: StoredGrant | null;
          try {
            g = await store.getGrant(sql, id);
          } catch (err) {
            if (!(err instanceof UnreadableRowError)) throw err;
            // Marked expired all the same, and every cache told; no audit record can say what it
            // held, so the log does. The rest of the batch goes on.
            this.#o.onError?.(err);
            await store.db.notify(GRANTS_CHANNEL, id, sql);
            continue;
          }
          const req = g ? await store.getRequest(sql, g.request_id) : null;
          if (!g || !req) continue;
          const expired: StoredGrant = { ...g, status: 'expired', expired_recorded_at: now };
          out.grants.push(expired);
          entries.push(entry('grant.expired', req, id, { expires_at: g.expires_at }));
          out.events.push({ type: 'grant.expired', at: now, actor: 'system', request: req, grant: publicGrant(expired), policy_revision: null });
          await store.db.notify(GRANTS_CHANNEL, id, sql);
        } else {
          if (!(await store.decideRequest(sql, id, { status: 'expired', at: now, by: 'system', comment: null, grantId: null }))) continue;
          const req = await store.getRequest(sql, id);
          if (!req) continue;
          entries.push(entry('request.expired', req, null, { pending_expires_at: req.pending_expires_at }));
          out.events.push({ type: 'request.expired', at: now, actor: 'system', request: req, grant: null, policy_revision: null });
        }
      }
      if (entries.length > 0) await audit.appendWithin(sql, entries);
      return out;
    }, { lockKey: AUDIT_CHAIN_LOCK });
    for (const g of ended.grants) this.#o.cache?.apply(g);
    for (const e of ended.events) {
      try {
        this.#o.notifier?.notify(e);
      } catch (err) {
        this.#o.onError?.(err);
      }
    }
    return { seen: ids.length, done: ended.events.length };
  }
}
