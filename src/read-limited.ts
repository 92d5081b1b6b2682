// A response body read into memory only up to a limit: what a remote service sends (a bundle, a
// token) must not be able to fill the gateway's memory.

/** The body's bytes; throws `tooLarge()` as soon as more than `limit` bytes have come. */
export async function readLimited(body: AsyncIterable<Buffer>, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
