// Per-replica cache of active grants for the data path. Local writes are applied before
// the workflow call returns; writes by other replicas arrive through the store's change
// feed (one notification per changed grant id, re-read from the store). When the feed
// is lost the cache stops vouching for its content (ready = false) until a full resync.
import { NO_GRANTS, sealGrants, type GrantSet, type PolicyGrant } from '../policy/index.js';
import type { Grant } from './model.js';
import type { GrantReader, SubjectKey } from './types.js';
import type { GrantStore } from './store.js';
import { systemClock, iso, type Clock } from './clock.js';
import { toPolicyGrant } from './policy-grant.js';
import { UnreadableRowError } from './rows.js';

export const GRANTS_CHANNEL = 'jitgate_grants';

/** The cache's key for a subject: kinds are fixed words without a colon, so the id after it is unambiguous. */
function keyOf(subject: SubjectKey): string {
  return `${subject.kind}:${subject.id}`;
}

interface Entry {
  grant: PolicyGrant;
  startsMs: number;
  expiresMs: number;
}

/** A subject's sealed set, valid for every instant in [fromMs, untilMs): no grant starts or ends inside. */
interface SubjectView {
  grants: GrantSet;
  fromMs: number;
  untilMs: number;
}

/** The live grants at `nowMs` and the window around it in which that answer holds. */
function viewAt(entries: Iterable<Entry>, nowMs: number): SubjectView {
  const live: PolicyGrant[] = [];
  let fromMs = -Infinity;
  let untilMs = Infinity;
  for (const e of entries) {
    for (const edge of [e.startsMs, e.expiresMs]) {
      if (edge <= nowMs) fromMs = Math.max(fromMs, edge);
      else untilMs = Math.min(untilMs, edge);
    }
    // Expiry is enforced here, whatever the sweeper has or has not recorded yet.
    if (e.startsMs <= nowMs && nowMs < e.expiresMs) live.push(e.grant);
  }
  return { grants: live.length === 0 ? NO_GRANTS : sealGrants(live), fromMs, untilMs };
}

export interface GrantCacheOptions {
  store: GrantStore;
  clock?: Clock;
  /** Rows per query while loading. */
  pageSize?: number;
  /** Delay before a failed resync is retried. */
  retryDelayMs?: number;
  onError?: (err: unknown) => void;
  /** Why this process's clock cannot be trusted (Db.clockOff): the cache does not vouch meanwhile. */
  clockOff?: () => string | null;
  /** Called when `ready` changes (health, metrics, tests). */
  onReadyChange?: (ready: boolean) => void;
}

export class GrantCache implements GrantReader {
  readonly #store: GrantStore;
  readonly #clock: Clock;
  readonly #clockOff: () => string | null;
  readonly #pageSize: number;
  readonly #retryDelayMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #onReadyChange: (ready: boolean) => void;
  #bySubject = new Map<string, Map<string, Entry>>();
  #subjectOf = new Map<string, string>();
  /**
   * The set last handed out per subject. Reusing it lets the policy engine keep the set parsed
   * in wasm memory; it is dropped whenever one of the subject's grants changes.
   */
  #views = new Map<string, SubjectView>();
  /** Grants seen ending since the last resync: a late re-read must not bring them back (ending is final). */
  #ended = new Set<string>();
  #ready = false;
  #feedLive = false;
  /** Bumped whenever the content stops being trustworthy; stale loads and re-reads are dropped. */
  #generation = 0;
  /** While a resync loads, changed ids are collected here and re-read once it is done. */
  #changedDuringLoad: Set<string> | null = null;
  #unlisten: (() => Promise<void>) | null = null;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #resyncs = 0;

  constructor(options: GrantCacheOptions) {
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    this.#clockOff = options.clockOff ?? (() => null);
    this.#pageSize = options.pageSize ?? 10_000;
    this.#retryDelayMs = options.retryDelayMs ?? 250;
    this.#onError = options.onError ?? (() => undefined);
    this.#onReadyChange = options.onReadyChange ?? (() => undefined);
  }

  /** In sync with the store, on a clock that agrees with the store's. */
  get ready(): boolean {
    return this.#ready && this.#clockOff() === null;
  }

  /** Number of cached grants (active when cached; some may have ended since). */
  get size(): number {
    return this.#subjectOf.size;
  }

  /** How many full loads ran (first load included). */
  get resyncCount(): number {
    return this.#resyncs;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    // Listen first, then load: a change committed during the load is either in the load or re-read after it.
    this.#unlisten = await this.#store.db.listen(
      GRANTS_CHANNEL,
      (id) => { this.#changed(id); },
      () => {
        this.#feedLive = true;
        void this.#resync();
      },
      () => {
        this.#feedLive = false;
        this.#distrust();
      },
    );
    this.#feedLive = true;
    await this.#resync();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#distrust();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    const unlisten = this.#unlisten;
    this.#unlisten = null;
    if (unlisten) await unlisten();
  }

  async stillActive(grantIds: readonly string[], nowMs: number): Promise<boolean> {
    // On SQLite one process writes, and every change is in its cache before the call making it returns.
    if (grantIds.length === 0 || this.#store.db.dialect === 'sqlite') return true;
    const grants = await Promise.all(grantIds.map((id) => this.#store.getGrant(this.#store.db, id)));
    return grants.every((g) => g !== null && g.status === 'active' && Date.parse(g.expires_at) > nowMs);
  }

  activeGrants(subject: SubjectKey, nowMs: number): GrantSet {
    if (!this.ready) return NO_GRANTS;
    const key = keyOf(subject);
    const entries = this.#bySubject.get(key);
    if (!entries) return NO_GRANTS;
    const known = this.#views.get(key);
    if (known && known.fromMs <= nowMs && nowMs < known.untilMs) return known.grants;
    const view = viewAt(entries.values(), nowMs);
    this.#views.set(key, view);
    return view.grants;
  }

  /** Applies a grant's current state (local writes call this before returning). */
  apply(grant: Grant): void {
    this.#changedDuringLoad?.add(grant.id);
    this.#put(grant);
  }

  /** A changed grant as stored now; null when it is gone or its row cannot be read (reported), so it is not honoured. */
  async #readChanged(id: string): Promise<Grant | null> {
    try {
      return await this.#store.getGrant(this.#store.db, id);
    } catch (err) {
      if (!(err instanceof UnreadableRowError)) throw err;
      this.#onError(err);
      return null;
    }
  }

  /** A changed grant as re-read; one no longer in the store (deleted by hand) ends like a revoked one. */
  #putOrGone(id: string, grant: Grant | null): void {
    if (grant) {
      this.#put(grant);
      return;
    }
    this.#ended.add(id);
    this.#remove(id);
  }

  #put(grant: Grant): void {
    const expiresMs = Date.parse(grant.expires_at);
    if (grant.status !== 'active' || expiresMs <= this.#clock()) {
      this.#ended.add(grant.id);
      this.#remove(grant.id);
      return;
    }
    if (this.#ended.has(grant.id)) return;
    const subject = keyOf(grant.subject);
    let entries = this.#bySubject.get(subject);
    if (!entries) this.#bySubject.set(subject, (entries = new Map<string, Entry>()));
    entries.set(grant.id, { grant: toPolicyGrant(grant), startsMs: Date.parse(grant.starts_at), expiresMs });
    this.#subjectOf.set(grant.id, subject);
    this.#views.delete(subject);
  }

  #remove(id: string): void {
    const subject = this.#subjectOf.get(id);
    if (subject === undefined) return;
    this.#subjectOf.delete(id);
    this.#views.delete(subject);
    const entries = this.#bySubject.get(subject);
    entries?.delete(id);
    if (entries?.size === 0) this.#bySubject.delete(subject);
  }

  #changed(id: string): void {
    if (this.#changedDuringLoad) {
      this.#changedDuringLoad.add(id);
      return;
    }
    void this.#reread(id, this.#generation);
  }

  async #reread(id: string, generation: number): Promise<void> {
    try {
      const grant = await this.#readChanged(id);
      if (generation !== this.#generation) return;
      this.#putOrGone(id, grant);
    } catch (err) {
      // A change we could not read leaves the cache unable to vouch for this grant: resync.
      this.#onError(err);
      if (generation === this.#generation) {
        this.#distrust();
        this.#scheduleResync();
      }
    }
  }

  #canVouch(): boolean {
    return this.#feedLive && !this.#stopped;
  }

  #distrust(): void {
    this.#setReady(false);
    this.#generation++;
  }

  #setReady(ready: boolean): void {
    if (ready === this.#ready) return;
    this.#ready = ready;
    this.#onReadyChange(ready);
  }

  #scheduleResync(): void {
    if (this.#stopped || this.#retryTimer) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      void this.#resync();
    }, this.#retryDelayMs);
    this.#retryTimer.unref();
  }

  /** Full load from the store, then re-read what changed meanwhile; ready only if the feed stayed up. */
  async #resync(): Promise<void> {
    if (this.#stopped) return;
    this.#distrust();
    const generation = this.#generation;
    const changed = new Set<string>();
    this.#changedDuringLoad = changed;
    try {
      const bySubject = new Map<string, Map<string, Entry>>();
      const subjectOf = new Map<string, string>();
      const nowIso = iso(this.#clock());
      let after = '';
      for (;;) {
        const page = await this.#store.activeGrantsPage(this.#store.db, nowIso, after, this.#pageSize);
        if (generation !== this.#generation) return;
        // Left out, so not honoured: that grant fails closed, every other still serves.
        for (const unreadable of page.unreadable) this.#onError(unreadable);
        for (const a of page.grants) {
          const subject = keyOf(a.subject);
          let entries = bySubject.get(subject);
          if (!entries) bySubject.set(subject, (entries = new Map<string, Entry>()));
          entries.set(a.grant.id, { grant: a.grant, startsMs: a.startsMs, expiresMs: a.expiresMs });
          subjectOf.set(a.grant.id, subject);
        }
        if (page.next === null) break;
        after = page.next;
      }
      this.#bySubject = bySubject;
      this.#subjectOf = subjectOf;
      this.#views = new Map();
      this.#ended = new Set();
      this.#changedDuringLoad = null;
      for (const id of changed) {
        const grant = await this.#readChanged(id);
        if (generation !== this.#generation) return;
        this.#putOrGone(id, grant);
      }
      this.#resyncs++;
      // The feed may have dropped while we loaded (fields change from callbacks): vouch only if it is still up.
      this.#setReady(this.#canVouch());
    } catch (err) {
      this.#onError(err);
      if (generation === this.#generation) {
        this.#changedDuringLoad = null;
        this.#distrust();
        this.#scheduleResync();
      }
    } finally {
      if (Object.is(this.#changedDuringLoad, changed)) this.#changedDuringLoad = null;
    }
  }
}
