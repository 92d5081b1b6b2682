// Reads an OPA-format bundle (tar.gz with /.manifest, /policy.wasm, /data.json). The
// opa-wasm SDK has no bundle loader, and the three files we need are small, so a minimal
// synchronous tar reader is simpler and safer than streaming extraction to disk.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip, gunzipSync } from 'node:zlib';
import { jitgateError } from '../errors.js';
import { logRuleEntrypoints } from './log-rules.js';

export interface BundleManifest {
  revision: string;
  roots?: string[];
  wasm?: { entrypoint: string; module: string }[];
  rego_version?: number;
  metadata?: Record<string, unknown>;
}

export interface PolicyBundle {
  manifest: BundleManifest;
  wasm: Uint8Array;
  /** Raw JSON bytes of /data.json as a real ArrayBuffer (the SDK treats a Node Buffer as an object). */
  data: ArrayBuffer;
  /** sha256 of the tar.gz, to recognise a bundle we already run. */
  sha256: string;
  /**
   * The decision-log rules (system/log/drop, system/log/mask) the bundle's own Rego sources
   * define. `opa build` compiles them into policy.wasm only when asked (`-e system/log/mask`),
   * so the engine refuses a bundle that carries such a rule without it.
   */
  logRules?: readonly string[];
}

const BLOCK = 512;
/**
 * Bundles bigger than this unpacked are refused: a policy bundle is kilobytes to a few megabytes,
 * a signed data.json over 16 MiB is refused anyway (signature.ts), and the engine could not hold
 * an unsigned one much over 17 MB (parsed, many small objects take 13 to 16 times their text, in
 * at most 256 MiB of wasm memory: docs/policies.md). Unpacked output is copied into one buffer on
 * the event loop at the end: about 50 ms for this much, four times that for 256 MiB.
 */
const MAX_UNPACKED_BYTES = 64 * 1024 * 1024;
/**
 * Entries past this are refused: reading a header costs a few microseconds of the event loop, and
 * 64 MiB holds over a hundred thousand of them (a few hundred KiB to download). A bundle has a
 * handful of files.
 */
const MAX_ENTRIES = 10_000;

const gunzipAsync = promisify(gunzip);

function field(header: Uint8Array, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return new TextDecoder().decode(end === -1 ? raw : raw.subarray(0, end));
}

/** PAX extended headers carry long paths as `len key=value\n` records. */
function paxPath(body: Uint8Array): string | undefined {
  const text = new TextDecoder().decode(body);
  for (const line of text.split('\n')) {
    const match = /^\d+ path=(.*)$/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}

/** Returns regular files by normalised name (leading "/" and "./" removed). */
export function untar(archive: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let offset = 0;
  let pendingName: string | undefined;
  let entries = 0;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break;
    if (++entries > MAX_ENTRIES) throw new Error(`more than ${String(MAX_ENTRIES)} entries`);
    const size = parseInt(field(header, 124, 12).trim() || '0', 8);
    if (!Number.isFinite(size) || size < 0) throw new Error('corrupt tar header');
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = field(header, 345, 155);
    const name = pendingName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    const body = archive.subarray(offset + BLOCK, offset + BLOCK + size);
    if (body.length !== size) throw new Error('truncated tar archive');
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      pendingName = paxPath(body);
      continue;
    }
    if (type === 'L') {
      pendingName = field(body, 0, body.length);
      continue;
    }
    pendingName = undefined;
    if (type === '0' || type === '\0') files.set(name.replace(/^(\.?\/)+/, ''), body);
  }
  return files;
}

function unreadable(error: unknown): Error {
  return jitgateError('BUNDLE_INVALID', `not a readable tar.gz: ${(error as Error).message}`);
}

/** The files of a bundle archive, by name, as the loader reads them. Throws BUNDLE_INVALID. */
export function bundleFiles(archive: Uint8Array): Map<string, Uint8Array> {
  try {
    return untar(gunzipSync(archive, { maxOutputLength: MAX_UNPACKED_BYTES }));
  } catch (error) {
    throw unreadable(error);
  }
}

/**
 * bundleFiles for a bundle from elsewhere (a server, a folder others write to): decompressed off
 * the event loop. Inflating a gzip bomb of a few hundred KiB takes a good part of a second, and
 * would otherwise hold every request that long, once per download.
 */
export async function unpackBundle(archive: Uint8Array): Promise<Map<string, Uint8Array>> {
  let tar: Buffer;
  try {
    tar = await gunzipAsync(archive, { maxOutputLength: MAX_UNPACKED_BYTES });
  } catch (error) {
    throw unreadable(error);
  }
  try {
    return untar(tar);
  } catch (error) {
    throw unreadable(error);
  }
}

/** Parses a bundle archive (its `files` when they were unpacked already). Throws BUNDLE_INVALID with the reason. */
export function parseBundle(archive: Uint8Array, files: ReadonlyMap<string, Uint8Array> = bundleFiles(archive)): PolicyBundle {
  const wasm = files.get('policy.wasm');
  if (!wasm) throw jitgateError('BUNDLE_INVALID', 'no /policy.wasm (was it built with `opa build -t wasm`?)');
  const manifestBytes = files.get('.manifest');
  let manifest: BundleManifest = { revision: '' };
  if (manifestBytes) {
    try {
      manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as BundleManifest;
    } catch {
      throw jitgateError('BUNDLE_INVALID', '/.manifest is not JSON');
    }
    if (typeof manifest !== 'object' || typeof manifest.revision !== 'string') {
      throw jitgateError('BUNDLE_INVALID', '/.manifest has no string revision');
    }
  }
  const dataBytes = files.get('data.json') ?? new TextEncoder().encode('{}');
  const data = dataBytes.buffer.slice(dataBytes.byteOffset, dataBytes.byteOffset + dataBytes.byteLength) as ArrayBuffer;
  const sha256 = createHash('sha256').update(archive).digest('hex');
  // `opa build` without --revision writes "": every such bundle would be decided, logged and
  // audited under the same empty name, and a change of policy would not look like one.
  if (manifest.revision === '') manifest = { ...manifest, revision: `sha256-${sha256.slice(0, 12)}` };
  const sources = [...files].filter(([name]) => name.endsWith('.rego')).map(([, bytes]) => new TextDecoder().decode(bytes));
  return { manifest, wasm: wasm.slice(), data, sha256, logRules: logRuleEntrypoints(sources) };
}

/** The bytes of a bundle file. Throws BUNDLE_INVALID when it cannot be read. */
export async function readBundleArchive(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw jitgateError('BUNDLE_INVALID', `cannot read ${path}: ${(error as Error).message}`);
  }
}

export async function readBundleFile(path: string): Promise<PolicyBundle> {
  return parseBundle(await readBundleArchive(path));
}
