// Request headers for the upstream and response headers for the caller. The caller's own credentials,
// forwarding claims and hop-by-hop headers never pass; the gateway sets its own.
import type { SecretMasker } from './redact.js';
import { jitgateError } from '../errors.js';

/** RFC 9110 7.6.1 plus the de-facto ones. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'proxy-authenticate', 'http2-settings',
]);

/** Never forwarded from the caller: identity meant for the gateway, forwarding claims, things we set. */
const CALLER_STRIPPED = new Set([
  'host', 'authorization', 'x-api-key', 'x-request-id', 'expect', 'x-jitgate-decision-id',
  // Who the client is, or which host it asked for, as CDNs, load balancers and libraries write it
  // (npm request-ip reads X-Client-IP before X-Forwarded-For): only the gateway may say so.
  'forwarded', 'x-real-ip', 'x-client-ip', 'client-ip', 'true-client-ip', 'cf-connecting-ip', 'fastly-client-ip',
  'x-cluster-client-ip', 'x-forwarded', 'forwarded-for', 'x-original-forwarded-for', 'x-originating-ip', 'x-remote-ip',
  'x-remote-addr', 'x-host', 'x-original-host', 'x-original-uri',
]);

/**
 * Headers frameworks honour as "act on another method or path than the request line's" (Rails,
 * Express' method-override, Symfony, IIS rewrites): the policy would have judged the wrong one.
 */
const OVERRIDE_HEADERS: ReadonlyMap<string, 'METHOD_OVERRIDE' | 'PATH_OVERRIDE'> = new Map([
  ['x-http-method-override', 'METHOD_OVERRIDE'], ['x-http-method', 'METHOD_OVERRIDE'], ['x-method-override', 'METHOD_OVERRIDE'],
  ['x-original-url', 'PATH_OVERRIDE'], ['x-rewrite-url', 'PATH_OVERRIDE'],
]);

/**
 * A header's name as servers that read `_` as `-` see it. CGI-style environments (Rack and
 * Puma before 6.4.3, WSGI servers, PHP's $_SERVER) file `X_Forwarded_For` and `X-Forwarded-For`
 * under the same key, so an underscore spelling of a header the gateway strips, sets or shows
 * the policy would reach them as that header.
 */
function aliasedName(lowerName: string): string {
  return lowerName.includes('_') ? lowerName.replaceAll('_', '-') : lowerName;
}

/** The refusal a header (lower-cased, either spelling) calls for when it overrides the method or path. */
export function overrideRefusal(lowerName: string): 'METHOD_OVERRIDE' | 'PATH_OVERRIDE' | undefined {
  return OVERRIDE_HEADERS.get(aliasedName(lowerName));
}

/**
 * Whether a Transfer-Encoding names `chunked` alone, the one coding Node and undici undo. Any other
 * (`gzip, chunked`) would pass on still coded, and unlabelled once the hop-by-hop header is dropped.
 */
export function onlyChunked(transfer: string | readonly string[]): boolean {
  return (typeof transfer === 'string' ? transfer : transfer.join(',')).split(',').every((c) => c.trim().toLowerCase() === 'chunked');
}

/** Cookies the gateway itself would use; other cookies belong to the upstream application. */
const GATEWAY_COOKIE = /^(?:__Host-|__Secure-)?jitgate/i;

/** Whether a cookie name is in the gateway's own namespace: callers' are not forwarded, upstreams' not set. */
export function isGatewayCookie(name: string): boolean {
  return GATEWAY_COOKIE.test(name);
}

/** Obligation headers a policy may not set: they would bypass the credential broker or framing. */
const OBLIGATION_FORBIDDEN = new Set([...HOP_BY_HOP, ...CALLER_STRIPPED, 'content-length', 'cookie', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']);

const NONE: ReadonlySet<string> = new Set();

const REQUEST_ID = 'x-request-id';

/** Replaced by the gateway while it holds a credential (ForwardContext.plainResponses). */
const PLAIN_RESPONSES = new Set(['accept-encoding', 'sec-websocket-extensions']);

/** What the body is and how long: only the real headers say so (see upstreamRequestHeaders). */
const FRAMING = new Set(['content-type', 'content-length', 'content-encoding']);

/**
 * Header names listed in Connection headers (RFC 9110 7.6.1): hop-by-hop for this message only.
 * Names that are hop-by-hop anyway are left out, so the usual `Connection: keep-alive` of an
 * upstream's every response costs no set.
 */
function connectionTokens(values: string | readonly string[]): ReadonlySet<string> {
  let named: Set<string> | null = null;
  for (const value of typeof values === 'string' ? [values] : values) {
    for (let start = 0; start <= value.length;) {
      const comma = value.indexOf(',', start);
      const end = comma < 0 ? value.length : comma;
      const tok = value.slice(start, end).trim().toLowerCase();
      if (tok !== '' && !HOP_BY_HOP.has(tok)) (named ??= new Set()).add(tok);
      start = end + 1;
    }
  }
  return named ?? NONE;
}

/** connectionTokens of the Connection headers in a raw [name, value, ...] list (usually there are none). */
function rawConnectionTokens(raw: readonly string[]): ReadonlySet<string> {
  let values: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    if (name.length === 10 && name.toLowerCase() === 'connection') (values ??= []).push(raw[i + 1] ?? '');
  }
  return values === null ? NONE : connectionTokens(values);
}

/**
 * Why the upstream never gets a header as its caller sent it, for a name a route would judge
 * (`policy_headers`): a policy trusting that header would trust the caller while the upstream acts
 * on something else. The configuration refuses such names. `x-request-id` is not one: the policy
 * sees the caller's only when the upstream gets it as sent (judgedHeaders).
 */
export function unjudgeable(name: string): string | undefined {
  if (name === REQUEST_ID) return undefined;
  if (HOP_BY_HOP.has(name)) return 'it is hop-by-hop and never forwarded';
  if (CALLER_STRIPPED.has(name) || name.startsWith('x-forwarded-')) return 'the gateway drops the caller\'s and may set its own';
  if (PLAIN_RESPONSES.has(name)) return 'the gateway replaces it whenever it holds a credential';
  if (OVERRIDE_HEADERS.has(name)) return 'a request carrying it is refused';
  return undefined;
}

/**
 * The judged headers (`policy_headers`) as the upstream will get them, for the policy input. One
 * the upstream will not get (hop-by-hop, or named in Connection) is not shown to the policy either:
 * its presence must not win a decision it then plays no part in. A repeated one is refused:
 * Node keeps the first `User-Agent`, some upstreams act on the last. The caller's `x-request-id`
 * is shown only when the gateway kept it (`requestId`); a fresh one the gateway made is not shown,
 * so identical requests still have one input (the decision memo's key).
 */
export function judgedHeaders(raw: readonly string[], allow: readonly string[], requestId: string): Record<string, string> {
  const out: Record<string, string> = {};
  let named: ReadonlySet<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] ?? '').toLowerCase();
    if (!allow.includes(name) || HOP_BY_HOP.has(name) || (name === REQUEST_ID && raw[i + 1] !== requestId)) continue;
    named ??= rawConnectionTokens(raw);
    if (named.has(name)) continue;
    if (out[name] !== undefined) throw jitgateError('REQUEST_AMBIGUOUS', `repeated ${name} header: the policy judges one value`);
    out[name] = raw[i + 1] ?? '';
  }
  return out;
}

function filterCookies(value: string): string {
  return value.split(';').map((c) => c.trim()).filter((c) => c !== '' && !isGatewayCookie(c.split('=')[0] ?? '')).join('; ');
}

export interface ForwardContext {
  /** The caller's address (the policy's client_ip). */
  clientIp: string;
  /** X-Forwarded-For as it goes upstream: the caller, then every proxy up to the gateway's peer. */
  forwardedFor: string;
  host: string;
  requestId: string;
  /** Header names the gateway sets itself (the route's credentials, the policy's obligations): callers' copies are dropped. */
  reserved: ReadonlySet<string>;
  /** Headers the route shows the policy (`policy_headers`): their underscore spellings are dropped. */
  judged: readonly string[];
  /** How the caller reached the gateway (the forwarding headers say so). */
  proto: 'http' | 'https';
  /** True when the route proxies WebSocket upgrades (keeps Upgrade/Connection: upgrade). */
  upgrade: boolean;
  /**
   * Ask the upstream for uncompressed responses and WebSocket frames (no Accept-Encoding or
   * Sec-WebSocket-Extensions of the caller's): the secret masker can only see plain bytes, so a
   * compressed echo of a credential would get past it (decode.ts for upstreams that compress all
   * the same).
   */
  plainResponses: boolean;
  /** Whether the caller's cookies go upstream (cookies.ts, cookiesPass); its `jitgate*` ones never do. */
  cookies: boolean;
}

/** Flat [name, value, ...] list for undici; names lower-cased. */
export function upstreamRequestHeaders(rawHeaders: readonly string[], ctx: ForwardContext): string[] {
  const named = rawConnectionTokens(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    const value = rawHeaders[i + 1] ?? '';
    // Every rule below applies to the name as an upstream may read it (`X_Api_Key` is X-Api-Key to some).
    const seenAs = aliasedName(name);
    if (HOP_BY_HOP.has(seenAs) || CALLER_STRIPPED.has(seenAs) || ctx.reserved.has(seenAs)) continue;
    if (named.has(seenAs) || seenAs.startsWith('x-forwarded-')) continue;
    if (ctx.plainResponses && PLAIN_RESPONSES.has(seenAs)) continue;
    // The policy judged the header as spelled; another spelling could carry another value.
    if (seenAs !== name && (ctx.judged.includes(seenAs) || FRAMING.has(seenAs))) continue;
    if (name === 'cookie') {
      if (!ctx.cookies) continue;
      const kept = filterCookies(value);
      if (kept !== '') out.push(name, kept);
      continue;
    }
    out.push(name, value);
  }
  if (ctx.upgrade) out.push('connection', 'upgrade', 'upgrade', 'websocket');
  if (ctx.plainResponses) out.push('accept-encoding', 'identity');
  const forIp = ctx.clientIp.includes(':') ? `"[${ctx.clientIp}]"` : ctx.clientIp;
  out.push(
    'x-forwarded-for', ctx.forwardedFor,
    'x-forwarded-host', ctx.host,
    'x-forwarded-proto', ctx.proto,
    'forwarded', `for=${forIp};host="${ctx.host.replaceAll('"', '')}";proto=${ctx.proto}`,
    REQUEST_ID, ctx.requestId,
  );
  return out;
}

/** Policy obligation headers, checked: a policy naming a reserved header is a broken policy (fail closed). */
export function obligationHeaders(headers: Record<string, string> | undefined, reserved: ReadonlySet<string>): string[] {
  const out: string[] = [];
  if (!headers) return out;
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (!/^[a-z0-9-]+$/.test(name) || typeof value !== 'string' || /[\r\n\0]/.test(value)
      || OBLIGATION_FORBIDDEN.has(name) || reserved.has(name) || name.startsWith('x-forwarded-')) {
      throw jitgateError('POLICY_RESULT_INVALID', `obligation header "${rawName}" is not allowed`);
    }
    out.push(name, value);
  }
  return out;
}

/** Set by the gateway on every response; an upstream must not be able to forge them. */
const GATEWAY_RESPONSE_HEADERS = new Set(['x-jitgate-decision-id', 'x-request-id']);

/**
 * Upstream response headers for the caller: hop-by-hop and gateway-owned removed, secrets masked
 * (a header whose name holds one left out). Headers the gateway then rewrites (redirects,
 * cookies) are masked again after the rewrite: SecretMasker.maskHeaders.
 */
export function callerResponseHeaders(headers: Record<string, string | string[] | undefined>, masker: SecretMasker): Record<string, string | string[]> {
  const conn = headers.connection;
  const named = conn === undefined ? NONE : connectionTokens(conn);
  const out: Record<string, string | string[]> = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || GATEWAY_RESPONSE_HEADERS.has(name)) continue;
    const masked = masker.maskedHeader(name, value);
    if (masked !== undefined) out[name] = masked;
  }
  return out;
}
