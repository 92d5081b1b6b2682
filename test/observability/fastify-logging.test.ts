// The logger and request ids as the servers use them: fastify({ ...requestLogging(logger) }).
import t from 'tap';
import Fastify from 'fastify';
import { createLogger, requestLogging } from '../../src/observability/index.js';

t.test('every line of a request carries its request id; credentials in logged headers are redacted', async (t) => {
  const lines: string[] = [];
  const logger = createLogger({ log_level: 'info' }, { write: (s: string) => { lines.push(s); } });
  const app = Fastify({ ...requestLogging(logger) });
  app.get('/x', (req) => {
    req.log.info({ headers: req.headers }, 'handling');
    return { id: req.id };
  });
  t.teardown(() => app.close());

  const res = await app.inject({ method: 'GET', url: '/x', headers: { 'x-request-id': 'trace-42', authorization: 'Bearer sekrit-token-value' } });
  t.equal(res.json<{ id: string }>().id, 'trace-42');
  const mine = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.request_id === 'trace-42');
  t.ok(mine.length >= 3, 'incoming request, handler line and response all carry request_id');
  t.ok(mine.some((l) => l.msg === 'handling'));
  t.notOk(lines.join('').includes('sekrit-token-value'), 'the bearer token never reaches the log');

  const fresh = await app.inject({ method: 'GET', url: '/x', headers: { 'x-request-id': 'bad id with spaces' } });
  t.match(fresh.json<{ id: string }>().id, /^[0-9a-f-]{36}$/, 'an unusable incoming id is replaced');
});
