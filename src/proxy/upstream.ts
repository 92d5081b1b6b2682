// One undici Pool (keep-alive, pooled connections) per upstream origin and connect timeout.
import { Pool, errors as undiciErrors } from 'undici';
import { jitgateError, type JitgateError } from '../errors.js';
import type { CompiledRoute } from './routes.js';

export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly connections: number) {}

  for(route: CompiledRoute): Pool {
    const key = `${route.origin}|${route.config.timeouts.connect_ms}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(route.origin, {
        connections: this.connections,
        pipelining: 1,
        connect: { timeout: route.config.timeouts.connect_ms },
        keepAliveTimeout: 4_000,
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => p.destroy())));
    this.pools.clear();
  }
}

/** Maps an upstream failure to a caller-safe error (the cause stays in our logs only). */
export function upstreamError(err: unknown): JitgateError {
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.ConnectTimeoutError
    || err instanceof undiciErrors.BodyTimeoutError) {
    return jitgateError('UPSTREAM_TIMEOUT', undefined, undefined, err);
  }
  return jitgateError('UPSTREAM_UNAVAILABLE', undefined, undefined, err);
}
