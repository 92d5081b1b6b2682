// One undici Pool (keep-alive, pooled connections) per upstream origin, connect timeout and TLS
// setup. A reload that changes a route's upstream or its TLS files closes the pools no route
// uses any more (requests in flight on them finish first).
import { Pool, errors as undiciErrors } from 'undici';
import { jitgateError, type JitgateError } from '../errors.js';
import { EncodedResponse } from './relay.js';
import type { CompiledRoute } from './routes.js';

export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly connections: number) {}

  for(route: CompiledRoute): Pool {
    const key = poolKey(route);
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(route.origin, {
        connections: this.connections,
        pipelining: 1,
        connect: { timeout: route.config.timeouts.connect_ms, ...route.tls?.connect },
        keepAliveTimeout: 4_000,
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Closes the pools none of `routes` uses (after a reload). */
  retain(routes: readonly CompiledRoute[]): void {
    const used = new Set(routes.map(poolKey));
    for (const [key, pool] of this.pools) {
      if (used.has(key)) continue;
      this.pools.delete(key);
      void pool.close().catch(() => pool.destroy().catch(() => undefined));
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => p.destroy())));
    this.pools.clear();
  }
}

function poolKey(route: CompiledRoute): string {
  return `${route.origin}|${route.config.timeouts.connect_ms}|${route.tls?.id ?? ''}`;
}

/** Maps an upstream failure to a caller-safe error (the cause stays in our logs only). */
export function upstreamError(err: unknown): JitgateError {
  if (err instanceof EncodedResponse) return jitgateError('UPSTREAM_ENCODED', undefined, undefined, err);
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.ConnectTimeoutError
    || err instanceof undiciErrors.BodyTimeoutError) {
    return jitgateError('UPSTREAM_TIMEOUT', undefined, undefined, err);
  }
  return jitgateError('UPSTREAM_UNAVAILABLE', undefined, undefined, err);
}

/**
 * An upstream failure as the log may hold it: its kind and message, the secrets masked. Never the
 * error itself: undici's parser errors carry the upstream's raw bytes (`data`), which may be an
 * echo of the credential the gateway sent.
 */
export function upstreamFailure(err: unknown, mask: (text: string) => string): { name: string; code?: string; message: string } {
  if (!(err instanceof Error)) return { name: 'Error', message: mask(String(err)) };
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? { name: err.name, code, message: mask(err.message) } : { name: err.name, message: mask(err.message) };
}
