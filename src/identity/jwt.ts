// JWT bearer tokens: jose verifies signature, algorithm allowlist, issuer, audience, exp/nbf with a
// small skew. Claims become a Subject only after all of that passed.
import { decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import { seal, type Subject } from '../policy/index.js';
import { isJitgateError, jitgateError, type JitgateError } from '../errors.js';
import type { KeySet } from './keyset.js';
import { forbiddenCharIn, SUBJECT_ID_RULE } from './subject-id.js';
import { TokenCache } from './token-cache.js';

export interface JwtVerifierOptions {
  issuer: string;
  audience: string;
  algorithms: string[];
  clockSkewSeconds: number;
  subjectClaim: string;
  groupsClaim: string;
  keys: KeySet;
  /** Bound of the verified-token cache; 0 disables it. */
  cacheSize: number;
  /**
   * The ids of the configured services (API keys, workload certificates). A token naming one is
   * refused: grants and workflow rights follow a subject's id, so a person holding a service's id
   * would act as that service (and it as them).
   */
  serviceIds: ReadonlySet<string>;
}

function groupsFrom(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  // The string form is split on the ASCII space alone, as OAuth's scope is (RFC 6749 §3.3,
  // %x20). JavaScript's \s also matches U+FEFF, U+00A0, U+2028, tab and others: `eng\ufeffadmins`
  // became `eng` and `admins` instead of one name holding a character no name may hold (refused
  // below). A tab is no separator either: the name holding it is refused with the rest.
  const groups = typeof value === 'string' ? value.split(' ').filter((g) => g !== '')
    : Array.isArray(value) && value.every((g): g is string => typeof g === 'string') ? [...value]
    : null;
  if (groups === null) throw jitgateError('TOKEN_INVALID', 'the groups claim is malformed');
  // A group is shown beside the id (whoami, the console, the audit trail's subject): `approvers`
  // with a zero-width space would read as the group the policy names and be another.
  for (const g of groups) {
    const unfit = forbiddenCharIn(g);
    if (unfit !== null) throw jitgateError('TOKEN_INVALID', `a name in the groups claim ${SUBJECT_ID_RULE} (${unfit})`);
  }
  return groups;
}

/** Half of a UTF-16 surrogate pair with no other half: a JWT's JSON can hold one (`"\ud800"`). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Claims as OPA reads them: a lone surrogate in any string (keys too) becomes U+FFFD. The policy
 * module cannot parse one at all, so one claim holding it would fail every decision of its bearer
 * (and empty the engine's cache of parsed members each time), where `opa eval` decides.
 */
function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(LONE_SURROGATE, '\ufffd');
  if (Array.isArray(value)) return value.map(wellFormed);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [wellFormed(k) as string, wellFormed(v)]));
  }
  return value;
}

function mapJoseError(err: unknown): JitgateError {
  if (err instanceof errors.JWTExpired) return jitgateError('TOKEN_EXPIRED', undefined, undefined, err);
  if (err instanceof errors.JOSEError) return jitgateError('TOKEN_INVALID', err.code, undefined, err);
  if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('JITGATE_E_')) return err as JitgateError;
  return jitgateError('TOKEN_INVALID', undefined, undefined, err);
}

/**
 * TOKEN_EXPIRED for a token whose `exp` has passed when no keys could be had to verify it. The
 * claim is unverified, but whoever wrote it, the token is refused: genuine and expired, or forged.
 * So the caller is told to get a new token (401), not that the gateway is down (503), and a
 * client's refresh logic works through an issuer outage. Undefined otherwise.
 */
function expiredWithoutKeys(err: unknown, token: string, now: number, skewSeconds: number): JitgateError | undefined {
  if (!isJitgateError(err, 'KEYS_UNAVAILABLE')) return undefined;
  let exp: unknown;
  try {
    exp = decodeJwt(token).exp;
  } catch {
    return undefined;
  }
  // jose's own rule: expired once exp <= now - tolerance.
  if (typeof exp !== 'number' || exp > Math.floor(now / 1000) - skewSeconds) return undefined;
  return jitgateError('TOKEN_EXPIRED', 'its exp is past (whoever signed it: no keys are loaded to verify it)', undefined, err);
}

export class JwtVerifier {
  private readonly cache: TokenCache;

  constructor(private readonly opts: JwtVerifierOptions) {
    this.cache = new TokenCache(opts.cacheSize);
  }

  get issuer(): string {
    return this.opts.issuer;
  }

  /** The subject of a token verified earlier and still valid (not expired, key still trusted). */
  cached(token: string, now = Date.now()): Subject | undefined {
    const hit = this.cache.get(token, now);
    if (!hit) return undefined;
    if (this.opts.keys.stillTrusts(hit.kid, hit.generation)) return hit.subject;
    this.cache.delete(token);
    return undefined;
  }

  async verify(token: string): Promise<Subject> {
    const now = Date.now();
    const hit = this.cached(token, now);
    if (hit) return hit;
    const generation = this.opts.keys.generation;
    let payload: JWTPayload;
    let kid: string | null;
    try {
      const result = await jwtVerify(token, (h, t) => this.opts.keys.resolve(h, t), {
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        algorithms: this.opts.algorithms,
        clockTolerance: this.opts.clockSkewSeconds,
        // A token without exp would be valid forever (and cached forever): refuse it.
        requiredClaims: ['exp', this.opts.subjectClaim],
      });
      payload = result.payload;
      kid = result.protectedHeader.kid ?? null;
    } catch (err) {
      throw expiredWithoutKeys(err, token, now, this.opts.clockSkewSeconds) ?? mapJoseError(err);
    }
    const sub = payload[this.opts.subjectClaim];
    if (typeof sub !== 'string' || sub === '') throw jitgateError('TOKEN_INVALID', `claim ${this.opts.subjectClaim} is not a string`);
    const unfit = forbiddenCharIn(sub);
    if (unfit !== null) throw jitgateError('TOKEN_INVALID', `claim ${this.opts.subjectClaim} ${SUBJECT_ID_RULE} (${unfit})`);
    if (wellFormed(sub) !== sub) throw jitgateError('TOKEN_INVALID', `claim ${this.opts.subjectClaim} holds half of a UTF-16 surrogate pair`);
    if (this.opts.serviceIds.has(sub)) throw jitgateError('TOKEN_INVALID', `claim ${this.opts.subjectClaim} is the id of a configured service; a person and a service never share an id`);
    const claims = wellFormed(payload) as JWTPayload;
    // Sealed (deeply frozen): every request with this token gets this object, which the policy
    // engine parses once and the decision log checks for secrets once.
    const subject: Subject = seal({
      id: sub,
      kind: 'user' as const,
      groups: groupsFrom(claims[this.opts.groupsClaim]),
      claims,
    });
    // exp is required above; the entry dies exactly at exp, never later (skew only widens jose's check).
    const expMs = (payload.exp ?? 0) * 1000;
    // The key set may have changed while we verified: cache under the generation seen before.
    if (expMs > now) this.cache.set(token, { subject, expMs, kid, generation });
    return subject;
  }

  get cacheSize(): number {
    return this.cache.size;
  }
}
