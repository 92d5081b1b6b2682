// The control API's request ids, as docs/operations.md ("Logs") has them: a caller's plain
// X-Request-Id, or a fresh one, on every log line of the request and in its answer, errors
// and paths fastify cannot route included.
import t from 'tap';
import { createLogger } from '../../src/observability/index.js';
import { startStack } from './stack.js';

const lines: string[] = [];
const stack = await startStack({ logger: createLogger({ log_level: 'info' }, { write: (s: string) => { lines.push(s); } }) });
t.teardown(() => stack.close());
const alice = await stack.token('alice');

function logged(id: string): Record<string, unknown>[] {
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.request_id === id);
}

t.test('a plain X-Request-Id is in the answer and on the request\'s log lines', async (t) => {
  const res = await fetch(`${stack.base}/v1/requests`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', 'x-request-id': 'ctl-trace-42' },
    body: JSON.stringify({ role: 'writer', duration: '30m', reason: 'trace me' }),
  });
  t.equal(res.status, 201);
  t.equal(res.headers.get('x-request-id'), 'ctl-trace-42');
  t.ok(logged('ctl-trace-42').length >= 2, 'the request\'s log lines carry it');
});

t.test('an id that is not plain is replaced by a fresh one, the same in the answer and the log', async (t) => {
  const res = await fetch(`${stack.base}/v1/whoami`, { headers: { authorization: `Bearer ${alice}`, 'x-request-id': 'not plain {"level":"fatal"}' } });
  t.equal(res.status, 200);
  const id = res.headers.get('x-request-id') ?? '';
  t.match(id, /^[0-9a-f-]{36}$/);
  t.ok(logged(id).length >= 2, 'and the log lines carry that one');
  t.notOk(lines.some((l) => l.includes('"level":"fatal"')), 'nothing the caller wrote reaches the log as a field');
});

t.test('errors carry it too: a refusal, an unknown route, a path that does not decode', async (t) => {
  for (const [method, path, status] of [['GET', '/v1/whoami', 401], ['GET', '/v1/nowhere', 404], ['POST', '/v1/requests/%zz/approve', 400]] as const) {
    const id = `err-trace-${String(status)}`;
    const res = await fetch(`${stack.base}${path}`, { method, headers: { 'x-request-id': id } });
    await res.arrayBuffer();
    t.equal(res.status, status, `${method} ${path}`);
    t.equal(res.headers.get('x-request-id'), id, `${method} ${path}: the answer carries the id`);
  }
});
