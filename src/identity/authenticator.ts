// Turns request headers (and a verified client certificate) into a verified Subject, or refuses
// (401). One credential per request: a bearer token (JWT or API key), an X-Api-Key header, or a
// mapped workload certificate, never two.
import { decodeJwt } from 'jose';
import type { Logger } from 'pino';
import type { Subject } from '../policy/index.js';
import { jitgateError } from '../errors.js';
import { API_KEY_PREFIX, ApiKeyVerifier } from './apikeys.js';
import { CertificateIdentities } from './certificates.js';
import type { IdentityConfig, JwtConfig } from './config.js';
import { createDevIssuer, DEV_ALGORITHM, type DevIssuer } from './dev-issuer.js';
import { JwksKeySet, jwksFromDiscovery, jwksFromFile, jwksFromUrl, StaticKeySet, type KeySet } from './keyset.js';
import { JwtVerifier } from './jwt.js';
import type { Authenticator } from './types.js';

export const API_KEY_HEADER = 'x-api-key';

export interface ManagedAuthenticator extends Authenticator {
  /** Loads keys (JWKS, dev issuer key); call before serving. */
  start(): Promise<void>;
  stop(): void;
}

function keySetFor(jwt: JwtConfig, logger: Logger): KeySet {
  const common = {
    minRefreshIntervalMs: jwt.jwks_refresh_min_interval_seconds * 1000,
    maxAgeMs: jwt.jwks_max_age_seconds * 1000,
    logger,
  };
  const sources = [jwt.discovery === true, jwt.jwks_url, jwt.jwks_file, jwt.public_key_file].filter(Boolean).length;
  if (sources !== 1) {
    throw jitgateError('CONFIG_INVALID', 'identity.jwt needs exactly one of discovery, jwks_url, jwks_file, public_key_file');
  }
  if (jwt.jwks_url) return new JwksKeySet({ ...common, fetchJwks: jwksFromUrl(jwt.jwks_url), source: jwt.jwks_url });
  if (jwt.jwks_file) return new JwksKeySet({ ...common, fetchJwks: jwksFromFile(jwt.jwks_file), source: jwt.jwks_file });
  if (jwt.discovery) return new JwksKeySet({ ...common, fetchJwks: jwksFromDiscovery(jwt.issuer), source: jwt.issuer });
  // public_key_file: loaded in start().
  return new LazyPemKeySet(jwt.public_key_file ?? '');
}

/** A PEM key read at start(), so construction stays synchronous. */
class LazyPemKeySet implements KeySet {
  private inner: StaticKeySet | null = null;
  readonly generation = 0;
  constructor(private readonly path: string) {}
  async start(): Promise<void> {
    this.inner = await StaticKeySet.fromPemFile(this.path);
  }
  stop(): void {
    /* static */
  }
  resolve(): ReturnType<KeySet['resolve']> {
    if (!this.inner) return Promise.reject(jitgateError('TOKEN_INVALID', 'no verification key is loaded'));
    return this.inner.resolve();
  }
  stillTrusts(): boolean {
    return this.inner !== null;
  }
}

function single(value: string | string[] | undefined): string | undefined {
  if (Array.isArray(value)) {
    if (value.length > 1) throw jitgateError('IDENTITY_AMBIGUOUS', 'a credential header is repeated');
    return value[0];
  }
  return value;
}

export function createAuthenticator(config: IdentityConfig, deps: { logger: Logger }): ManagedAuthenticator {
  const { logger } = deps;
  const apiKeys = new ApiKeyVerifier(config.api_keys);
  const certificates = new CertificateIdentities(config.client_certificates);
  const verifiers = new Map<string, JwtVerifier>();
  const keySets: KeySet[] = [];
  if (config.jwt) {
    const keys = keySetFor(config.jwt, logger);
    keySets.push(keys);
    verifiers.set(config.jwt.issuer, new JwtVerifier({
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      algorithms: config.jwt.algorithms,
      clockSkewSeconds: config.jwt.clock_skew_seconds,
      subjectClaim: config.jwt.subject_claim,
      groupsClaim: config.jwt.groups_claim,
      keys,
      cacheSize: config.jwt.token_cache_size,
    }));
  }
  let dev: DevIssuer | null = null;
  if (config.dev_issuer.enabled) {
    dev = createDevIssuer(config.dev_issuer);
    if (verifiers.has(dev.issuer)) throw jitgateError('CONFIG_INVALID', 'identity.jwt.issuer collides with the dev issuer');
    const devIssuer = dev;
    const keys = new JwksKeySet({ fetchJwks: () => devIssuer.jwks(), minRefreshIntervalMs: 60_000, maxAgeMs: 0, logger, source: 'dev_issuer' });
    keySets.push(keys);
    verifiers.set(dev.issuer, new JwtVerifier({
      issuer: dev.issuer,
      audience: dev.audience,
      algorithms: [DEV_ALGORITHM],
      clockSkewSeconds: 5,
      subjectClaim: 'sub',
      groupsClaim: 'groups',
      keys,
      cacheSize: 10_000,
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

  return {
    async start() {
      if (dev) {
        logger.warn({ issuer: dev.issuer, key_file: config.dev_issuer.key_file },
          'DEVELOPMENT TOKEN ISSUER IS ENABLED: anyone with its key file can mint identities. Never enable it outside a demo.');
      }
      await Promise.all(keySets.map((k) => k.start()));
    },
    stop() {
      for (const k of keySets) k.stop();
    },
    get keysGeneration() {
      // Each set's generation only grows, so the sum changes whenever any of them does.
      let sum = 0;
      for (const k of keySets) sum += k.generation;
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
