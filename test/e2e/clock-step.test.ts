// One gateway on SQLite, one clock. When that clock steps back (a correction, a VM restored from a
// snapshot), a grant that had ended would be live again and its writes would go upstream with the
// writer credential. The gateway must stop deciding on grants until its clock is back where it was.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { demoRun } from '../helpers/demo-run.js';

const preload = fileURLToPath(new URL('../helpers/skewed-clock.mjs', import.meta.url));

t.test('a clock that steps back does not bring an ended grant back to life', async (t) => {
  // The sweeper comes by once a minute: until it records the grant's end, the cache alone ends it.
  const run = await demoRun(t, { prefix: 'jg-clock-step-', subjects: { alice: ['eng'], bob: ['eng', 'approvers'] }, jitgate: { workflow: { sweep_interval_ms: 60_000 } } });
  const clockFile = join(run.dir, 'clock-offset');
  writeFileSync(clockFile, '0');
  const gw = await run.start({ NODE_OPTIONS: `--import ${preload}`, JITGATE_TEST_CLOCK_FILE: clockFile });
  const alice = await run.token('alice');

  await run.writerGrant(gw, 'alice', 'bob', 4);
  t.same(await run.write(gw, alice, 'during'), { status: 200, code: undefined }, 'the four-second grant lets a write through');
  await sleep(4_500);
  t.same(await run.write(gw, alice, 'after'), { status: 403, code: 'JITGATE_E_FORBIDDEN' }, 'once it has ended, writes are refused');

  // Back 2 s: inside the grant's time again.
  writeFileSync(clockFile, '-2000');
  await sleep(200);
  t.same(await run.write(gw, alice, 'stepped'), { status: 503, code: 'JITGATE_E_STORE_UNAVAILABLE' }, 'with the clock stepped back into the grant\'s time, the gateway decides on no grant');
  t.notOk(run.upstream.seen.some((s) => s.url === '/api/items/stepped'), 'and the write never reached the upstream');
  const ready = await fetch(`${gw.controlUrl}/readyz`);
  const why = JSON.stringify(await ready.json());
  t.equal(ready.status, 503, '/readyz fails');
  t.match(why, /stepped back/, `and says why: ${why}`);

  writeFileSync(clockFile, '0');
  await sleep(200);
  t.same(await run.write(gw, alice, 'back'), { status: 403, code: 'JITGATE_E_FORBIDDEN' }, 'back where it was, the gateway decides again: the grant is still over');
  t.equal(run.upstream.seen.filter((s) => s.headers['x-api-key'] === run.keys.writer).length, 1, 'the writer credential went out once, while the grant stood');
});
