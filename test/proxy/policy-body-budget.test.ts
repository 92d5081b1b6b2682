// The gateway-wide budget of bytes held for policies to read. Signed-in callers that each send
// all but the last byte of a body must not make the gateway hold more than the budget: a read
// past it is refused (503, never forwarded, counted), and the bytes are given back however a
// request ends, so the budget never leaks shut.
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { within } from '../helpers/poll.js';
import { demoRoute, noMetrics, startGateway, type Gateway } from './fixtures.js';

const MAX = 1024;
const BUDGET = 4 * MAX;
/** Bytes each held body has sent: under MAX, so its read never ends. */
const PARTIAL = MAX - 24;
let g: Gateway;
let alice: string;
let refusedCounted = 0;

t.before(async () => {
  g = await startGateway({
    routes: (upstream) => [demoRoute(upstream, { policy_body: { max_bytes: MAX, content_types: ['application/json'], read_timeout_ms: 1000 }, body_limit_bytes: 4096 })],
    policyBodyBudgetBytes: BUDGET,
    metrics: { ...noMetrics, policyBodyRefused: () => { refusedCounted++; } },
  });
  alice = await g.token('alice');
  g.grants.add('alice', 'writer', 3600);
});
t.teardown(async () => { await g.close(); });

/** A refund body of about PARTIAL bytes, whole. */
const refund = JSON.stringify({ order: 'o-7', amount: 5, note: 'x'.repeat(PARTIAL - 40) });

async function post(gateway = g, token = alice): Promise<{ status: number; code: string | undefined; reached: number }> {
  const before = gateway.upstream.seen.length;
  const res = await request(`${gateway.url}/api/refunds`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: refund });
  const json = (await res.body.json()) as { error?: { code?: string } };
  return { status: res.statusCode, code: json.error?.code, reached: gateway.upstream.seen.length - before };
}

/** Connections whose bodies (MAX bytes announced) stop PARTIAL bytes in; each remembers what it was answered. */
function holders(n: number, gateway = g, token = alice): { sockets: Socket[]; answers: string[] } {
  const answers: string[] = Array.from({ length: n }, () => '');
  const sockets = Array.from({ length: n }, (_, i) => {
    const sock = connect(gateway.port, '127.0.0.1');
    sock.on('data', (d: Buffer) => { answers[i] = `${answers[i] ?? ''}${d.toString('latin1')}`; });
    sock.on('error', () => undefined);
    sock.write(`POST /api/refunds HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${String(MAX)}\r\n\r\n`);
    sock.write(`{"order":"o-7","note":"${'x'.repeat(PARTIAL - 22)}`);
    return sock;
  });
  return { sockets, answers };
}

/**
 * `n` holders kept standing. One whose bytes came in while a probe's body was being read can
 * find the room taken and be refused itself; it is replaced, and the probe waits a round.
 */
function standingHolders(n: number, gateway = g, token = alice): { settled(): boolean; close(): void } {
  let held = Array.from({ length: n }, () => holders(1, gateway, token));
  return {
    settled() {
      if (held.every((h) => h.answers[0] === '')) return true;
      held = held.map((h) => {
        if (h.answers[0] === '') return h;
        h.sockets[0]?.destroy();
        return holders(1, gateway, token);
      });
      return false;
    },
    close() { for (const h of held) h.sockets[0]?.destroy(); },
  };
}

t.test('bodies held past the budget: the next read is refused with 503 and never forwarded, until the holders go', async (t) => {
  const standing = standingHolders(4);
  let refused: Awaited<ReturnType<typeof post>> | undefined;
  const seenBefore = g.upstream.seen.length;
  // Each probe that fits is answered and gives its bytes back; once the four hold their
  // 4,000 bytes, a fifth body of 1,000 cannot fit in 4,096.
  t.ok(await within(async () => {
    if (!standing.settled()) return false;
    const sent = await post();
    if (sent.status === 503) refused = sent;
    return refused !== undefined;
  }), 'a body that does not fit is refused');
  t.equal(refused?.code, 'JITGATE_E_POLICY_BODY_BUSY');
  t.equal(refused?.reached, 0, 'the upstream never saw the refused request');
  t.ok(refusedCounted >= 1, 'the refusal is counted');
  t.notOk(g.upstream.seen.slice(seenBefore).some((s) => s.body.startsWith('{"order":"o-7","note"')), 'nor any held body');

  // The callers leave: what they held is given back.
  standing.close();
  t.ok(await within(async () => (await post()).status !== 503), 'bodies are read again once the holders are gone');
});

t.test('bodies read to the end give their bytes back: many more than the budget, one after another', async (t) => {
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) statuses.push((await post()).status);
  t.same(statuses.filter((s) => s === 503), [], `20 bodies of ${String(refund.length)} bytes through a budget of ${String(BUDGET)}`);
});

t.test('bodies cut off by read_timeout_ms give their bytes back', async (t) => {
  const { sockets, answers } = holders(4);
  t.ok(await within(() => answers.every((a) => a.startsWith('HTTP/1.1 408 ')), 5000), 'each held body times out');
  t.equal((await post()).status === 503, false, 'the timed-out bodies no longer count');
  for (const sock of sockets) sock.destroy();
});

t.test('after a refusal the budget is whole again once the holders go', async (t) => {
  // Five holders: the one that comes last cannot fit, and is refused.
  const { sockets, answers } = holders(5);
  t.ok(await within(() => answers.some((a) => a.includes('JITGATE_E_POLICY_BODY_BUSY'))), 'the fifth holder is refused');
  for (const sock of sockets) sock.destroy();
  const statuses: number[] = [];
  t.ok(await within(async () => (await post()).status !== 503), 'the budget comes back');
  for (let i = 0; i < 4; i++) statuses.push((await post()).status);
  t.same(statuses.filter((s) => s === 503), []);
});

t.test('one caller holding its share (streams it keeps open) is refused alone: another caller\'s body is still read', async (t) => {
  // A share of half the budget: two of alice's held bodies fill it; the budget has room for more.
  const shared = await startGateway({
    routes: (upstream) => [demoRoute(upstream, { policy_body: { max_bytes: MAX, content_types: ['application/json'], read_timeout_ms: 30_000 }, body_limit_bytes: 4096 })],
    policyBodyBudgetBytes: BUDGET,
    policyBodyCallerShareBytes: BUDGET / 2,
  });
  t.teardown(async () => { await shared.close(); });
  const aliceHere = await shared.token('alice');
  const bob = await shared.token('bob');
  shared.grants.add('alice', 'writer', 3600);
  shared.grants.add('bob', 'writer', 3600);
  const standing = standingHolders(2, shared, aliceHere);
  let refused: Awaited<ReturnType<typeof post>> | undefined;
  t.ok(await within(async () => {
    // Only with both standing can a probe be refused.
    if (!standing.settled()) return false;
    const sent = await post(shared, aliceHere);
    if (sent.status === 503) refused = sent;
    return refused !== undefined;
  }), 'alice, past her share, is refused');
  t.equal(refused?.code, 'JITGATE_E_POLICY_BODY_BUSY');
  t.equal(refused?.reached, 0, 'and the upstream never saw it');
  const bobs = await post(shared, bob);
  t.equal(bobs.status, 200, 'bob\'s body is read and his refund allowed, while alice holds hers');
  t.equal(bobs.reached, 1, 'and forwarded');
  standing.close();
  t.ok(await within(async () => (await post(shared, aliceHere)).status === 200), 'alice is served again once her bodies are gone');
});
