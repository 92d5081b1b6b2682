// Bundle signatures as OPA verifies them (docs/management-bundles, "Signing"): the bundle's
// /.signatures.json holds one JWS whose payload lists every file with its hash. The JWS must
// verify with a configured key, every file of the bundle must be listed with its hash, and
// every listed file must be there. JSON files are hashed as OPA hashes them: a canonical
// walk (keys sorted, values as Go's encoder writes them), so reformatting does not matter.
import { createHash } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, importSPKI } from 'jose';
import { parse as parseYaml } from 'yaml';
import { unpackBundle } from './bundle.js';

/** `bundles.<name>.signing`, as in OPA. */
export interface BundleSigning {
  keyid?: string;
  scope?: string;
  exclude_files?: string[];
}

/**
 * `keys.<id>`, as in OPA: `key`, a PEM public key (RSA, ECDSA) or an HMAC secret, verifies bundle
 * signatures; `private_key` (PEM, or the HMAC secret) signs what jitgate signs (OAuth2 client
 * assertions). The config requires at least one of them, and the one each use needs.
 */
export interface VerificationKey {
  key?: string;
  private_key?: string;
  algorithm: string;
}

const SIGNATURES_FILE = '.signatures.json';

/** OPA's hash names; MD5 and SHA-1 are refused here rather than trusted. */
const HASHES: Record<string, string> = {
  'SHA-224': 'sha224', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512', 'SHA-512-224': 'sha512-224', 'SHA-512-256': 'sha512-256',
};

/**
 * Go's json.Encoder (SetEscapeHTML(false)) for a primitive: what JSON.stringify writes, except
 * U+2028 and U+2029, which Go escapes (since Go 1.22 both write \b and \f the same way).
 */
function goJson(value: unknown): string {
  const text = JSON.stringify(value);
  return typeof value === 'string' ? text.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029') : text;
}

function utf8Order(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * A number as written in the file. OPA reads bundle JSON keeping each number's text
 * (json.Number) and hashes that text, so `1.50`, `1e2`, `-0` and integers past 2^53 must
 * reach the hash as written, not as JavaScript would print the double they parse to.
 */
class NumberText {
  constructor(readonly text: string) {}
}

const JSON_SPACE = new Set([' ', '\t', '\n', '\r']);

/**
 * JSON.parse for hashing: objects as Maps (last of a repeated key wins, as in Go and in
 * JSON.parse), numbers as their text. The text is checked by JSON.parse first, so the walk
 * below only meets valid JSON.
 */
function parseKeepingNumbers(text: string): unknown {
  JSON.parse(text);
  let at = 0;
  const skipSpace = (): void => { while (JSON_SPACE.has(text.charAt(at))) at++; };
  const string = (): string => {
    const start = at++;
    while (text.charAt(at) !== '"') at += text.charAt(at) === '\\' ? 2 : 1;
    at++;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const value = (): unknown => {
    skipSpace();
    const c = text.charAt(at);
    if (c === '{') {
      at++;
      const object = new Map<string, unknown>();
      skipSpace();
      if (text.charAt(at) === '}') { at++; return object; }
      for (;;) {
        skipSpace();
        const key = string();
        skipSpace();
        at++; // ':'
        object.set(key, value());
        skipSpace();
        if (text.charAt(at++) === '}') return object;
      }
    }
    if (c === '[') {
      at++;
      const array: unknown[] = [];
      skipSpace();
      if (text.charAt(at) === ']') { at++; return array; }
      for (;;) {
        array.push(value());
        skipSpace();
        if (text.charAt(at++) === ']') return array;
      }
    }
    if (c === '"') return string();
    for (const [word, literal] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, at)) { at += word.length; return literal; }
    }
    const start = at;
    while (at < text.length && '+-.eE0123456789'.includes(text.charAt(at))) at++;
    return new NumberText(text.slice(start, at));
  };
  return value();
}

/**
 * OPA's walk (bundle/hash.go): `{` sorted keys `:` values `,` `}`, `[` values `]`, primitives as
 * Go encodes them. Objects come as Maps from bundle JSON (parseKeepingNumbers) and as plain
 * objects from YAML.
 */
function canonical(value: unknown, out: string[]): void {
  if (value instanceof NumberText) {
    out.push(value.text);
  } else if (Array.isArray(value)) {
    out.push('[');
    value.forEach((item, i) => { if (i > 0) out.push(','); canonical(item, out); });
    out.push(']');
  } else if (value !== null && typeof value === 'object') {
    const members = new Map<string, unknown>(value instanceof Map ? value as Map<string, unknown> : Object.entries(value));
    out.push('{');
    [...members.keys()].sort(utf8Order).forEach((key, i) => {
      if (i > 0) out.push(',');
      out.push(goJson(key), ':');
      canonical(members.get(key), out);
    });
    out.push('}');
  } else {
    out.push(goJson(value));
  }
}

/**
 * JSON and YAML are hashed in their canonical form, which means reading them whole, a tree and a
 * token list in memory: a tampered bundle with a bloated data.json would hold the event loop for
 * seconds and could run the heap out before the hash comparison refused it. Past this size a file
 * is refused unread; the engine could not hold its data anyway (parsed values take about nine
 * times their text, in at most 256 MiB of wasm memory).
 */
const MAX_CANONICAL_BYTES = 16 * 1024 * 1024;

function fileDigest(name: string, bytes: Uint8Array, algorithm: string): string {
  const hash = createHash(algorithm);
  const text = (): string => new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  const structured = name.endsWith('.json') || name === '.manifest' || name.endsWith('/.manifest') || name.endsWith('.yaml') || name.endsWith('.yml');
  if (structured && bytes.length > MAX_CANONICAL_BYTES) {
    throw new Error(`${name} is ${String(bytes.length)} bytes, over the ${String(MAX_CANONICAL_BYTES)} a bundle's data may have: refused unread`);
  }
  if (name.endsWith('.json') || name === '.manifest' || name.endsWith('/.manifest')) {
    const out: string[] = [];
    canonical(parseKeepingNumbers(text()), out);
    hash.update(out.join(''));
  } else if (name.endsWith('.yaml') || name.endsWith('.yml')) {
    const out: string[] = [];
    canonical(parseYaml(text()), out);
    hash.update(out.join(''));
  } else {
    hash.update(bytes);
  }
  return hash.digest('hex');
}

/** `*` within a path segment, `**` across segments, as in exclude_files patterns. */
function globMatches(pattern: string, name: string): boolean {
  const source = pattern.split('**').map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')).join('.*');
  return new RegExp(`^${source}$`).test(name);
}

/**
 * OPA's rule for downloaded bundles: with `signing` configured the signature must verify; without
 * it a signed bundle is refused too (a signature nobody checks is a configuration mistake).
 */
export async function checkBundleSignature(archive: Uint8Array, signing: BundleSigning | undefined, keys: Readonly<Record<string, VerificationKey>>, files?: ReadonlyMap<string, Uint8Array>): Promise<void> {
  if (signing) return verifyBundleSignature(archive, signing, keys, files);
  if ((files ?? (await unpackBundle(archive))).has(SIGNATURES_FILE)) throw new Error(`the bundle is signed, but no signing is configured to verify it`);
}

/** Throws an Error saying why when `archive` is not signed as `signing` and `keys` require. */
export async function verifyBundleSignature(archive: Uint8Array, signing: BundleSigning, keys: Readonly<Record<string, VerificationKey>>, unpacked?: ReadonlyMap<string, Uint8Array>): Promise<void> {
  const files = unpacked ?? (await unpackBundle(archive));
  const signatures = files.get(SIGNATURES_FILE);
  if (!signatures) throw new Error(`the bundle is not signed (no /${SIGNATURES_FILE})`);
  const list = (JSON.parse(new TextDecoder().decode(signatures)) as { signatures?: unknown }).signatures;
  if (!Array.isArray(list) || list.length !== 1 || typeof list[0] !== 'string') throw new Error(`/${SIGNATURES_FILE} must hold exactly one signature`);
  const jws = list[0];
  const header = decodeProtectedHeader(jws);
  const keyid = signing.keyid ?? (typeof header.kid === 'string' ? header.kid : undefined);
  const key = keyid === undefined ? undefined : keys[keyid];
  if (!key?.key || keyid === undefined) throw new Error(`no configured key "${String(keyid)}" to verify the signature with`);
  const secret = key.algorithm.startsWith('HS') ? new TextEncoder().encode(key.key) : await importSPKI(key.key, key.algorithm);
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(jws, secret, { algorithms: [key.algorithm] }));
  } catch (err) {
    throw new Error(`the signature does not verify with key "${keyid}": ${(err as Error).message}`);
  }
  const claims = JSON.parse(new TextDecoder().decode(payload)) as { files?: unknown; scope?: unknown };
  if (signing.scope !== undefined && claims.scope !== signing.scope) throw new Error(`the signature's scope is not "${signing.scope}"`);
  if (!Array.isArray(claims.files)) throw new Error('the signature lists no files');
  const listed = new Map<string, { hash: string; algorithm: string }>();
  for (const entry of claims.files as { name?: unknown; hash?: unknown; algorithm?: unknown }[]) {
    if (typeof entry.name !== 'string' || typeof entry.hash !== 'string') throw new Error('the signature lists a file without a name or hash');
    const name = entry.name.replace(/^\/+/, '');
    if (listed.has(name)) throw new Error(`the signature lists ${name} twice`);
    listed.set(name, { hash: entry.hash, algorithm: typeof entry.algorithm === 'string' ? entry.algorithm : 'SHA-256' });
  }
  const excluded = signing.exclude_files ?? [];
  for (const [name, bytes] of files) {
    if (name === SIGNATURES_FILE || excluded.some((pattern) => globMatches(pattern, name))) continue;
    const expected = listed.get(name);
    if (!expected) throw new Error(`${name} is in the bundle but not in its signature`);
    const algorithm = HASHES[expected.algorithm];
    if (!algorithm) throw new Error(`${name}: hash algorithm ${expected.algorithm} is not accepted`);
    let digest: string;
    try {
      digest = fileDigest(name, bytes, algorithm);
    } catch (err) {
      throw new Error(`${name} cannot be hashed: ${(err as Error).message}`);
    }
    if (digest !== expected.hash) throw new Error(`${name} does not match its signed hash`);
    listed.delete(name);
  }
  const missing = [...listed.keys()].filter((name) => !excluded.some((pattern) => globMatches(pattern, name)));
  if (missing.length > 0) throw new Error(`the signature lists files the bundle lacks: ${missing.join(', ')}`);
}
