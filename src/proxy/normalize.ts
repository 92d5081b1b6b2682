// The request target, normalized once. The policy decides on this path and the upstream receives
// exactly it, so anything the proxy and an upstream could read differently is refused instead of
// guessed at: encoded slashes or backslashes in a segment, NUL and control characters, invalid
// percent-encoding or UTF-8, `;` path parameters, segments with trailing dots, `..` above the root,
// and absolute-form targets naming another host.
import { jitgateError } from '../errors.js';

export interface NormalizedTarget {
  /** Canonically encoded path the upstream receives (and the policy sees). */
  path: string;
  /** Decoded, non-empty segments. */
  segments: string[];
  /** Raw query string without `?` ('' when none); forwarded as received once validated. */
  rawQuery: string;
  query: Record<string, string[]>;
}

function refuse(why: string): never {
  throw jitgateError('REQUEST_AMBIGUOUS', why);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const PCT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;

/** Strict percent-decoding: any `%` not followed by two hex digits, or bytes that are not UTF-8, refuse. */
function decodeStrict(s: string): string {
  if (!s.includes('%')) return s;
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) refuse('invalid percent-encoding');
  return s.replace(PCT_RUN, (run) => {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
    try {
      return utf8.decode(bytes);
    } catch {
      return refuse('invalid UTF-8 in percent-encoding');
    }
  });
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
// RFC 3986 pchar minus ';' (refused) and '%' (always encoded): these stay literal, all else is encoded.
const PCHAR_SAFE = /^[A-Za-z0-9\-._~!$&'()*+,=:@]$/;

function encodeSegment(seg: string): string {
  let out = '';
  for (const ch of seg) {
    if (PCHAR_SAFE.test(ch)) {
      out += ch;
    } else {
      for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return out;
}

const MAX_QUERY_PARAMETERS = 1_000;

function parseQuery(raw: string): Record<string, string[]> {
  const query: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  if (raw === '') return query;
  // Rack before 3 and older Python split parameters on `;` as on `&`: `?x=1;debug=1` would carry
  // a parameter the policy never saw. Encoded (%3B) it means the same to everyone.
  if (raw.includes(';')) refuse('a ";" in the query (some servers split parameters on it): send it as %3B');
  const pairs = raw.split('&');
  // As form bodies (strict-form.ts): thousands of parameters in a 16 KiB head cost milliseconds
  // to read, check and log, every one of them before the caller is even known.
  if (pairs.length > MAX_QUERY_PARAMETERS) throw jitgateError('BAD_REQUEST', `more than ${String(MAX_QUERY_PARAMETERS)} query parameters`);
  for (const pair of pairs) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawKey = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1);
    // application/x-www-form-urlencoded: '+' is a space.
    const key = decodeStrict(rawKey.replaceAll('+', ' '));
    const value = decodeStrict(rawValue.replaceAll('+', ' '));
    if (CONTROL.test(key) || CONTROL.test(value)) refuse('control character in the query');
    (query[key] ??= []).push(value);
  }
  return query;
}

/**
 * A query key as PHP files it in $_GET: leading spaces dropped, spaces and dots made `_`, and an
 * array's `[...]` cut off (a `[` never closed is made `_` too). So `?.method=DELETE` is `_method`
 * to PHP, and to the Symfony and Laravel method override that reads it.
 */
function phpQueryName(key: string): string {
  const name = key.replace(/^ +/, '').replace(/[ .]/g, '_');
  const open = name.indexOf('[');
  if (open < 0) return name;
  return name.indexOf(']', open) > open ? name.slice(0, open) : `${name.slice(0, open)}_${name.slice(open + 1)}`;
}

/** Whether a query key asks the upstream to act on another method (`_method`, however PHP would read it). */
export function overridesMethod(query: Readonly<Record<string, readonly string[]>>): boolean {
  return Object.keys(query).some((key) => phpQueryName(key).toLowerCase() === '_method');
}

/** Whether a query key has `[` or `]`: PHP and Rails read `ids[]` as `ids`, which the policy would not. */
export function hasBracketKey(query: Readonly<Record<string, readonly string[]>>): boolean {
  return Object.keys(query).some((key) => key.includes('[') || key.includes(']'));
}

/** The Host header's authority, lower-cased, default port dropped. */
export function canonicalHost(host: string): string {
  const h = host.trim().toLowerCase();
  return h.endsWith(':80') ? h.slice(0, -3) : h;
}

/** Already-normal paths (the vast majority): plain characters, no empty, dot or dotted segments. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9\-_~!$&'()*+,=:@]+(?:\.[A-Za-z0-9\-_~!$&'()*+,=:@]+)*)+\/?$|^\/$/;
const EMPTY_QUERY: Record<string, string[]> = Object.freeze(Object.create(null) as Record<string, string[]>);

export function normalizeTarget(rawTarget: string, hostHeader: string | undefined): NormalizedTarget {
  if (PLAIN_PATH.test(rawTarget)) {
    // Nothing to decode or resolve: the target is its own normal form (same result as the slow path).
    const segments = rawTarget.split('/').filter((s) => s !== '');
    return { path: rawTarget, segments, rawQuery: '', query: EMPTY_QUERY };
  }
  let target = rawTarget;
  if (!target.startsWith('/')) {
    // absolute-form (RFC 9112 3.2.2): accepted only when it names the same authority as Host.
    const m = /^http:\/\/([^/?#]+)(.*)$/i.exec(target);
    if (!m?.[1]) refuse('unsupported request-target form');
    if (hostHeader === undefined || canonicalHost(m[1]) !== canonicalHost(hostHeader)) refuse('absolute-form target disagrees with Host');
    target = m[2] === undefined || m[2] === '' ? '/' : m[2];
    if (!target.startsWith('/')) refuse('malformed absolute-form target');
  }
  if (target.includes('#')) refuse('fragment in the request target');
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const rawQuery = q < 0 ? '' : target.slice(q + 1);
  if (rawPath.includes('\\')) refuse('backslash in the path');
  if (rawPath.includes(';')) refuse('path parameters (;) are not accepted');

  const segments: string[] = [];
  const rawSegments = rawPath.split('/');
  for (let i = 1; i < rawSegments.length; i++) {
    const raw = rawSegments[i] ?? '';
    if (raw === '') continue; // duplicate or trailing slash
    const seg = decodeStrict(raw);
    if (seg.includes('/')) refuse('encoded slash in a path segment');
    if (seg.includes('\\')) refuse('encoded backslash in a path segment');
    if (seg.includes(';')) refuse('encoded ; in a path segment');
    if (CONTROL.test(seg)) refuse('control character in the path');
    if (seg === '.') continue;
    if (seg === '..') {
      if (segments.length === 0) refuse('.. above the root');
      segments.pop();
      continue;
    }
    // Some servers strip trailing dots or spaces (`admin.` = `admin`): the policy would not see that.
    if (seg.endsWith('.') || seg.endsWith(' ')) refuse('path segment ends with a dot or space');
    segments.push(seg);
  }
  const last = rawSegments[rawSegments.length - 1];
  const trailingSlash = segments.length > 0 && rawSegments.length > 1 && (last === '' || last === '.' || last === '%2e' || last === '%2E');
  const path = '/' + segments.map(encodeSegment).join('/') + (trailingSlash ? '/' : '');
  return { path, segments, rawQuery, query: parseQuery(rawQuery) };
}
