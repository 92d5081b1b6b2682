// A control API call that fails on the server's side is logged with its code, its message and
// the driver's error. The message once went under pino's own message key, so the line held two
// "msg" keys: a JSON reader kept one of them (losing the error's message) and a strict one (an
// Elasticsearch ingest) refused the line. A real `jitgate serve` on a PostgreSQL database that
// stops taking writes.
import pg from 'pg';
import t from 'tap';
import { demoRun } from '../helpers/demo-run.js';
import { within } from '../helpers/poll.js';

t.test('a control API 5xx is logged as one well-formed line that keeps the error message', async (t) => {
  const run = await demoRun(t, { prefix: 'jg-control-error-log-', subjects: { alice: ['eng'] }, postgres: true });
  const gw = await run.start();
  const alice = await run.token('alice');
  const admin = new pg.Client(process.env.JITGATE_TEST_PG_URL);
  await admin.connect();
  t.teardown(() => admin.end());
  const db = new URL(run.dbUrl ?? '').pathname.slice(1);
  await admin.query(`ALTER DATABASE "${db}" SET default_transaction_read_only = on`);
  await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db]);

  const asked = await run.post(gw, '/v1/requests', alice, { role: 'writer', duration: '30m', reason: 'log test' });
  t.equal(asked.status, 503, 'the store takes no writes: 503');
  t.equal(asked.body.error?.code, 'JITGATE_E_STORE_UNAVAILABLE');

  const isServerError = (l: string): boolean => l.includes('"control API: server-side error"');
  t.ok(await within(() => gw.output.some(isServerError)), 'the failure is logged');
  const line = gw.output.find(isServerError) ?? '';
  t.equal(line.match(/"msg":/g)?.length, 1, `one message key in the line: ${line.slice(0, 300)}`);
  const entry = JSON.parse(line) as { msg?: string; code?: string; error?: string; err?: { code?: string } };
  t.equal(entry.msg, 'control API: server-side error');
  t.equal(entry.code, 'JITGATE_E_STORE_UNAVAILABLE');
  t.equal(entry.error, 'The grant store is unavailable', 'the error message is kept');
  t.equal(entry.err?.code, '25006', 'and the driver\'s error');
});
