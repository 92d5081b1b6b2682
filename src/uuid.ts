// Version 4 UUIDs as flat strings, for the ids every proxied request gets (its request id and
// its decision id). crypto.randomUUID() builds its text from about twenty concatenations: a tree
// of small strings for the collector, flattened again on the id's first use (a header check, a
// JSON line). Here the text is written into a buffer and taken as one string. The randomness is
// the same: crypto.randomFillSync, drawn in batches as randomUUID draws it.
import { randomFillSync } from 'node:crypto';

const BATCH = 16 * 128;
const random = Buffer.alloc(BATCH);
let next = BATCH;

const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Where each of the 16 bytes' two hex digits go in `xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx`. */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
const text = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');

export function uuid(): string {
  if (next === BATCH) {
    randomFillSync(random);
    next = 0;
  }
  const r = random;
  const base = next;
  next += 16;
  for (let i = 0; i < 16; i++) {
    let b = r[base + i] as number;
    if (i === 6) b = (b & 0x0f) | 0x40;
    else if (i === 8) b = (b & 0x3f) | 0x80;
    const at = AT[i] as number;
    text[at] = HEX[b >> 4] as number;
    text[at + 1] = HEX[b & 0x0f] as number;
  }
  return text.toString('latin1', 0, 36);
}
