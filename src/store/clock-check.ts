// This process's clock against the shared database's. Every replica stamps the grants it approves
// and ends the ones it finds expired by its own clock, and each replica's sweeper ends them for all:
// one replica whose clock is off shortens or stretches every grant in the cluster, and approves
// requests past their deadline. So a replica whose clock is off by more than the bound stops
// deciding on grants (the data path answers 503, the workflow refuses, its sweeper waits).

/** How far this process's clock may be from the database's. NTP keeps hosts within milliseconds. */
export const MAX_CLOCK_OFFSET_MS = 1_000;

/**
 * Why the clock is off, or null. The database read its clock at some instant between our reads
 * `beforeMs` and `afterMs`, so the offset lies between `dbMs - afterMs` and `dbMs - beforeMs`:
 * only a clock off by more than the bound whatever the round trip took is called off.
 */
export function clockOffBy(beforeMs: number, dbMs: number, afterMs: number, boundMs = MAX_CLOCK_OFFSET_MS): string | null {
  const least = dbMs - afterMs;
  const most = dbMs - beforeMs;
  if (least > boundMs) return `this process's clock is ${String(Math.round(least))} ms or more behind the database's (at most ${String(boundMs)} ms is accepted)`;
  if (most < -boundMs) return `this process's clock is ${String(Math.round(-most))} ms or more ahead of the database's (at most ${String(boundMs)} ms is accepted)`;
  return null;
}

/**
 * A clock that steps back (a correction, a VM restored from a snapshot) would make grants that
 * ended live again and pending requests young again. Every reading is compared with the latest
 * one: while the clock is more than the bound behind it, it is off, until it has caught up.
 */
export class BackwardsStep {
  #latestMs = 0;

  /** Why the clock cannot be trusted now, or null. */
  check(nowMs: number = Date.now(), boundMs = MAX_CLOCK_OFFSET_MS): string | null {
    if (nowMs >= this.#latestMs) {
      this.#latestMs = nowMs;
      return null;
    }
    const back = this.#latestMs - nowMs;
    return back > boundMs ? `this process's clock stepped back ${String(back)} ms: grants are decided again once it is where it was` : null;
  }
}

/** The database's clock in ms since the epoch (PostgreSQL), as a number. */
export const DATABASE_CLOCK_SQL = 'SELECT (extract(epoch from clock_timestamp()) * 1000)::float8 AS ms';
