// Compressed answers to requests that carried a secret. The upstream is asked for identity so the
// masker can read an echo of the credential; one that compresses all the same has its body
// decompressed on the way (and sent on uncompressed), in a coding Node can undo, or refused.
import type { IncomingHttpHeaders } from 'node:http';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** How a response body reaches the masker: as it is, through a decoder, or not at all. */
export type BodyReading = { kind: 'plain' } | { kind: 'decoded'; decoder: Transform } | { kind: 'unreadable'; coding: string };

const PLAIN: BodyReading = { kind: 'plain' };

const DECODERS: Readonly<Record<string, () => Transform>> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/** The codings of a Content-Encoding header, in the order they were applied, identity left out. */
function codings(value: string | string[]): string[] {
  return (Array.isArray(value) ? value : [value])
    .flatMap((v) => v.split(','))
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
}

/**
 * How to read the body of a response with these headers (not for HEAD: that answer has no body).
 * A body that is absent (204, 304, length 0) is plain whatever it says; a range of a compressed
 * body (206) cannot be decoded on its own, nor can two codings stacked or one Node does not have.
 */
export function bodyReading(headers: IncomingHttpHeaders, statusCode: number): BodyReading {
  // Typed as one string, but a repeated header arrives as a list.
  const coding = headers['content-encoding'] as string | string[] | undefined;
  if (coding === undefined || statusCode === 204 || statusCode === 304 || headers['content-length'] === '0') return PLAIN;
  const applied = codings(coding);
  if (applied.length === 0) return PLAIN;
  const decoder = applied.length === 1 && statusCode !== 206 ? DECODERS[applied[0] ?? ''] : undefined;
  return decoder ? { kind: 'decoded', decoder: decoder() } : { kind: 'unreadable', coding: applied.join(', ') };
}

/**
 * The caller's headers for a body sent on decoded: no coding, no length (it is chunked now), and
 * an entity tag no longer strong (it named the compressed bytes).
 */
export function decodedHead(out: Record<string, string | string[]>): void {
  delete out['content-encoding'];
  delete out['content-length'];
  const etag = out.etag;
  if (typeof etag === 'string' && !etag.startsWith('W/')) out.etag = `W/${etag}`;
}
