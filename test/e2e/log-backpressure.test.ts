// The gateway's log lines go to stdout asynchronously. When whatever reads stdout stalls (a
// blocked pipe, a paused collector), lines it has not taken wait in memory: without a bound, every
// request to the control API (one line with its URL, which the caller chooses) grew the process,
// and a burst of long URLs could take it to its memory limit. A real `jitgate serve` whose stdout
// the test stops reading.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import t from 'tap';
import { demoRun } from '../helpers/demo-run.js';
import { within } from '../helpers/poll.js';

const REQUESTS = 16_000;
const URL_CHARS = 15_000;

function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

t.test('a stalled log reader costs dropped, counted lines, not memory without bound', async (t) => {
  const run = await demoRun(t, { prefix: 'jg-log-backpressure-', subjects: {} });
  const gw = await run.start();
  const pid = gw.proc.pid ?? 0;
  const agent = new Agent({ connections: 20 });
  t.teardown(() => agent.close());

  gw.proc.stdout?.pause();
  const before = rssBytes(pid);
  const path = `/v1/${'a'.repeat(URL_CHARS)}`;
  let sent = 0;
  await Promise.all(Array.from({ length: 20 }, async () => {
    while (sent < REQUESTS) {
      sent++;
      const res = await request(`${gw.controlUrl}${path}`, { dispatcher: agent });
      await res.body.dump();
    }
  }));
  const grown = rssBytes(pid) - before;
  t.ok(grown < 80 * 1024 * 1024, `${String(REQUESTS)} request lines of ${String(URL_CHARS)} characters while stdout is not read: the process grew ${String(Math.round(grown / 1048576))} MB`);

  const metrics = await (await fetch(`${gw.controlUrl}/metrics`)).text();
  const dropped = Number(/^jitgate_log_dropped_total (\d+)$/m.exec(metrics)?.[1] ?? 0);
  t.ok(dropped > 0, `the lines dropped are counted (${String(dropped)})`);

  // What was held is written first; a line logged after it is written too.
  gw.proc.stdout?.resume();
  const written = await within(async () => {
    await fetch(`${gw.controlUrl}/healthz`, { headers: { 'x-request-id': 'after-the-stall' } });
    return gw.output.some((l) => l.includes('"request_id":"after-the-stall"'));
  }, 30_000, 200);
  t.ok(written, 'once stdout is read again, lines are written again');
});
