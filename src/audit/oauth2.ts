// OPA's `oauth2` credential plugin, client-credentials grant with a client secret (RFC 6749
// 4.4): a service's calls carry a bearer token asked of the token endpoint, kept until shortly
// before it expires, as OPA keeps it.
import { request, type Dispatcher } from 'undici';
import { readLimited } from '../read-limited.js';

export interface OAuth2Credentials {
  token_url: string;
  client_id: string;
  client_secret: string;
  scopes?: string[];
  /** The only grant jitgate asks for (OPA's default). */
  grant_type?: 'client_credentials';
}

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
  // RFC 6749 2.3.1: both parts form-urlencoded before they are joined for HTTP Basic.
  const basic = Buffer.from(`${encodeURIComponent(credentials.client_id)}:${encodeURIComponent(credentials.client_secret)}`).toString('base64');
  const res = await request(credentials.token_url, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
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
