// An answer that never ends, for tests of the gateway's own outbound calls (token, JWKS, uploads,
// checkpoints, bundles): its head and first bytes, then a byte a second (`trickle`) or a body
// without end, sent as fast as the caller reads it (`endless`). Each stops when the connection
// closes, which is what the tests wait for: the answer is in `open` until then.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

export type NeverEnding = 'trickle' | 'endless';

export interface NeverEndingHead {
  status: number;
  headers?: OutgoingHttpHeaders;
  /** The body's first bytes (a good answer's beginning, so the caller starts reading it). */
  first: string;
  /** Holds the answer while its connection is open. */
  open: Set<ServerResponse>;
}

export function neverEnd(res: ServerResponse, how: NeverEnding, head: NeverEndingHead): void {
  head.open.add(res);
  res.on('close', () => head.open.delete(res));
  res.writeHead(head.status, head.headers ?? {});
  res.write(head.first);
  if (how === 'trickle') {
    const tick = setInterval(() => res.write(' '), 1000);
    res.on('close', () => { clearInterval(tick); });
    return;
  }
  const chunk = Buffer.alloc(256 * 1024, 0x20);
  const pump = (): void => { while (!res.destroyed && res.write(chunk)); };
  res.on('drain', pump);
  pump();
}
