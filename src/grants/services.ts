// Wires the grants part for the gateway: store (migrated), cache, workflow, sweeper.
import type { AuditWriter } from '../audit/index.js';
import type { PolicyEvaluator } from '../policy/index.js';
import type { Db } from '../store/index.js';
import { GrantCache } from './cache.js';
import { systemClock, trustedClock, type Clock } from './clock.js';
import type { GrantsConfig } from './config.js';
import { createGrantStore, type GrantStore } from './store.js';
import { Sweeper } from './sweeper.js';
import { StoreWorkflow, type WorkflowEventSink, type WorkflowLogger } from './workflow.js';

export interface GrantServicesDeps {
  db: Db;
  policy: PolicyEvaluator;
  audit: AuditWriter;
  config: GrantsConfig;
  notifier?: WorkflowEventSink;
  logger?: WorkflowLogger;
  clock?: Clock;
  /** The data path's route names now: a request's scope must name one. */
  routeNames?: () => readonly string[];
}

export interface GrantServices {
  store: GrantStore;
  cache: GrantCache;
  workflow: StoreWorkflow;
  sweeper: Sweeper;
  gauges(): { activeGrants: number; pendingRequests: number };
  stop(): Promise<void>;
}

/** Applies the migrations, loads the cache and starts the sweeper. */
export async function createGrantServices(deps: GrantServicesDeps): Promise<GrantServices> {
  const store = createGrantStore(deps.db);
  await store.migrate();
  const onError = (err: unknown): void => deps.logger?.error({ err }, 'grants: store error');
  const clockOff = (): string | null => deps.db.clockOff();
  const cache = new GrantCache({ store, clock: deps.clock, clockOff, onError });
  await cache.start();
  // Whatever stamps or ends grants reads a clock known to agree with the other replicas'.
  const clock = trustedClock(deps.clock ?? systemClock, clockOff);
  const workflow = new StoreWorkflow({ ...deps, store, cache, clock });
  const sweeper = new Sweeper({
    store, audit: deps.audit, cache, notifier: deps.notifier, clock, intervalMs: deps.config.sweep_interval_ms, onError,
  });
  await sweeper.sweepOnce().catch(onError);
  sweeper.start();
  return {
    store, cache, workflow, sweeper,
    gauges: () => ({ activeGrants: cache.size, pendingRequests: sweeper.pendingRequests }),
    async stop() {
      await sweeper.stop();
      await cache.stop();
    },
  };
}
