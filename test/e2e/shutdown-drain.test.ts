// SIGTERM: requests in flight finish, then the gateway exits (docs/operations.md). A caller's
// kept-alive connection must not hold the exit for its keep-alive time once its answer is sent,
// and while the data path drains, the control API still answers (a revoke can still end a
// stream that outlasts the drain).
import { request as httpRequest, Agent } from 'node:http';
import { connect } from 'node:net';
import t from 'tap';
import { demoRun } from '../helpers/demo-run.js';

t.test('SIGTERM with a request in flight on a kept-alive connection: it finishes, the control API answers meanwhile, and the gateway exits soon after', async (t) => {
  const run = await demoRun(t, { prefix: 'jg-drain-', subjects: { alice: ['eng'] } });
  const gw = await run.start();
  const alice = await run.token('alice');
  const agent = new Agent({ keepAlive: true });
  t.teardown(() => { agent.destroy(); });

  // An event stream that ends by itself 1.5 s in, on a connection the client keeps alive.
  const startedMs = Date.now();
  const answered = new Promise<{ status: number; body: string; endedMs: number }>((resolve, reject) => {
    const req = httpRequest(`${gw.proxyUrl}/api/__drip?ms=1500`, { agent, headers: { authorization: `Bearer ${alice}` } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body, endedMs: Date.now() }); });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  await new Promise((r) => setTimeout(r, 300));
  const exited = new Promise<number>((resolve) => { gw.proc.once('exit', () => { resolve(Date.now()); }); });
  gw.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  const ready = await fetch(`${gw.controlUrl}/readyz`).then((r) => r.status, (e: unknown) => String(e));
  t.equal(typeof ready, 'number', `the control API still answers while the data path drains (${String(ready)})`);

  const { status, body, endedMs } = await answered;
  t.equal(status, 200, 'the stream in flight was answered');
  t.match(body, /data: done/, 'and ran to its end');
  const exitMs = await exited;
  t.ok(exitMs - endedMs < 10_000, `the gateway exited ${String(exitMs - endedMs)} ms after the last answer (a kept-alive connection held it 72 s before)`);
  t.ok(exitMs - startedMs > 1_400, 'and not before the stream ended');
});

t.test('a second SIGTERM while draining exits at once, with 143 (128 + SIGTERM, as a shell reports it)', async (t) => {
  const run = await demoRun(t, { prefix: 'jg-drain-twice-', subjects: { alice: ['eng'] } });
  const gw = await run.start();
  const alice = await run.token('alice');
  // A stream that would run 30 s: the first SIGTERM waits for it.
  const res = await fetch(`${gw.proxyUrl}/api/__drip?ms=30000`, { headers: { authorization: `Bearer ${alice}` } });
  t.equal(res.status, 200);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => { gw.proc.once('exit', (code, signal) => { resolve({ code, signal }); }); });
  gw.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  gw.proc.kill('SIGTERM');
  t.same(await exited, { code: 143, signal: null }, 'the second signal ends it with exit code 143');
  await res.body?.cancel().catch(() => undefined);
});

t.test('a request pipelined behind one in flight when SIGTERM comes is decided and answered by the gateway, not refused by fastify with a bare 503', async (t) => {
  const run = await demoRun(t, { prefix: 'jg-drain-pipelined-', subjects: { alice: ['eng'] } });
  const gw = await run.start();
  const alice = await run.token('alice');
  const url = new URL(gw.proxyUrl);
  const sock = connect(Number(url.port), url.hostname);
  t.teardown(() => { sock.destroy(); });
  let data = '';
  sock.on('data', (d: Buffer) => { data += d.toString(); });
  const ended = new Promise<void>((resolve) => sock.on('close', () => { resolve(); }));
  await new Promise<void>((resolve) => sock.on('connect', () => { resolve(); }));
  // A stream that ends by itself 1.5 s in, and behind it on the same connection a plain read,
  // which the server takes up only once the stream has ended: after SIGTERM.
  sock.write(`GET /api/__drip?ms=1500 HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${alice}\r\n\r\n`);
  while (!data.includes('200 OK')) await new Promise((resolve) => sock.once('data', resolve));
  gw.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  sock.write(`GET /api/items HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${alice}\r\n\r\n`);
  await ended;
  const answers = data.split(/(?=HTTP\/1\.1 )/);
  t.equal(answers.length, 2, 'both requests were answered');
  t.match(answers[0], /data: done/, 'the stream ran to its end');
  t.match(answers[1], /^HTTP\/1\.1 200 /, 'the read behind it was served');
  t.match(answers[1], /\r\nx-jitgate-decision-id: /i, 'under a decision, whose id it carries');
  t.match(answers[1], /\r\nconnection: close\r\n/i, 'and the connection closes after it');
});

t.test('while the data path drains, /readyz fails with a shutdown check, so a load balancer stops sending callers to a closed port', async (t) => {
  const run = await demoRun(t, { prefix: 'jg-drain-ready-', subjects: { alice: ['eng'] } });
  const gw = await run.start();
  const alice = await run.token('alice');
  const before = await fetch(`${gw.controlUrl}/readyz`);
  t.equal(before.status, 200, 'ready before the signal');
  await before.arrayBuffer();

  // A stream that would run 30 s holds the drain open.
  const stream = await fetch(`${gw.proxyUrl}/api/__drip?ms=30000`, { headers: { authorization: `Bearer ${alice}` } });
  t.equal(stream.status, 200);
  const exited = new Promise<void>((resolve) => { gw.proc.once('exit', () => { resolve(); }); });
  gw.proc.kill('SIGTERM');
  // Once the proxy refuses new connections...
  const { port } = new URL(gw.proxyUrl);
  const refused = (): Promise<boolean> => new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => { resolve(true); });
  });
  let closed = false;
  for (let i = 0; i < 100 && !closed; i++) {
    closed = await refused();
    if (!closed) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(closed, 'the proxy takes no new connections');
  // ...readiness says so, while the control API still answers.
  const during = await fetch(`${gw.controlUrl}/readyz`);
  const report = (await during.json()) as { ok: boolean; checks: Record<string, { ok: boolean; detail?: string }> };
  t.equal(during.status, 503, 'not ready while draining');
  t.equal(report.ok, false);
  t.match(report.checks.shutdown, { ok: false, detail: /stopping/ }, 'the shutdown check says why');
  t.equal((await fetch(`${gw.controlUrl}/healthz`)).status, 200, 'alive all the same: nothing to restart');

  await stream.body?.cancel().catch(() => undefined);
  await exited;
});
