// Turns request headers (and a verified client certificate) into a verified Subject, or refuses
// (401). One credential per request: a bearer token (JWT or API key), an X-Api-Key header, or a
// mapped workload certificate, never two.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { decodeJwt } from 'jose';
import type { Logger } from 'pino';
import type { Subject } from '../policy/index.js';
import { jitgateError } from '../errors.js';
import { shownUrl } from '../shown-url.js';
import { API_KEY_PREFIX, ApiKeyVerifier } from './apikeys.js';
import { CertificateIdentities } from './certificates.js';
import type { IdentityConfig, JwtConfig } from './config.js';
import { createDevIssuer, DEV_ALGORITHM, type DevIssuer } from './dev-issuer.js';
import { JwksKeySet, jwksFromDiscovery, jwksFromFile, jwksFromUrl, StaticKeySet, type KeyRefreshState, type KeySet, type KeysReadiness } from './keyset.js';
import { JwtVerifier } from './jwt.js';
import type { Authenticator } from './types.js';

export const API_KEY_HEADER = 'x-api-key';

export interface ManagedAuthenticator extends Authenticator {
  /**
   * Loads the keys of the sets it made itself (JWKS, PEM file, dev issuer key); call before
   * serving. `keysRequired`: a set that cannot load its keys fails the start (a reload), rather
   * than refusing tokens until it can (a gateway starting while its issuer is down).
   */
  start(options?: { keysRequired?: boolean }): Promise<void>;
  /** Stops its key sets' refreshes, except those in `keep` (handed on to a successor). */
  stop(keep?: ReadonlySet<KeySet>): void;
  /** Its key sets, by the settings they were made from: a successor with the same settings shares them. */
  readonly keySets: ReadonlyMap<string, KeySet>;
}

/** A key file's content, as a digest: a file replaced in place is other keys under the same settings. */
function fileDigest(path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch (err) {
    return `unreadable: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * What a JWT key set is made from: its settings, and the content of the key file it reads once
 * (a PEM key, or a JWKS file not refreshed on its own). So a reload after the file was replaced
 * makes a new set, whose tokens are verified afresh.
 */
function jwtKeySettings(jwt: JwtConfig): string {
  const file = jwt.public_key_file ?? jwt.jwks_file;
  return `jwt ${JSON.stringify(jwt)}${file === undefined ? '' : ` ${fileDigest(file)}`}`;
}

/** Whether `config`'s key sources differ from the ones `running` was made from (a key file replaced). */
export function keySourcesChanged(running: ManagedAuthenticator, config: IdentityConfig): boolean {
  return config.jwt !== undefined && !running.keySets.has(jwtKeySettings(config.jwt));
}

/** Told of each refresh of an issuer's keys that failed (the metrics count them). */
export type KeyRefreshFailed = (issuer: string) => void;

function keySetFor(jwt: JwtConfig, logger: Logger, onRefreshFailed: KeyRefreshFailed | undefined): KeySet {
  const common = {
    minRefreshIntervalMs: jwt.jwks_refresh_min_interval_seconds * 1000,
    maxAgeMs: jwt.jwks_max_age_seconds * 1000,
    logger,
    issuer: jwt.issuer,
    ...(onRefreshFailed ? { onRefreshFailed } : {}),
  };
  const sources = [jwt.discovery === true, jwt.jwks_url, jwt.jwks_file, jwt.public_key_file].filter(Boolean).length;
  if (sources !== 1) {
    throw jitgateError('CONFIG_INVALID', 'identity.jwt needs exactly one of discovery, jwks_url, jwks_file, public_key_file');
  }
  const limits = { timeoutMs: jwt.jwks_fetch_timeout_ms, maxBytes: jwt.jwks_fetch_max_bytes };
  if (jwt.jwks_url) return new JwksKeySet({ ...common, fetchJwks: jwksFromUrl(jwt.jwks_url, limits), source: shownUrl(jwt.jwks_url) });
  if (jwt.jwks_file) return new JwksKeySet({ ...common, fetchJwks: jwksFromFile(jwt.jwks_file), source: jwt.jwks_file });
  if (jwt.discovery) return new JwksKeySet({ ...common, fetchJwks: jwksFromDiscovery(jwt.issuer, limits), source: shownUrl(jwt.issuer) });
  // public_key_file: loaded in start().
  return new LazyPemKeySet(jwt.public_key_file ?? '');
}

/** A PEM key read at start(), so construction stays synchronous. */
class LazyPemKeySet implements KeySet {
  private inner: StaticKeySet | null = null;
  readonly generation = 0;
  constructor(private readonly path: string) {}
  async start(): Promise<void> {
    // Required or not: a key file that cannot be read stops the start.
    this.inner = await StaticKeySet.fromPemFile(this.path);
  }
  stop(): void {
    /* static */
  }
  resolve(): ReturnType<KeySet['resolve']> {
    if (!this.inner) return Promise.reject(jitgateError('KEYS_UNAVAILABLE'));
    return this.inner.resolve();
  }
  stillTrusts(): boolean {
    return this.inner !== null;
  }
  readiness(): Promise<KeysReadiness> {
    return Promise.resolve(this.inner ? { ok: true } : { ok: false, detail: `${this.path}: the public key is not loaded` });
  }
  refreshState(): null {
    return null;
  }
}

function single(value: string | string[] | undefined): string | undefined {
  if (Array.isArray(value)) {
    if (value.length > 1) throw jitgateError('IDENTITY_AMBIGUOUS', 'a credential header is repeated');
    return value[0];
  }
  return value;
}

/**
 * `previous`: the authenticator this one replaces (a config reload); its key sets made from the
 * same settings are shared rather than loaded again, so a change elsewhere (an API key revoked)
 * does not wait on, or fail with, the token issuer.
 */
export function createAuthenticator(config: IdentityConfig, deps: { logger: Logger; previous?: ManagedAuthenticator; onKeyRefreshFailed?: KeyRefreshFailed }): ManagedAuthenticator {
  const { logger } = deps;
  const apiKeys = new ApiKeyVerifier(config.api_keys);
  const serviceIds = new Set([...config.api_keys, ...config.client_certificates].map((s) => s.subject));
  const certificates = new CertificateIdentities(config.client_certificates);
  const verifiers = new Map<string, JwtVerifier>();
  const keySets = new Map<string, KeySet>();
  /** The sets made here (not shared from `previous`): the ones start() loads. */
  const made = new Set<KeySet>();
  const keySet = (settings: string, make: () => KeySet): KeySet => {
    let keys = deps.previous?.keySets.get(settings);
    if (keys === undefined) {
      keys = make();
      made.add(keys);
    }
    keySets.set(settings, keys);
    return keys;
  };
  if (config.jwt) {
    const jwt = config.jwt;
    const keys = keySet(jwtKeySettings(jwt), () => keySetFor(jwt, logger, deps.onKeyRefreshFailed));
    verifiers.set(config.jwt.issuer, new JwtVerifier({
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      algorithms: config.jwt.algorithms,
      clockSkewSeconds: config.jwt.clock_skew_seconds,
      subjectClaim: config.jwt.subject_claim,
      groupsClaim: config.jwt.groups_claim,
      keys,
      cacheSize: config.jwt.token_cache_size,
      serviceIds,
    }));
  }
  let dev: DevIssuer | null = null;
  if (config.dev_issuer.enabled) {
    dev = createDevIssuer(config.dev_issuer);
    if (verifiers.has(dev.issuer)) throw jitgateError('CONFIG_INVALID', 'identity.jwt.issuer collides with the dev issuer');
    const devIssuer = dev;
    const keys = keySet(`dev_issuer ${JSON.stringify(config.dev_issuer)}`,
      () => new JwksKeySet({
        fetchJwks: () => devIssuer.jwks(), minRefreshIntervalMs: 60_000, maxAgeMs: 0, logger, source: 'dev_issuer', issuer: devIssuer.issuer,
        ...(deps.onKeyRefreshFailed ? { onRefreshFailed: deps.onKeyRefreshFailed } : {}),
      }));
    verifiers.set(dev.issuer, new JwtVerifier({
      issuer: dev.issuer,
      audience: dev.audience,
      algorithms: [DEV_ALGORITHM],
      clockSkewSeconds: 5,
      subjectClaim: 'sub',
      groupsClaim: 'groups',
      keys,
      cacheSize: 10_000,
      serviceIds,
    }));
  }

  const allVerifiers = [...verifiers.values()];

  async function verifyJwt(token: string): Promise<Subject> {
    // Hot path: a token seen before is answered from its verifier's cache without decoding it.
    for (const v of allVerifiers) {
      const hit = v.cached(token);
      if (hit) return hit;
    }
    // The unverified iss only picks which verifier runs; that verifier then requires it exactly.
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch (err) {
      throw jitgateError('TOKEN_INVALID', 'malformed token', undefined, err);
    }
    const verifier = typeof iss === 'string' ? verifiers.get(iss) : undefined;
    if (!verifier) throw jitgateError('TOKEN_INVALID', 'unknown issuer');
    return verifier.verify(token);
  }

  const sets = [...keySets.values()];
  return {
    keySets,
    async start(options = {}) {
      if (dev) {
        logger.warn({ issuer: dev.issuer, key_file: config.dev_issuer.key_file },
          'DEVELOPMENT TOKEN ISSUER IS ENABLED: anyone with its key file can mint identities. Never enable it outside a demo.');
      }
      await Promise.all([...made].map((k) => k.start(options.keysRequired === true)));
    },
    stop(keep) {
      for (const k of sets) if (!keep?.has(k)) k.stop();
    },
    get keysGeneration() {
      // Each set's generation only grows, so the sum changes whenever any of them does.
      let sum = 0;
      for (const k of sets) sum += k.generation;
      return sum;
    },
    authenticate(headers, certificate) {
      try {
        const authorization = single(headers.authorization);
        const apiKey = single(headers[API_KEY_HEADER]);
        if (authorization !== undefined && apiKey !== undefined) {
          throw jitgateError('IDENTITY_AMBIGUOUS', 'both Authorization and X-Api-Key were presented');
        }
        const workload = certificate && !certificates.empty ? certificates.subjectFor(certificate) : null;
        if (workload !== null) {
          if (authorization !== undefined || apiKey !== undefined) {
            throw jitgateError('IDENTITY_AMBIGUOUS', 'a client certificate that is a credential, and a credential header, were presented');
          }
          return Promise.resolve(workload);
        }
        if (apiKey !== undefined) return Promise.resolve(apiKeys.verify(apiKey.trim()));
        if (authorization === undefined) throw jitgateError('UNAUTHENTICATED');
        const m = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(authorization);
        if (!m?.[1]) throw jitgateError('TOKEN_INVALID', 'only Bearer credentials are accepted');
        const credential = m[1];
        if (credential.startsWith(API_KEY_PREFIX)) return Promise.resolve(apiKeys.verify(credential));
        return verifyJwt(credential);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },
  };
}

/**
 * /readyz for the identity part: every key set the current settings verify tokens against has
 * keys. One that does not (its issuer was down when the gateway started) refuses all its tokens.
 * One whose refreshes fail since it loaded makes the check `degraded`, still ok.
 */
export async function identityReadiness(auth: Pick<ManagedAuthenticator, 'keySets'>): Promise<KeysReadiness> {
  const results = await Promise.all([...auth.keySets.values()].map((k) => k.readiness()));
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) return { ok: false, detail: failed.map((r) => r.detail ?? 'not ready').join('; ') };
  const degraded = results.filter((r) => r.status === 'degraded');
  return degraded.length === 0 ? { ok: true } : { ok: true, status: 'degraded', detail: degraded.map((r) => r.detail ?? 'degraded').join('; ') };
}

/** For the metrics, sampled on scrape: the current settings' key sets that fetch their keys again. */
export function keyRefreshStates(auth: Pick<ManagedAuthenticator, 'keySets'>): KeyRefreshState[] {
  const states: KeyRefreshState[] = [];
  for (const k of auth.keySets.values()) {
    const state = k.refreshState();
    if (state !== null) states.push(state);
  }
  return states;
}
