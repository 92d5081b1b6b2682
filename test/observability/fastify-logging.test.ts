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

t.test('a request line shows the URL without its query values, cut to 1 KiB, whatever length the caller chose', async (t) => {
  const lines: string[] = [];
  const logger = createLogger({ log_level: 'info' }, { write: (s: string) => { lines.push(s); } });
  const app = Fastify({ ...requestLogging(logger), maxParamLength: 20_000 });
  app.get('/x', () => ({ ok: true }));
  t.teardown(() => app.close());
  const incoming = (id: string): { req?: { url?: string; method?: string; remoteAddress?: string } } | undefined => lines.map((l) => JSON.parse(l) as { request_id?: string; msg?: string; req?: { url?: string } })
    .find((l) => l.request_id === id && l.msg === 'incoming request');

  await app.inject({ method: 'GET', url: '/x?sig=azure-sas-signature&key=api-key-value&flag&page=2', headers: { 'x-request-id': 'short' } });
  t.same(incoming('short')?.req?.url, '/x?sig=[REDACTED]&key=[REDACTED]&flag&page=[REDACTED]', 'the names stay, to tell which URL it was; the values go');
  t.equal(incoming('short')?.req?.method, 'GET', 'fastify\'s other fields stay');

  const long = `/x?token=secret-token-value&pad=${'a'.repeat(15_000)}`;
  await app.inject({ method: 'GET', url: long, headers: { 'x-request-id': 'long-query' } });
  const longPath = `/${'b'.repeat(15_000)}?access_token=secret-in-404`;
  await app.inject({ method: 'GET', url: longPath, headers: { 'x-request-id': 'long-path' } });
  for (const id of ['long-query', 'long-path']) {
    const line = lines.find((l) => l.includes(`"request_id":"${id}"`) && l.includes('incoming request')) ?? '';
    t.ok(line.length < 1400, `${id}: the line is ${String(line.length)} bytes, not ~15 kB`);
    t.ok(lines.filter((l) => l.includes(`"request_id":"${id}"`)).every((l) => l.length < 1400), `${id}: as is each of its lines (fastify's "route not found" too)`);
    t.match(incoming(id)?.req?.url, /\.\.\.\[cut: the URL is 150\d\d characters\]$/, `${id}: and says it was cut`);
  }
  t.notOk(lines.join('').includes('secret-'), 'no query value reaches the log');
});
