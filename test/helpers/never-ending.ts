// An answer that never ends, for tests of the gateway's own outbound calls (token, JWKS, uploads,
// checkpoints, bundles): once its head and first bytes are out, a byte a second (`trickle`) or a
// body without end, sent as fast as the caller reads it (`endless`). Each stops when the
// connection closes, which is what the tests wait for.
import type { ServerResponse } from 'node:http';

export type NeverEnding = 'trickle' | 'endless';

export function neverEnd(res: ServerResponse, how: NeverEnding): void {
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
