// SIGTERM: requests in flight finish, then the gateway exits (docs/operations.md). A caller's
// kept-alive connection must not hold the exit for its keep-alive time once its answer is sent,
// and while the data path drains, the control API still answers (a revoke can still end a
// stream that outlasts the drain).
import { request as httpRequest, Agent } from 'node:http';
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

t.test('a second SIGTERM while draining exits at once, with 130', async (t) => {
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
  t.same(await exited, { code: 130, signal: null }, 'the second signal ends it with exit code 130');
  await res.body?.cancel().catch(() => undefined);
});
