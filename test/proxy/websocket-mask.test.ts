// The WebSocket frame masker on its own: frames from an upstream come out with the secret
// overwritten wherever it is (one frame, split across reads, across the fragments of one message,
// in a control frame between them), byte for byte the same otherwise, and never held past the end
// of a message. Frames it cannot read end the stream instead of passing.
import t from 'tap';
import { SecretMasker } from '../../src/proxy/redact.js';
import { FrameMasker, UnreadableFrame } from '../../src/proxy/websocket-mask.js';
import { wsFrame, wsFrames } from '../helpers/ws-frames.js';

const SECRET = 'read-secret-3f9a1c';
const STARS = '*'.repeat(SECRET.length);

/** Feeds `input` to a masker in pieces of `sizes` (cycled) and collects what it sends, and when. */
async function through(input: Buffer, sizes: readonly number[] = [input.length], secret = SECRET, chunks: Buffer[] = []): Promise<{ out: Buffer; afterEachWrite: number[] }> {
  const masker = new FrameMasker(new SecretMasker([secret]));
  masker.on('data', (c: Buffer) => { chunks.push(c); });
  // Its error reaches the write that caused it.
  masker.on('error', () => {});
  const afterEachWrite: number[] = [];
  const sent = (): number => chunks.reduce((n, c) => n + c.length, 0);
  let at = 0;
  for (let i = 0; at < input.length; i++) {
    const size = sizes[i % sizes.length] ?? 1;
    await new Promise<void>((resolve, reject) => { masker.write(input.subarray(at, at + size), (err) => { if (err) reject(err); else resolve(); }); });
    at += size;
    afterEachWrite.push(sent());
  }
  await new Promise<void>((resolve) => { masker.end(resolve); });
  return { out: Buffer.concat(chunks), afterEachWrite };
}

t.test('a secret in a frame is masked; the frame keeps its length and everything else its bytes', async (t) => {
  const input = Buffer.concat([wsFrame(`token is ${SECRET}, ok`), wsFrame(Buffer.alloc(300, 'x'), { opcode: 2 }), wsFrame('bye')]);
  for (const sizes of [[input.length], [1], [2, 3, 5, 7]]) {
    const { out } = await through(input, sizes);
    t.equal(out.length, input.length, `pieces of ${sizes.join(',')}: same length`);
    t.same(wsFrames(out).frames.map((f) => f.payload), [`token is ${STARS}, ok`, 'x'.repeat(300), 'bye']);
    t.notOk(out.includes(SECRET));
  }
});

t.test('a secret split across the fragments of one message, with a ping between them, is masked', async (t) => {
  const cut = 7;
  const input = Buffer.concat([
    wsFrame(`a:${SECRET.slice(0, cut)}`, { fin: false }),
    wsFrame(`ping ${SECRET}`, { opcode: 9 }),
    wsFrame(`${SECRET.slice(cut)}:b`, { opcode: 0 }),
  ]);
  for (const sizes of [[input.length], [1], [4, 9]]) {
    const { out } = await through(input, sizes);
    const { frames, used } = wsFrames(out);
    t.equal(used, input.length, 'every byte, as whole frames');
    t.same(frames.map((f) => [f.opcode, f.fin, f.payload]), [
      [1, false, `a:${STARS.slice(0, cut)}`],
      [9, true, `ping ${STARS}`],
      [0, true, `${STARS.slice(cut)}:b`],
    ], `pieces of ${sizes.join(',')}: in order, the ping where it was`);
  }
});

t.test('a secret across reads of a long frame (16- and 64-bit lengths) is masked', async (t) => {
  for (const size of [1000, 70_000]) {
    const payload = Buffer.alloc(size, 'y');
    payload.write(SECRET, size - 600);
    const input = wsFrame(payload, { opcode: 2 });
    const { out } = await through(input, [size - 600 + 5, 3, 64 * 1024]);
    t.equal(out.length, input.length);
    t.equal(wsFrames(out).frames[0]?.payload, `${'y'.repeat(size - 600)}${STARS}${'y'.repeat(600 - SECRET.length)}`, `${size} bytes`);
  }
});

t.test('without a secret the stream passes unchanged, and a message is never held past its end', async (t) => {
  const input = Buffer.concat([wsFrame('hello r'), wsFrame('read-', { fin: false }), wsFrame('more', { opcode: 0 })]);
  const { out, afterEachWrite } = await through(input, [wsFrame('hello r').length, wsFrame('read-', { fin: false }).length, 6]);
  t.same(out, input, 'byte for byte');
  t.equal(afterEachWrite[0], wsFrame('hello r').length, 'a message ending in what could begin the secret is sent at once');
  t.equal(afterEachWrite[1], wsFrame('hello r').length + 2, 'a fragment ending so waits for the next one (its header is sent)');
  t.equal(afterEachWrite[2], input.length, 'which sends it');
});

t.test('frames queued behind a held tail do not wait without bound: the session ends, the tail unsent', async (t) => {
  const start = wsFrame('read-', { fin: false });
  const pings = Array.from({ length: 100 }, () => wsFrame('', { opcode: 9 }));
  const input = Buffer.concat([start, ...pings]);
  const sent: Buffer[] = [];
  const err = await through(input, [start.length, ...pings.map((p) => p.length)], SECRET, sent).then(() => null, (e: unknown) => e);
  t.ok(err instanceof UnreadableFrame, `past the bound: ${String(err)}`);
  t.notOk(Buffer.concat(sent).includes('read-'), 'the held start of the secret never went out');
});

t.test('a secret sent a byte per frame is masked, or ends the session; it never goes out whole', async (t) => {
  const message = (secret: string): Buffer => Buffer.concat(Array.from({ length: secret.length }, (_, i) => wsFrame(secret.charAt(i), { opcode: i === 0 ? 1 : 0, fin: i === secret.length - 1 })));
  const short = await through(message(SECRET), [1], SECRET);
  t.equal(wsFrames(short.out).frames.map((f) => f.payload).join(''), STARS, `${String(SECRET.length)} frames: masked across all of them`);

  const bearer = 'tok_7Hq2ZpX9mLr4VwK8sN3bYc6Df1Gj5TeR0uA2iOx';
  const sent: Buffer[] = [];
  const err = await through(message(bearer), [3], bearer, sent).then(() => null, (e: unknown) => e);
  t.ok(err instanceof UnreadableFrame, `${String(bearer.length)} frames: the session ends (${String(err)})`);
  const payload = wsFrames(Buffer.concat(sent)).frames.map((f) => f.payload).join('');
  t.notOk(payload.includes(bearer.slice(0, 8)), `the caller got no run of the secret: ${JSON.stringify(payload)}`);
});

t.test('frames the masker cannot read end the stream', async (t) => {
  const cases: [string, Buffer][] = [
    ['a masked frame', wsFrame(SECRET, { maskKey: Buffer.from([1, 2, 3, 4]) })],
    ['a compressed frame (RSV1)', wsFrame('compressed', { rsv1: true })],
    ['a control frame over 125 bytes', wsFrame(Buffer.alloc(126, 'p'), { opcode: 9 })],
  ];
  for (const [name, frame] of cases) {
    const err = await through(Buffer.concat([wsFrame('fine'), frame])).then(() => null, (e: unknown) => e);
    t.ok(err instanceof UnreadableFrame, `${name}: ${String(err)}`);
  }
});
