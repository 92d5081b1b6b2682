// Ready-made readiness checks for HealthRegistry.
import type { Db } from '../store/index.js';
import type { CheckResult } from './health.js';

/** The store answers a trivial query. */
export function storeReachable(db: Db): () => Promise<CheckResult> {
  return async () => {
    try {
      await db.ping();
      return { ok: true, detail: `${db.dialect} reachable` };
    } catch (err) {
      return { ok: false, detail: `${db.dialect} unreachable: ${(err as Error).message}` };
    }
  };
}
