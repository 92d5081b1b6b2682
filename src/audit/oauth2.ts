// OPA's `oauth2` credential plugin, client-credentials grant (RFC 6749 4.4): a service's calls
// carry a bearer token asked of the token endpoint, kept until shortly before it expires, as OPA
// keeps it. The client authenticates with its secret (HTTP Basic) or with a client assertion it
// is given (RFC 7523 2.2: a signed JWT such as a Kubernetes service-account or SPIFFE token,
// from a file read for every token request, so a rotated one is used from the next).
import { readFileSync } from 'node:fs';
import { request, type Dispatcher } from 'undici';
import { readLimited } from '../read-limited.js';

export interface OAuth2Credentials {
  token_url: string;
  client_id: string;
  /** Exactly one of client_secret, client_assertion and client_assertion_path (the config says so). */
  client_secret?: string;
  client_assertion?: string;
  client_assertion_path?: string;
  /** OPA's default: urn:ietf:params:oauth:client-assertion-type:jwt-bearer. */
  client_assertion_type?: string;
  scopes?: string[];
  /** Sent with the grant's own parameters (the config refuses one that would repeat them). */
  additional_parameters?: Record<string, string>;
  /** The only grant jitgate asks for (OPA's default). */
  grant_type?: 'client_credentials';
}

const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A token is asked for again once it has less than this left, as in OPA. */
const MIN_LIFETIME_MS = 10_000;
const TOKEN_REQUEST_TIMEOUT_MS = 10_000;
/** What of a refusal's body goes into the error (token endpoints answer `{"error": "invalid_client"}`). */
const ERROR_BODY_CHARS = 200;

interface Held {
  token: string;
  expiresAtMs: number;
}

const held = new WeakMap<OAuth2Credentials, Held>();
const asking = new WeakMap<OAuth2Credentials, Promise<Held>>();

/** A token response is a few hundred bytes; an endpoint sending more is not read into memory. */
const MAX_RESPONSE_BYTES = 64 * 1024;

async function askForToken(credentials: OAuth2Credentials, dispatcher: Dispatcher | undefined): Promise<Held> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (credentials.scopes && credentials.scopes.length > 0) form.set('scope', credentials.scopes.join(' '));
  for (const [name, value] of Object.entries(credentials.additional_parameters ?? {})) form.set(name, value);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (credentials.client_secret !== undefined) {
    // RFC 6749 2.3.1: both parts form-urlencoded before they are joined for HTTP Basic.
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(credentials.client_id)}:${encodeURIComponent(credentials.client_secret)}`).toString('base64')}`;
  } else {
    form.set('client_id', credentials.client_id);
    form.set('client_assertion_type', credentials.client_assertion_type ?? JWT_BEARER_ASSERTION);
    form.set('client_assertion', clientAssertion(credentials));
  }
  const res = await request(credentials.token_url, {
    method: 'POST',
    headers,
    body: form.toString(),
    headersTimeout: TOKEN_REQUEST_TIMEOUT_MS,
    bodyTimeout: TOKEN_REQUEST_TIMEOUT_MS,
    ...(dispatcher ? { dispatcher } : {}),
  });
  const text = (await readLimited(res.body, MAX_RESPONSE_BYTES,
    () => new Error(`the OAuth2 token endpoint ${credentials.token_url} answered more than ${String(MAX_RESPONSE_BYTES)} bytes`))).toString('utf8');
  if (res.statusCode !== 200) {
    throw new Error(`the OAuth2 token endpoint ${credentials.token_url} answered HTTP ${String(res.statusCode)}: ${text.slice(0, ERROR_BODY_CHARS)}`);
  }
  let body: { access_token?: unknown; token_type?: unknown; expires_in?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new Error(`the OAuth2 token endpoint ${credentials.token_url} answered something other than JSON`);
  }
  if (typeof body.access_token !== 'string' || body.access_token.trim() === '') {
    throw new Error(`the OAuth2 token endpoint ${credentials.token_url} answered no access_token`);
  }
  if (typeof body.token_type !== 'string' || body.token_type.toLowerCase() !== 'bearer') {
    throw new Error(`the OAuth2 token endpoint ${credentials.token_url} answered a token that is not a bearer token`);
  }
  // Without expires_in the token is used for this call only: better asked again than used stale.
  const lifetimeMs = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in * 1000 : 0;
  return { token: body.access_token.trim(), expiresAtMs: Date.now() + lifetimeMs };
}

/** The assertion as configured, or read from its file now; a missing or empty one stops the token request. */
function clientAssertion(credentials: OAuth2Credentials): string {
  if (credentials.client_assertion !== undefined) return credentials.client_assertion;
  const path = credentials.client_assertion_path ?? '';
  let assertion: string;
  try {
    assertion = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new Error(`the OAuth2 client assertion file ${path} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  if (assertion === '') throw new Error(`the OAuth2 client assertion file ${path} is empty`);
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
