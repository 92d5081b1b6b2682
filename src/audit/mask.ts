// Masking before a decision leaves the process, in OPA's terms: a configured pointer
// is *erased* (removed, listed in `erased`); a value that looks like a secret (by its
// key, or a bearer/basic credential by its shape) is *masked* (replaced, listed in
// `masked`). Pointers are JSON pointers relative to the event (/input/..., /result/...).

import type { LogMaskRule } from '../policy/index.js';

export const MASK_VALUE = '[REDACTED]';

/**
 * Keys whose values are credentials wherever they appear (header names, claim names, body and
 * query fields), matched on the key's end once case and `-_.` are set aside: `accessToken`,
 * `refresh_token`, `x-authtoken`, `clientSecret`, `newPassword` and `aws_secret_access_key` alike.
 */
const SENSITIVE_KEY_END = /(authorization|cookie|password|passwd|passphrase|secret|token|apikey|privatekey|accesskey|credentialvalue|sessionid)s?$/;
/**
 * Query parameters that are credentials under names too short or too common to mask everywhere
 * (a body's `key` or `code` is usually data, a URL's is an API key or an OAuth2 authorization
 * code): presigned URLs' signatures and credentials (S3's `X-Amz-Signature`, `X-Amz-Credential`
 * and `Signature`, GCS's `X-Goog-Signature`, Azure SAS's `sig`), API keys (`key`,
 * `subscription-key`, `AWSAccessKeyId`, `GoogleAccessId`), OAuth2/SAML (`code`, `assertion`,
 * `client_assertion`, `SAMLResponse`, `jwt`, `auth`). Whole names once case and `-_.` are set
 * aside, and any name ending in signature or credential. On top of SENSITIVE_KEY_END.
 */
const QUERY_CREDENTIAL_NAMES = new Set(['sig', 'key', 'subscriptionkey', 'awsaccesskeyid', 'googleaccessid', 'code', 'assertion', 'clientassertion', 'samlresponse', 'jwt', 'auth']);
const QUERY_CREDENTIAL_END = /(signature|credential)s?$/;
/** Values that carry a credential whatever their key. */
const SENSITIVE_VALUE = /^(bearer|basic|digest|negotiate)\s+\S/i;

/** A credential embedded in free text ("retry with Bearer eyJ..."). */
const EMBEDDED_CREDENTIAL = /\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;

/** Free text with any embedded bearer/basic credential replaced. */
export function scrubText(text: string): string {
  return text.replace(EMBEDDED_CREDENTIAL, (_m, scheme: string) => `${scheme} ${MASK_VALUE}`);
}

/**
 * Secrets removed from a JSON value: values under secret-looking keys, and credentials
 * embedded in strings. For audit details, which are evidence and must hold none. A top-level
 * `query` (a proxied request's, as the policy saw it) is judged by its names as the decision
 * log judges /input/request/query, so the two records agree.
 */
export function scrubSecrets(value: unknown): unknown {
  return scrub(value, true, false);
}

function scrub(value: unknown, top: boolean, query: boolean): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (Array.isArray(value)) return value.map((v) => scrub(v, false, false));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const sensitive = query ? isSensitiveQueryName(k) : isSensitiveKey(k);
      out[k] = sensitive && v !== null && v !== undefined && v !== '' ? MASK_VALUE : scrub(v, false, top && k === 'query');
    }
    return out;
  }
  return value;
}

export interface MaskResult<T> {
  value: T;
  erased: string[];
  masked: string[];
}

function escapePointer(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

function unescapePointer(segment: string): string {
  return segment.replaceAll('~1', '/').replaceAll('~0', '~');
}

// Decisions repeat the same few dozen keys; remember the verdict (bounded, so hostile
// key names cannot grow it without limit).
const keyVerdicts = new Map<string, boolean>();

/**
 * Longer names are judged every time, not remembered. A caller chooses its body's member names
 * and its query's parameter names: remembered, 4,096 distinct names of 60 KB held 250 MB in a
 * running gateway (a 1 MiB `policy_body.max_bytes` would let them hold 4 GiB).
 */
const MAX_REMEMBERED_NAME_LENGTH = 128;

function isSensitiveKey(key: string): boolean {
  let verdict = keyVerdicts.get(key);
  if (verdict === undefined) {
    verdict = SENSITIVE_KEY_END.test(key.toLowerCase().replace(/[-_.]/g, ''));
    if (key.length > MAX_REMEMBERED_NAME_LENGTH) return verdict;
    if (keyVerdicts.size >= 4096) keyVerdicts.clear();
    keyVerdicts.set(key, verdict);
  }
  return verdict;
}

const queryVerdicts = new Map<string, boolean>();

/** A query parameter's name that says its value is a credential. */
export function isSensitiveQueryName(name: string): boolean {
  let verdict = queryVerdicts.get(name);
  if (verdict === undefined) {
    const bare = name.toLowerCase().replace(/[-_.]/g, '');
    verdict = isSensitiveKey(name) || QUERY_CREDENTIAL_NAMES.has(bare) || QUERY_CREDENTIAL_END.test(bare);
    if (name.length > MAX_REMEMBERED_NAME_LENGTH) return verdict;
    if (queryVerdicts.size >= 4096) queryVerdicts.clear();
    queryVerdicts.set(name, verdict);
  }
  return verdict;
}

/** Whether `path` (under `part`) is the request's parsed query, whose names are judged as such. */
function atQuery(part: string, path: readonly string[]): boolean {
  return part === 'input' && path.length === 2 && path[0] === 'request' && path[1] === 'query';
}

function pointerOf(part: string, path: readonly string[]): string {
  return `/${part}${path.map((p) => `/${escapePointer(p)}`).join('')}`;
}

/** SENSITIVE_VALUE, with the regex run only on strings whose first letter could start a scheme. */
function looksLikeCredential(text: string): boolean {
  const first = text.charCodeAt(0) | 0x20; // ASCII lower case
  return (first === 0x62 /* b */ || first === 0x64 /* d */ || first === 0x6e /* n */) && SENSITIVE_VALUE.test(text);
}

/**
 * Frozen objects and arrays, all the way down, in which the walk found nothing to mask.
 * They cannot change, so they are not walked again: the grant sets the gateway hands to the
 * policy are such (sealed by the grant cache), and they are most of every decision's input.
 */
const settledClean = new WeakSet<object>();

/** A child that cannot change any more and holds nothing to mask (primitives trivially). */
function settled(child: unknown): boolean {
  return child === null || typeof child !== 'object' || settledClean.has(child);
}

/**
 * Copy-on-write walk: returns `node` itself when nothing under it is masked, so the
 * common case (nothing secret) allocates nothing. `path` is a shared stack; pointers
 * are only built for what is masked.
 */
function maskWalk(node: unknown, part: string, path: string[], masked: string[]): unknown {
  if (typeof node === 'string') {
    if (looksLikeCredential(node)) {
      masked.push(pointerOf(part, path));
      return MASK_VALUE;
    }
    return node;
  }
  // The query is judged by its own names: an object found clean elsewhere is walked again there.
  const query = atQuery(part, path);
  if (node !== null && typeof node === 'object' && !query && settledClean.has(node)) return node;
  if (Array.isArray(node)) {
    let out: unknown[] | null = null;
    let frozen = Object.isFrozen(node);
    for (let i = 0; i < node.length; i++) {
      const v: unknown = node[i];
      path.push(String(i));
      const m = maskWalk(v, part, path, masked);
      path.pop();
      if (m !== v) {
        out ??= node.slice();
        out[i] = m;
      }
      frozen &&= settled(v);
    }
    if (out === null && frozen) settledClean.add(node);
    return out ?? node;
  }
  if (node !== null && typeof node === 'object') {
    let out: Record<string, unknown> | null = null;
    const obj = node as Record<string, unknown>;
    let frozen = Object.isFrozen(obj);
    // Object.keys, not Object.entries: the same own enumerable keys without a pair per key.
    for (const k of Object.keys(obj)) {
      const v = obj[k];
      let m: unknown;
      if ((query ? isSensitiveQueryName(k) : isSensitiveKey(k)) && v !== null && v !== undefined && v !== '') {
        path.push(k);
        masked.push(pointerOf(part, path));
        path.pop();
        m = MASK_VALUE;
      } else if (v !== null && (typeof v === 'object' || typeof v === 'string')) {
        path.push(k);
        m = maskWalk(v, part, path, masked);
        path.pop();
      } else {
        continue;
      }
      if (m !== v) {
        out ??= { ...obj };
        out[k] = m;
      }
      frozen &&= settled(v);
    }
    if (out === null && frozen && !query) settledClean.add(obj);
    return out ?? node;
  }
  return node;
}

/** Returns `node` without the value at `segments` (copying only along that path), or `node` itself when absent. */
function erase(node: unknown, segments: readonly string[], i = 0): unknown {
  const seg = segments[i];
  if (seg === undefined) return node;
  const last = i === segments.length - 1;
  if (Array.isArray(node)) {
    const arr = node as unknown[];
    const idx = Number(seg);
    if (!Number.isInteger(idx) || idx < 0 || idx >= arr.length) return node;
    if (last) return arr.filter((_v, j) => j !== idx);
    const child = erase(arr[idx], segments, i + 1);
    if (child === arr[idx]) return node;
    const copy = arr.slice();
    copy[idx] = child;
    return copy;
  }
  if (node !== null && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    if (!Object.hasOwn(obj, seg)) return node;
    if (last) {
      const { [seg]: _removed, ...rest } = obj;
      return rest;
    }
    const child = erase(obj[seg], segments, i + 1);
    return child === obj[seg] ? node : { ...obj, [seg]: child };
  }
  return node;
}

/**
 * Masks one part of an event (`input` or `result`). `erasePointers` are the configured
 * `decision_logs.mask` pointers; only those under `/<part>/` apply. Never mutates `value`;
 * the result shares the parts of `value` that needed no change.
 */
export function maskValue<T>(part: 'input' | 'result', value: T, erasePointers: readonly string[] = []): MaskResult<T> {
  const masked: string[] = [];
  const erased: string[] = [];
  let copy = maskWalk(value, part, [], masked);
  for (const pointer of erasePointers) {
    if (!pointer.startsWith(`/${part}/`)) continue;
    const segments = pointer.slice(part.length + 2).split('/').map(unescapePointer);
    const after = erase(copy, segments);
    if (after !== copy) {
      copy = after;
      erased.push(pointer);
      // A value both masked and erased is gone: report it once, as erased.
      for (let i = masked.length - 1; i >= 0; i--) {
        const m = masked[i] as string;
        if (m === pointer || m.startsWith(`${pointer}/`)) masked.splice(i, 1);
      }
    }
  }
  return { value: copy as T, erased, masked };
}

/** Returns `node` with `value` at `segments`, objects created where missing (copying only along that path). */
function upsert(node: unknown, segments: readonly string[], value: unknown, i = 0): unknown {
  const seg = segments[i];
  if (seg === undefined) return value;
  if (Array.isArray(node)) {
    const idx = Number(seg);
    // OPA's upsert does not grow arrays: an index must already be there.
    if (!Number.isInteger(idx) || idx < 0 || idx >= node.length) return node;
    const copy = (node as unknown[]).slice();
    copy[idx] = upsert(copy[idx], segments, value, i + 1);
    return copy;
  }
  const obj = node !== null && typeof node === 'object' ? (node as Record<string, unknown>) : {};
  return { ...obj, [seg]: upsert(obj[seg], segments, value, i + 1) };
}

/**
 * Applies the policy's `system.log.mask` rules to a decision's input and result, as OPA does:
 * a plain pointer or `{"op": "remove"}` erases (listed in `erased` when something was there),
 * `{"op": "upsert"}` sets a value, creating missing objects (listed in `masked`).
 */
export function applyMaskRules(
  event: { input: unknown; result: unknown },
  rules: readonly LogMaskRule[],
): { input: unknown; result: unknown; erased: string[]; masked: string[] } {
  const parts: { input: unknown; result: unknown } = { input: event.input, result: event.result };
  const erased: string[] = [];
  const masked: string[] = [];
  for (const rule of rules) {
    const pointer = typeof rule === 'string' ? rule : rule.path;
    const part = pointer.startsWith('/input') ? 'input' : 'result';
    const segments = pointer.slice(part.length + 1).split('/').slice(1).map(unescapePointer);
    if (typeof rule === 'object' && rule.op === 'upsert') {
      parts[part] = segments.length === 0 ? rule.value : upsert(parts[part], segments, rule.value);
      masked.push(pointer);
      continue;
    }
    const after = segments.length === 0 ? undefined : erase(parts[part], segments);
    if (after !== parts[part]) {
      parts[part] = after;
      erased.push(pointer);
    }
  }
  return { ...parts, erased, masked };
}

/** Both lists in one, sorted (usually both are empty: then no copy is made). */
function joinSorted(a: string[], b: string[]): string[] {
  if (b.length === 0) return a.length > 1 ? a.sort() : a;
  return [...a, ...b].sort();
}

/** Masks a decision's input and result, the way OPA's `system.log.mask` reports it. */
export function maskInput(
  event: { input: unknown; result: unknown },
  erasePointers: readonly string[] = [],
): { input: unknown; result: unknown; erased: string[]; masked: string[] } {
  const input = maskValue('input', event.input, erasePointers);
  const result = maskValue('result', event.result, erasePointers);
  return {
    input: input.value,
    result: result.value,
    erased: joinSorted(input.erased, result.erased),
    masked: joinSorted(input.masked, result.masked),
  };
}
