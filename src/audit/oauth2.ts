// OPA's `oauth2` credential plugin: a service's calls carry a bearer token asked of the token
// endpoint, kept until shortly before it expires, as OPA keeps it. With the client-credentials
// grant (RFC 6749 4.4) the client authenticates with its secret (HTTP Basic) or with a client
// assertion (RFC 7523 2.2): one it is given (a Kubernetes service-account or SPIFFE token, from a
// file read for every token request, so a rotated one is used from the next), or one signed here
// with a configured private key. The JWT bearer grant (RFC 7523 2.1) sends the signed assertion
// alone. Signed assertions carry OPA's claims: iat, exp ten minutes on, `additional_claims`,
// `scope` and, when asked, a fresh jti.
import { createPrivateKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readSecretFile } from '../secret-file.js';
import { SignJWT, type JWTHeaderParameters } from 'jose';
import type { Dispatcher } from 'undici';
import { fetchLimited, FetchLimitError } from '../fetch-limited.js';
import { shownUrl } from '../shown-url.js';
import { uuid } from '../uuid.js';

/** The key a signed assertion is made with: `keys.<signing_key>`, set by the config loader. */
export interface AssertionKey {
  algorithm: string;
  private_key: string;
}

export interface OAuth2Credentials {
  token_url: string;
  /** Required by the config except with the JWT bearer grant. */
  client_id?: string;
  /** Exactly one of client_secret, client_assertion, client_assertion_path and signing_key (the config says so). */
  client_secret?: string;
  client_assertion?: string;
  client_assertion_path?: string;
  /** OPA's default: urn:ietf:params:oauth:client-assertion-type:jwt-bearer. */
  client_assertion_type?: string;
  /** A key in `keys` with a private_key: assertions are signed here. */
  signing_key?: string;
  additional_claims?: Record<string, unknown>;
  include_jti_claim?: boolean;
  /** Hex SHA-1 thumbprint of the signing certificate, sent as the assertion's x5t header. */
  thumbprint?: string;
  /** `keys[signing_key]`, set by the config loader (never in the file). */
  signer?: AssertionKey;
  scopes?: string[];
  /** Sent with the grant's own parameters (the config refuses one that would repeat them). */
  additional_parameters?: Record<string, string>;
  /** OPA's two grants; client_credentials by default. */
  grant_type?: 'client_credentials' | 'jwt_bearer';
}

const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** OPA's lifetime for the assertions it signs. */
const ASSERTION_LIFETIME_S = 600;

/** The curve each ECDSA algorithm signs with (a key on another curve cannot make its signatures). */
const CURVES: Readonly<Record<string, string>> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

/** The key as `algorithm` signs with it; throws, saying why, when it cannot. */
export function assertionKey(key: AssertionKey): KeyObject {
  const { algorithm } = key;
  if (algorithm.startsWith('HS')) return createSecretKey(Buffer.from(key.private_key, 'utf8'));
  let parsed: KeyObject;
  try {
    parsed = createPrivateKey(key.private_key);
  } catch {
    throw new Error('private_key is not a PEM private key');
  }
  const type = parsed.asymmetricKeyType;
  const details = parsed.asymmetricKeyDetails;
  const fits = algorithm.startsWith('ES')
    ? type === 'ec' && details?.namedCurve === CURVES[algorithm]
    : type === 'rsa' || (type === 'rsa-pss' && algorithm.startsWith('PS'));
  if (!fits) throw new Error(`private_key is ${type === 'ec' ? `an EC key on ${String(details?.namedCurve)}` : `a ${String(type)} key`}, which ${algorithm} does not sign with`);
  // jose refuses to sign with a shorter one: said at load, not at the first token request.
  const bits = details?.modulusLength ?? 0;
  if (type !== 'ec' && bits < 2048) throw new Error(`private_key is an RSA key of ${String(bits)} bits; ${algorithm} needs 2048 or more`);
  return parsed;
}

async function signedAssertion(credentials: OAuth2Credentials, signer: AssertionKey): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { iat: now, exp: now + ASSERTION_LIFETIME_S, ...credentials.additional_claims };
  if (credentials.scopes && credentials.scopes.length > 0) claims.scope = credentials.scopes.join(' ');
  if (credentials.include_jti_claim === true) claims.jti = uuid();
  const header: JWTHeaderParameters = { typ: 'JWT', alg: signer.algorithm };
  if (credentials.thumbprint !== undefined) header.x5t = Buffer.from(credentials.thumbprint, 'hex').toString('base64url');
  return new SignJWT(claims).setProtectedHeader(header).sign(assertionKey(signer));
}

/** A token is asked for again once it has less than this left, as in OPA. */
const MIN_LIFETIME_MS = 10_000;
/**
 * The whole token request, head and body: concurrent calls share one request, so a request
 * that never ended (an endpoint sending its head and then a byte a second) held every upload,
 * bundle download and checkpoint of the service for good. A fixed ten seconds, not the
 * service's response_header_timeout_seconds: OPA too waits a fixed 10 s for its token request's
 * answer to begin (plugins/rest/auth.go, `DefaultRoundTripperClient(..., 10)`).
 */
const TOKEN_REQUEST_TIMEOUT_MS = 10_000;
/**
 * The error codes of RFC 6749 5.2 and the RFCs that extend the token endpoint (8707, 9449, and
 * 6749 4.1.2.1's two). A refusal is reported by its status and, when its JSON `error` is one of
 * these, that code: never more of its body. Identity providers echo the request in their
 * `error_description` (the client assertion, the Basic credential), and this error is logged
 * on every failed upload or poll.
 */
const OAUTH2_ERROR_CODES: ReadonlySet<string> = new Set([
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope',
  'invalid_target', 'invalid_dpop_proof', 'use_dpop_nonce', 'access_denied', 'server_error', 'temporarily_unavailable',
]);

/** `HTTP 401 (invalid_client)`: a refusal as errors and logs show it. */
function refusalSummary(status: number, text: string): string {
  let code: unknown;
  try {
    const body = JSON.parse(text) as unknown;
    code = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  } catch {
    code = undefined;
  }
  return `HTTP ${String(status)}${typeof code === 'string' && OAUTH2_ERROR_CODES.has(code) ? ` (${code})` : ''}`;
}

interface Held {
  token: string;
  expiresAtMs: number;
}

const held = new WeakMap<OAuth2Credentials, Held>();
const asking = new WeakMap<OAuth2Credentials, Promise<Held>>();

/** A token response is a few hundred bytes; an endpoint sending more is not read into memory. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** The token request's form and the client's authentication (in the form, or as HTTP Basic). */
async function tokenRequest(credentials: OAuth2Credentials): Promise<{ form: URLSearchParams; authorization?: string }> {
  const { signer, client_id: clientId = '' } = credentials;
  if (credentials.signing_key !== undefined && signer === undefined) throw new Error(`no key "${credentials.signing_key}" to sign the OAuth2 client assertion with`);
  const jwtBearer = credentials.grant_type === 'jwt_bearer';
  const form = new URLSearchParams({ grant_type: jwtBearer ? JWT_BEARER_GRANT : 'client_credentials' });
  if (credentials.scopes && credentials.scopes.length > 0) form.set('scope', credentials.scopes.join(' '));
  for (const [name, value] of Object.entries(credentials.additional_parameters ?? {})) form.set(name, value);
  if (signer && jwtBearer) {
    form.set('assertion', await signedAssertion(credentials, signer));
    return { form };
  }
  if (credentials.client_secret !== undefined) {
    // RFC 6749 2.3.1: both parts form-urlencoded before they are joined for HTTP Basic.
    return { form, authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(credentials.client_secret)}`).toString('base64')}` };
  }
  form.set('client_id', clientId);
  if (signer) {
    form.set('client_assertion_type', JWT_BEARER_ASSERTION);
    form.set('client_assertion', await signedAssertion(credentials, signer));
  } else {
    form.set('client_assertion_type', credentials.client_assertion_type ?? JWT_BEARER_ASSERTION);
    form.set('client_assertion', clientAssertion(credentials));
  }
  return { form };
}

async function askForToken(credentials: OAuth2Credentials, dispatcher: Dispatcher | undefined): Promise<Held> {
  const { form, authorization } = await tokenRequest(credentials);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (authorization !== undefined) headers.authorization = authorization;
  const shown = shownUrl(credentials.token_url);
  // Redirects are not followed: the form holds the client's secret or assertion.
  const res = await fetchLimited(credentials.token_url, { method: 'POST', headers, body: form.toString(), redirect: 'manual' },
    { timeoutMs: TOKEN_REQUEST_TIMEOUT_MS, maxBytes: MAX_RESPONSE_BYTES, ...(dispatcher ? { dispatcher } : {}) })
    .catch((err: unknown) => {
      if (err instanceof FetchLimitError && err.failure === 'too_large') {
        throw new Error(`the OAuth2 token endpoint ${shown} answered more than ${String(MAX_RESPONSE_BYTES)} bytes`);
      }
      throw new Error(`the OAuth2 token endpoint ${shown}: ${err instanceof Error ? err.message : String(err)}`);
    });
  const text = res.body.toString('utf8');
  if (res.status !== 200) {
    throw new Error(`the OAuth2 token endpoint ${shown} answered ${refusalSummary(res.status, text)}`);
  }
  let body: { access_token?: unknown; token_type?: unknown; expires_in?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new Error(`the OAuth2 token endpoint ${shown} answered something other than JSON`);
  }
  if (typeof body.access_token !== 'string' || body.access_token.trim() === '') {
    throw new Error(`the OAuth2 token endpoint ${shown} answered no access_token`);
  }
  if (typeof body.token_type !== 'string' || body.token_type.toLowerCase() !== 'bearer') {
    throw new Error(`the OAuth2 token endpoint ${shown} answered a token that is not a bearer token`);
  }
  // Without expires_in the token is used for this call only: better asked again than used stale.
  // Some endpoints (Azure AD's v1) send it as a string of digits.
  const expiresIn = typeof body.expires_in === 'string' && /^\d{1,9}$/.test(body.expires_in) ? Number(body.expires_in) : body.expires_in;
  const lifetimeMs = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn * 1000 : 0;
  return { token: body.access_token.trim(), expiresAtMs: Date.now() + lifetimeMs };
}

/** The assertion as configured, or read from its file now; a missing or empty one stops the token request. */
function clientAssertion(credentials: OAuth2Credentials): string {
  if (credentials.client_assertion !== undefined) return credentials.client_assertion;
  const assertion = readSecretFile(credentials.client_assertion_path ?? '', 'credentials.oauth2.client_assertion_path').trim();
  if (assertion === '') throw new Error('credentials.oauth2.client_assertion_path: the file it names is empty');
  return assertion;
}

/**
 * A bearer token for `credentials`: the one held while it has more than ten seconds left,
 * else a new one (concurrent calls share one request). Throws when none can be had: the call
 * is then not made without it.
 */
export async function oauth2Token(credentials: OAuth2Credentials, dispatcher: Dispatcher | undefined): Promise<string> {
  const current = held.get(credentials);
  if (current && current.expiresAtMs - Date.now() > MIN_LIFETIME_MS) return current.token;
  let pending = asking.get(credentials);
  if (!pending) {
    pending = askForToken(credentials, dispatcher).finally(() => { asking.delete(credentials); });
    asking.set(credentials, pending);
  }
  const fresh = await pending;
  held.set(credentials, fresh);
  return fresh.token;
}
