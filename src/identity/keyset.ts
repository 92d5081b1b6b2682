// Where JWT verification keys come from: a JWKS (discovered from the issuer, a URL or a file) or one
// PEM public key. Remote sets are cached, refreshed when a token names an unknown `kid` (at most once
// per min interval, so garbage kids cannot turn the gateway into a JWKS hammer) and periodically, so a
// key the issuer withdrew stops being trusted.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, errors, type CryptoKey, type JSONWebKeySet, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import type { Logger } from 'pino';
import { jitgateError } from '../errors.js';
import { fetchLimited } from '../fetch-limited.js';
import { shownUrl } from '../shown-url.js';

type Resolved = CryptoKey | KeyObject;

export interface KeySet {
  /** Key lookup for jose's jwtVerify. */
  resolve(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Resolved>;
  /**
   * Whether a token verified earlier under `kid` (null: the token named none) is still vouched for.
   * Cached verifications call this on every hit, so it must be cheap.
   */
  stillTrusts(kid: string | null, generation: number): boolean;
  /** Bumped each time the set of keys changes. */
  readonly generation: number;
  /** `required`: keys that cannot be loaded fail the start instead of being retried on demand. */
  start(required?: boolean): Promise<void>;
  stop(): void;
  /** For /readyz: whether tokens it vouches for can be verified now. */
  readiness(): Promise<KeysReadiness>;
  /** For the metrics: its refreshes, if it fetches its keys again (null: keys loaded once). */
  refreshState(): KeyRefreshState | null;
}

/**
 * `degraded`: tokens are verified, with the keys of the last good refresh, but the refreshes
 * since have failed (a key the issuer added is not learnt, one it withdrew is still trusted).
 */
export interface KeysReadiness { ok: boolean; status?: 'degraded'; detail?: string }

export interface KeyRefreshState {
  /** The token issuer (its `iss`), the metrics' label. */
  issuer: string;
  /** When a refresh last succeeded (ms since the epoch); null: never. */
  lastSuccessMs: number | null;
}

/** One static key: never changes, so everything verified under it stays trusted. */
export class StaticKeySet implements KeySet {
  readonly generation = 0;
  private constructor(private readonly key: KeyObject) {}

  static async fromPemFile(path: string): Promise<StaticKeySet> {
    const pem = await readFile(path, 'utf8');
    return new StaticKeySet(createPublicKey(pem));
  }

  resolve(): Promise<Resolved> {
    return Promise.resolve(this.key);
  }
  stillTrusts(): boolean {
    return true;
  }
  start(): Promise<void> {
    return Promise.resolve();
  }
  stop(): void {
    /* nothing to stop */
  }
  readiness(): Promise<KeysReadiness> {
    return Promise.resolve({ ok: true });
  }
  refreshState(): null {
    return null;
  }
}

function isJwks(value: unknown): value is JSONWebKeySet {
  return typeof value === 'object' && value !== null && Array.isArray((value as { keys?: unknown }).keys);
}

export interface JwksSourceOptions {
  /** Returns the current JWKS document. */
  fetchJwks: () => Promise<unknown>;
  /** Minimum ms between refreshes triggered by unknown kids. */
  minRefreshIntervalMs: number;
  /** Periodic refresh, so withdrawn keys stop being trusted even if no token asks. 0 = off. */
  maxAgeMs: number;
  logger: Logger;
  /** Label for logs. */
  source: string;
  /** The token issuer whose keys these are: the metrics' label, named in /readyz. */
  issuer: string;
  /** Told of each refresh that failed (the metrics' counter). */
  onRefreshFailed?: (issuer: string) => void;
}

/** At most one warning per this long for a set whose refreshes keep failing (each failure still counts). */
const FAILURE_WARNING_INTERVAL_MS = 60_000;

/** How much of an error /readyz repeats: a few words, not a body an issuer chose to send. */
const SHOWN_ERROR_CHARS = 200;

function shortError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.length > SHOWN_ERROR_CHARS ? `${text.slice(0, SHOWN_ERROR_CHARS)}…` : text;
}

export class JwksKeySet implements KeySet {
  private local: ReturnType<typeof createLocalJWKSet> | null = null;
  /** Per kid, the generation in which the keys under it last changed (a kid reused for a new key is a new key). */
  private kidSince = new Map<string, number>();
  private kidKeys = new Map<string, string>();
  private fingerprint = '';
  private lastRefreshMs = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastError: string | null = null;
  private lastSuccessMs: number | null = null;
  /** The refreshes that failed since the last good one, and when the first of them did. */
  private failures = 0;
  private failingSinceMs = 0;
  /** When the last warning was logged, and the failures since that it did not report. */
  private lastWarningMs = Number.NEGATIVE_INFINITY;
  private unreported = 0;
  generation = 0;

  constructor(private readonly opts: JwksSourceOptions) {}

  async start(required = false): Promise<void> {
    try {
      await this.refresh();
    } catch (err) {
      if (required) throw jitgateError('CONFIG_INVALID', `${this.opts.source}: the JWKS could not be loaded: ${err instanceof Error ? err.message : String(err)}`, undefined, err);
      // Not fatal: its tokens are refused (503) until the issuer is reachable; retried on demand
      // (refresh() logged it).
    }
    if (this.opts.maxAgeMs > 0 && !this.timer) {
      this.timer = setInterval(() => {
        this.refresh().catch(() => undefined);
      }, this.opts.maxAgeMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Single-flight: concurrent callers share one fetch. Each outcome is reported here, once. */
  refresh(): Promise<void> {
    this.inflight ??= this.load().then(
      () => { this.succeeded(); },
      (err: unknown) => { this.failed(err); throw err; },
    ).finally(() => { this.inflight = null; });
    return this.inflight;
  }

  private succeeded(): void {
    if (this.failures > 0) {
      this.opts.logger.info({ source: this.opts.source, issuer: this.opts.issuer, failures: this.failures, failing_since: new Date(this.failingSinceMs).toISOString() },
        'JWKS refresh succeeded again');
    }
    this.lastError = null;
    this.lastSuccessMs = Date.now();
    this.failures = 0;
    this.unreported = 0;
    this.lastWarningMs = Number.NEGATIVE_INFINITY;
  }

  /**
   * Counted every time, logged at most once a minute: a refresh runs per unknown kid (as often as
   * jwks_refresh_min_interval_seconds lets it, which may be 0), so a stream of tokens naming
   * garbage kids while the issuer is down would otherwise write a line per token.
   */
  private failed(err: unknown): void {
    const now = Date.now();
    this.lastError = shortError(err);
    if (this.failures === 0) this.failingSinceMs = now;
    this.failures++;
    this.opts.onRefreshFailed?.(this.opts.issuer);
    if (now - this.lastWarningMs < FAILURE_WARNING_INTERVAL_MS) {
      this.unreported++;
      return;
    }
    const fields = {
      err, source: this.opts.source, issuer: this.opts.issuer, failures: this.failures,
      failing_since: new Date(this.failingSinceMs).toISOString(), not_logged_since_last_warning: this.unreported,
      last_success: this.lastSuccessMs === null ? null : new Date(this.lastSuccessMs).toISOString(),
    };
    this.lastWarningMs = now;
    this.unreported = 0;
    if (this.lastSuccessMs === null) this.opts.logger.error(fields, 'JWKS could not be loaded; its tokens are refused until it can');
    else this.opts.logger.warn(fields, 'JWKS refresh failed; the keys of the last good refresh stay in use');
  }

  /**
   * Ready once keys have loaded: until then every token it vouches for is refused (503). A set that
   * has never loaded asks again on each probe, as often as an unknown kid may make it, so a replica
   * the load balancer took out (and so no token reaches) still comes back when its issuer does.
   * Keys loaded but refreshes failing since is `degraded`, still ready: every replica shares the
   * issuer, so failing them all would turn its outage into the gateway's.
   */
  async readiness(): Promise<KeysReadiness> {
    if (!this.loaded()) await this.refreshForUnknownKid();
    if (!this.loaded()) {
      return { ok: false, detail: `${this.opts.source}: no keys loaded yet${this.lastError === null ? '' : ` (${this.lastError})`}; its tokens are refused` };
    }
    if (this.lastError === null) return { ok: true };
    const since = new Date(this.failingSinceMs).toISOString();
    const good = this.lastSuccessMs === null ? 'never' : new Date(this.lastSuccessMs).toISOString();
    return {
      ok: true,
      status: 'degraded',
      detail: `${this.opts.issuer}: key refreshes failing since ${since} (${String(this.failures)} in a row; last: ${this.lastError}); serving the keys of the last good refresh, at ${good}`,
    };
  }

  refreshState(): KeyRefreshState {
    return { issuer: this.opts.issuer, lastSuccessMs: this.lastSuccessMs };
  }

  private loaded(): boolean {
    return this.local !== null;
  }

  private async load(): Promise<void> {
    this.lastRefreshMs = Date.now();
    const doc = await this.opts.fetchJwks();
    if (!isJwks(doc)) throw jitgateError('TOKEN_INVALID', `${this.opts.source}: not a JWKS document`);
    const fingerprint = JSON.stringify(doc.keys);
    if (fingerprint === this.fingerprint && this.local) return;
    this.local = createLocalJWKSet(doc);
    this.generation++;
    const kidKeys = new Map<string, string>();
    for (const key of doc.keys) {
      if (typeof key.kid === 'string') kidKeys.set(key.kid, `${kidKeys.get(key.kid) ?? ''}${JSON.stringify(key)}`);
    }
    const kidSince = new Map<string, number>();
    for (const [kid, keys] of kidKeys) {
      const since = this.kidSince.get(kid);
      kidSince.set(kid, since !== undefined && this.kidKeys.get(kid) === keys ? since : this.generation);
    }
    this.kidKeys = kidKeys;
    this.kidSince = kidSince;
    this.fingerprint = fingerprint;
    this.opts.logger.info({ source: this.opts.source, kids: [...kidKeys.keys()] }, 'JWKS loaded');
  }

  async resolve(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Resolved> {
    if (!this.local || (header.kid !== undefined && !this.kidKeys.has(header.kid))) await this.refreshForUnknownKid();
    if (!this.local) throw jitgateError('KEYS_UNAVAILABLE');
    try {
      return await this.local(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey) throw jitgateError('TOKEN_INVALID', 'no key matches the token', undefined, err);
      throw err;
    }
  }

  private async refreshForUnknownKid(): Promise<void> {
    if (this.inflight) {
      await this.inflight.catch(() => undefined);
      return;
    }
    if (Date.now() - this.lastRefreshMs < this.opts.minRefreshIntervalMs) return;
    await this.refresh().catch(() => undefined);
  }

  stillTrusts(kid: string | null, generation: number): boolean {
    // A token without kid was matched to "the only suitable key"; any change of the set re-verifies it.
    if (kid === null) return generation === this.generation;
    // The kid must still be there, with the keys it had when the token was verified: issuers that
    // rotate a compromised key behind the same kid withdraw the old one that way.
    const since = this.kidSince.get(kid);
    return since !== undefined && since <= generation;
  }
}

/**
 * The bounds of one fetch of a discovery document or a JWKS (identity.jwt.jwks_fetch_timeout_ms
 * and jwks_fetch_max_bytes; by default 5 s and 4 MiB: such a document is a few KiB, and
 * thousands of keys would still fit).
 */
export interface JwksFetchLimits { timeoutMs: number; maxBytes: number }

async function fetchJson(url: string, limits: JwksFetchLimits): Promise<unknown> {
  // Bounded in time over head and body together and in size: with AbortSignal.timeout() alone, a
  // server that sent its head and then a byte a second held the single-flight refresh for good
  // once a garbage collection had run (a new kid was never learnt, its tokens hung), and one that
  // sent a body without end grew the gateway's memory by gigabytes.
  const res = await fetchLimited(url, { redirect: 'error' }, { timeoutMs: limits.timeoutMs, maxBytes: limits.maxBytes })
    .catch((err: unknown) => { throw new Error(`${shownUrl(url)}: ${err instanceof Error ? err.message : String(err)}`); });
  if (!res.ok) throw new Error(`${shownUrl(url)}: HTTP ${res.status}`);
  return JSON.parse(res.body.toString('utf8')) as unknown;
}

export function jwksFromUrl(url: string, limits: JwksFetchLimits): () => Promise<unknown> {
  return () => fetchJson(url, limits);
}

export function jwksFromFile(path: string): () => Promise<unknown> {
  return async () => JSON.parse(await readFile(path, 'utf8')) as unknown;
}

/** OIDC discovery: the issuer's metadata names its jwks_uri. Looked up on every refresh (cheap, rare). */
export function jwksFromDiscovery(issuer: string, limits: JwksFetchLimits): () => Promise<unknown> {
  const metadataUrl = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  return async () => {
    const meta = await fetchJson(metadataUrl, limits);
    const jwksUri = typeof meta === 'object' && meta !== null ? (meta as { jwks_uri?: unknown }).jwks_uri : undefined;
    if (typeof jwksUri !== 'string') throw new Error(`${shownUrl(metadataUrl)}: no jwks_uri`);
    return fetchJson(jwksUri, limits);
  };
}
