// Liveness and readiness. Components register named checks; /healthz reports the
// liveness checks, /readyz every readiness check with what is wrong when one fails.

export interface CheckResult {
  ok: boolean;
  /**
   * `degraded`: ok, and so ready, but in trouble worth an operator's look (a token issuer whose
   * key refreshes fail: its keys held keep serving). Absent when all is well.
   */
  status?: 'degraded';
  detail?: string;
}

export type HealthCheck = () => CheckResult | Promise<CheckResult>;

export interface HealthReport {
  ok: boolean;
  checks: Record<string, CheckResult>;
}

const CHECK_TIMEOUT_MS = 2000;

async function run(check: HealthCheck): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => { resolve({ ok: false, detail: `no answer within ${CHECK_TIMEOUT_MS} ms` }); }, CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([Promise.resolve().then(check), timeout]);
  } catch (err) {
    // A check that throws is a failed check, not a crashed probe.
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

export class HealthRegistry {
  private readonly live = new Map<string, HealthCheck>();
  private readonly ready = new Map<string, HealthCheck>();

  /** A readiness check (store reachable, policy loaded, ...). */
  register(name: string, check: HealthCheck): void {
    this.ready.set(name, check);
  }

  /** A liveness check: failing means the process should be restarted. Use sparingly. */
  registerLiveness(name: string, check: HealthCheck): void {
    this.live.set(name, check);
  }

  unregister(name: string): void {
    this.ready.delete(name);
    this.live.delete(name);
  }

  private async report(checks: Map<string, HealthCheck>): Promise<HealthReport> {
    const entries = await Promise.all([...checks].map(async ([name, check]) => [name, await run(check)] as const));
    return { ok: entries.every(([, r]) => r.ok), checks: Object.fromEntries(entries) };
  }

  /** /healthz: the process is alive (answers) and its liveness checks pass. */
  liveness(): Promise<HealthReport> {
    return this.report(this.live);
  }

  /** /readyz: every readiness check passes. No check registered means not ready: nothing vouches for it yet. */
  async readiness(): Promise<HealthReport> {
    if (this.ready.size === 0) return { ok: false, checks: { startup: { ok: false, detail: 'no component has reported yet' } } };
    return this.report(this.ready);
  }
}
