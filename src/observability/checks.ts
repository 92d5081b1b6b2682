// Ready-made readiness checks for HealthRegistry.
import { StoreNotWritable, type Db } from '../store/index.js';
import type { CheckResult } from './health.js';

/** The store answers a trivial query, and takes writes. */
export function storeReachable(db: Db): () => Promise<CheckResult> {
  return async () => {
    try {
      await db.ping();
      return { ok: true, detail: `${db.dialect} reachable` };
    } catch (err) {
      const why = err instanceof StoreNotWritable ? 'cannot write' : 'unreachable';
      return { ok: false, detail: `${db.dialect} ${why}: ${(err as Error).message}` };
    }
  };
}
