// Decision logs in OPA's format: masking, the upload protocol against a real local
// receiver (gzip JSON arrays, size-limited chunks, retry after failure, bounded buffer
// with counted drops), the rotating JSONL file and the console sink.
import t from 'tap';
import { createServer, type IncomingMessage } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { createDecisionLogger, maskInput, type DecisionLogsConfig, type DecisionLogEvent } from '../../src/audit/index.js';
import { createLogger } from '../../src/observability/index.js';
import { buildBundle, findOpa } from '../../src/policy/index.js';
import { certAuthority } from '../helpers/certs.js';
import { startReceiver, type ReceiverTls } from '../helpers/receiver.js';

const BEARER = 'eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LWJlYXJlcg.sig-9f8e7d';
const API_KEY = 'jg_reporting.top-secret-key-1234';

function config(over: Partial<DecisionLogsConfig> = {}): DecisionLogsConfig {
  return {
    console: false, resource: '/logs', mask: [],
    reporting: { buffer_size_limit_events: 10000, buffer_size_limit_bytes: 67108864, upload_size_limit_bytes: 32768, min_delay_seconds: 0.01, max_delay_seconds: 0.2 },
    ...over,
  };
}

function capture(): { lines: string[]; write(s: string): void } {
  const lines: string[] = [];
  return { lines, write(s: string) { lines.push(s); } };
}

let n = 0;
/** Logged events reach the sinks at the end of the event-loop turn they were logged in. */
function endOfTurn(): Promise<void> {
  return new Promise((resolve) => { setImmediate(resolve); });
}

function decision(over: Partial<DecisionLogEvent> = {}): Omit<DecisionLogEvent, 'labels' | 'erased' | 'masked'> {
  const id = `dec-${++n}`;
  return {
    decision_id: id,
    timestamp: new Date().toISOString(),
    path: 'jitgate/authz',
    input: {
      request: { method: 'GET', path: '/orders', headers: { authorization: `Bearer ${BEARER}`, 'x-api-key': API_KEY, accept: 'application/json' }, query: {} },
      subject: { id: 'alice', kind: 'user', groups: ['eng'], claims: { email: 'alice@example.com' } },
      grants: [], now_ns: 1,
    },
    result: { allow: true, grant_ids: ['g1'] },
    bundles: { jitgate: { revision: 'rev-7' } },
    metrics: { timer_rego_query_eval_ns: 12345 },
    jitgate: { route: 'orders', subject: 'alice', grant_ids: ['g1'], upstream_status: 200, latency_ns: 99 },
    ...over,
  };
}

interface Upload { headers: IncomingMessage['headers']; url: string; compressed: number; clientCert: string | null; events: Record<string, unknown>[] }

async function receiver(respond: (i: number) => number, tls?: ReceiverTls): Promise<{ url: string; readonly uploads: Upload[]; close(): Promise<void> }> {
  const rx = await startReceiver((_url, i) => respond(i), tls);
  return {
    url: `${rx.url}/v1`,
    get uploads(): Upload[] {
      return rx.accepted().map((r) => ({
        headers: r.headers, url: r.url, compressed: r.body.length, clientCert: r.clientCert,
        events: JSON.parse(gunzipSync(r.body).toString('utf8')) as Record<string, unknown>[],
      }));
    },
    close: () => rx.close(),
  };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!cond()) throw new Error(`gave up waiting for ${what}`);
}

t.test('masking follows OPA: configured pointers erased, secrets masked, both reported', (t) => {
  const input = { request: { headers: { authorization: 'Bearer abc', cookie: 'sid=1', accept: '*/*' }, body: { note: 'x', card: '4111' } }, subject: { claims: { refresh_token: 'r', sub: 'alice' } }, misc: ['Basic dXNlcjpwYXNz'] };
  const m = maskInput({ input, result: { allow: true } }, ['/input/request/body/card', '/input/does/not/exist']);
  t.same(m.erased, ['/input/request/body/card'], 'erased lists what was removed, not what was absent');
  t.same(m.masked, ['/input/misc/0', '/input/request/headers/authorization', '/input/request/headers/cookie', '/input/subject/claims/refresh_token']);
  const out = m.input as typeof input;
  t.equal(out.request.headers.authorization, '[REDACTED]');
  t.equal(out.request.headers.accept, '*/*');
  t.notOk('card' in out.request.body);
  t.equal(out.subject.claims.sub, 'alice');
  t.equal(input.request.headers.authorization, 'Bearer abc', 'the caller’s object is untouched');
  t.equal(input.request.body.card, '4111', 'erasing does not touch the caller’s object either');
  t.equal(input.misc[0], 'Basic dXNlcjpwYXNz');
  const clean = { request: { headers: { accept: '*/*' } } };
  const c = maskInput({ input: clean, result: { allow: true } });
  t.same([c.erased, c.masked], [[], []], 'nothing to mask: nothing reported');
  t.same(c.input, clean);
  t.end();
});

t.test('a secret-looking key is masked whatever its case or separators; keys that merely contain the words are not', (t) => {
  const body: Record<string, string> = {
    accessToken: 'a', refreshToken: 'b', clientSecret: 'c', newPassword: 'd', aws_secret_access_key: 'e', 'x-amzn-oidc-accesstoken': 'f',
    'X-AuthToken': 'g', JSESSIONID: 'h', apiKey: 'i', 'private.key': 'j', tokenizer: 'kept', secretary: 'kept', passwordPolicy: 'kept',
  };
  const m = maskInput({ input: { request: { body } }, result: { allow: true } });
  const out = (m.input as { request: { body: Record<string, string> } }).request.body;
  t.same(Object.keys(out).filter((k) => out[k] === '[REDACTED]').sort(), Object.keys(body).filter((k) => body[k] !== 'kept').sort());
  t.same(Object.keys(out).filter((k) => out[k] === 'kept').sort(), ['passwordPolicy', 'secretary', 'tokenizer']);
  t.end();
});

t.test('masking remembers frozen clean values only while nothing under them can change', (t) => {
  const sealed = Object.freeze([Object.freeze({ id: 'g1', reason: 'INC-1', scope: Object.freeze({ paths: Object.freeze(['/api/**']) }) })]);
  for (let i = 0; i < 2; i++) {
    const m = maskInput({ input: { grants: sealed }, result: { allow: true } });
    t.equal((m.input as { grants: unknown }).grants, sealed, `a deeply frozen clean set is passed through as is (${String(i + 1)})`);
  }
  // Frozen on top but holding a mutable object: it must be walked every time.
  const claims: Record<string, string> = { sub: 'alice' };
  const subject = Object.freeze({ id: 'alice', claims });
  t.same(maskInput({ input: { subject }, result: {} }).masked, []);
  claims.note = 'Bearer eyJhbGciOiJSUzI1NiJ9.leaked';
  const later = maskInput({ input: { subject }, result: {} });
  t.same(later.masked, ['/input/subject/claims/note'], 'a secret added later under a shallow-frozen object is still found');
  const secretSet = Object.freeze([Object.freeze({ id: 'g2', token: 'abc' })]);
  for (let i = 0; i < 2; i++) {
    t.same(maskInput({ input: { grants: secretSet }, result: {} }).masked, ['/input/grants/0/token'], `a frozen set with a secret is masked every time (${String(i + 1)})`);
  }
  t.end();
});

t.test('upload: gzip JSON arrays to services[service].url + resource, in OPA format, secrets masked', async (t) => {
  const rx = await receiver(() => 200);
  t.teardown(() => rx.close());
  const logger = createLogger({ log_level: 'warn' }, capture());
  const dl = createDecisionLogger(config({ service: 'control', resource: '/logs/jitgate', mask: ['/input/subject/claims/email'] }), {
    labels: { app: 'jitgate', environment: 'test' },
    services: { control: { url: rx.url, headers: { 'x-tenant': 't1' }, credentials: { bearer: { token: 'svc-token' } } } },
    logger,
  });
  await dl.start();
  const sent = [decision(), decision({ result: { allow: false, reason: 'no grant' } }), decision()];
  for (const e of sent) dl.log(e);
  await until(() => rx.uploads.flatMap((u) => u.events).length === 3, 'three events');
  await dl.stop();

  const up = rx.uploads[0]!;
  t.equal(up.url, '/v1/logs/jitgate');
  t.equal(up.headers['content-encoding'], 'gzip');
  t.equal(up.headers['content-type'], 'application/json');
  t.equal(up.headers.authorization, 'Bearer svc-token', 'service credentials as OPA configures them');
  t.equal(up.headers['x-tenant'], 't1');
  const events = rx.uploads.flatMap((u) => u.events);
  t.same(events.map((e) => e.decision_id), sent.map((e) => e.decision_id), 'in order, once each');
  const e = events[0]!;
  for (const key of ['decision_id', 'timestamp', 'path', 'input', 'result', 'bundles', 'labels', 'metrics', 'erased', 'masked', 'jitgate']) t.ok(key in e, `has ${key}`);
  t.same(e.bundles, { jitgate: { revision: 'rev-7' } });
  t.match(e.labels, { app: 'jitgate', environment: 'test', id: hostname(), version: String });
  t.same(e.erased, ['/input/subject/claims/email']);
  t.same(e.masked, ['/input/request/headers/authorization', '/input/request/headers/x-api-key']);
  t.match(e.jitgate, { route: 'orders', subject: 'alice', grant_ids: ['g1'], upstream_status: 200 });
  const raw = JSON.stringify(events);
  t.notOk(raw.includes(BEARER), 'the bearer token never left the process');
  t.notOk(raw.includes(API_KEY), 'the API key never left the process');
  t.notOk(raw.includes('alice@example.com'), 'the configured field was erased');
  t.equal(dl.dropped, 0);
});

t.test('upload chunks stay within upload_size_limit_bytes and lose nothing', async (t) => {
  const rx = await receiver(() => 200);
  t.teardown(() => rx.close());
  const dl = createDecisionLogger(config({ service: 's', reporting: { buffer_size_limit_events: 10000, buffer_size_limit_bytes: 67108864, upload_size_limit_bytes: 2048, min_delay_seconds: 0.05, max_delay_seconds: 0.2 } }), {
    labels: {}, services: { s: { url: rx.url } }, logger: createLogger({ log_level: 'silent' }),
  });
  // Random payloads do not compress: 200 events cannot fit one 2 KiB chunk.
  const ids: string[] = [];
  for (let i = 0; i < 200; i++) {
    const e = decision({ result: { allow: true, reason: randomBytes(48).toString('base64') } });
    ids.push(e.decision_id);
    dl.log(e);
  }
  await until(() => rx.uploads.flatMap((u) => u.events).length >= 200, '200 events');
  await dl.stop();
  t.ok(rx.uploads.length > 1, `split into ${rx.uploads.length} uploads`);
  t.ok(rx.uploads.every((u) => u.compressed <= 2048), 'every compressed body within the limit');
  t.same(rx.uploads.flatMap((u) => u.events).map((e) => e.decision_id), ids);
});

t.test('a receiver that fails then recovers gets every event, once', async (t) => {
  const rx = await receiver((i) => (i < 3 ? 503 : 200));
  t.teardown(() => rx.close());
  const warnings = capture();
  const dl = createDecisionLogger(config({ service: 's' }), { labels: {}, services: { s: { url: rx.url } }, logger: createLogger({ log_level: 'warn' }, warnings) });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const e = decision();
    ids.push(e.decision_id);
    dl.log(e);
  }
  await until(() => rx.uploads.length > 0, 'a successful upload');
  await dl.stop();
  t.same(rx.uploads.flatMap((u) => u.events).map((e) => e.decision_id), ids);
  t.equal(dl.dropped, 0);
  const failures = warnings.lines.filter((l) => l.includes('decision log upload failed'));
  t.ok(failures.length > 0, 'the failures were reported');
  // The line is the gateway's (service: jitgate): a pipeline that routes on it must not lose it.
  t.ok(failures.every((l) => l.match(/"service":/g)?.length === 1), `one service key per line: ${failures[0] ?? ''}`);
  t.ok(failures.every((l) => (JSON.parse(l) as { service?: string }).service === 'jitgate'), 'and it is the gateway');
  t.ok(failures.every((l) => (JSON.parse(l) as { decision_log_service?: string }).decision_log_service === 's'), 'the decision-log service is named beside it');
});

t.test('a decision-log service behind mTLS: uploads trust its CA and present the client certificate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-dl-tls-'));
  const ca = certAuthority(dir, 'logs-ca');
  const server = ca.issue('logs-server', 'server');
  const client = ca.issue('jitgate-logger', 'client');
  const rx = await receiver(() => 200, { cert: server.cert, key: server.key, ca: ca.cert });
  t.teardown(() => rx.close());
  const service = { url: rx.url, tls: { ca_cert: ca.cert }, credentials: { client_tls: { cert: client.cert, private_key: client.key } } };
  const dl = createDecisionLogger(config({ service: 's' }), { labels: {}, services: { s: service }, logger: createLogger({ log_level: 'silent' }) });
  const e = decision();
  dl.log(e);
  await until(() => rx.uploads.length > 0, 'an upload over mTLS');
  await dl.stop();
  t.same(rx.uploads.flatMap((u) => u.events).map((ev) => ev.decision_id), [e.decision_id]);
  t.same(rx.uploads.map((u) => u.clientCert), ['jitgate-logger'], 'with the client certificate');
});

t.test('a decision-log service with OAuth2 client credentials: uploads carry the token endpoint\'s bearer token, asked once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-dl-oauth2-'));
  const ca = certAuthority(dir, 'idp-ca');
  const server = ca.issue('idp', 'server');
  const idp = await startReceiver(() => ({ status: 200, body: JSON.stringify({ access_token: 'upload-token', token_type: 'Bearer', expires_in: 600 }) }),
    { cert: server.cert, key: server.key, ca: ca.cert, anyClient: true });
  t.teardown(() => idp.close());
  const rx = await receiver(() => 200);
  t.teardown(() => rx.close());
  const service = { url: rx.url, tls: { ca_cert: ca.cert }, credentials: { oauth2: { token_url: `${idp.url}/oauth/token`, client_id: 'jitgate', client_secret: 'logs-secret' } } };
  const dl = createDecisionLogger(config({ service: 's' }), { labels: {}, services: { s: service }, logger: createLogger({ log_level: 'silent' }) });
  const events = [decision(), decision()];
  dl.log(events[0]!);
  await until(() => rx.uploads.length > 0, 'a first upload');
  dl.log(events[1]!);
  await until(() => rx.uploads.flatMap((u) => u.events).length === 2, 'a second upload');
  await dl.stop();
  t.same(new Set(rx.uploads.map((u) => u.headers.authorization)), new Set(['Bearer upload-token']), 'every upload carries the token');
  t.equal(idp.received.length, 1, 'asked of the token endpoint once');
});

t.test('a dead receiver: the buffer stays bounded and every drop is counted and reported', async (t) => {
  const rx = await receiver(() => 500);
  t.teardown(() => rx.close());
  const warnings = capture();
  const drops: number[] = [];
  const dl = createDecisionLogger(config({ service: 's', reporting: { buffer_size_limit_events: 10, buffer_size_limit_bytes: 67108864, upload_size_limit_bytes: 32768, min_delay_seconds: 0.01, max_delay_seconds: 0.05 } }), {
    labels: {}, services: { s: { url: rx.url } }, logger: createLogger({ log_level: 'warn' }, warnings), onDrop: (c) => drops.push(c),
  });
  for (let i = 0; i < 25; i++) dl.log(decision());
  await endOfTurn();
  t.equal(dl.dropped, 15, 'the 15 oldest were dropped as the 10-event buffer overflowed');
  await dl.stop();
  t.equal(dl.dropped, 25, 'what could not be sent at shutdown is counted too');
  t.equal(drops.reduce((a, b) => a + b, 0), 25, 'the metrics hook saw every drop');
  t.ok(warnings.lines.some((l) => l.includes('decision log events dropped') && l.includes('"dropped_total":25')), 'reported in the log');
  dl.log(decision());
  t.equal(dl.dropped, 26, 'logging after stop is a counted drop');
});

t.test('large events: the buffer is bounded in bytes too, and a backlog larger than a string can hold is uploaded in groups', async (t) => {
  const big = (): Omit<DecisionLogEvent, 'labels' | 'erased' | 'masked'> => {
    const d = decision();
    return { ...d, input: { ...(d.input as object), request: { method: 'POST', path: '/refunds', body: { note: 'n'.repeat(60_000) } } } };
  };
  const dead = await receiver(() => 500);
  t.teardown(() => dead.close());
  const bounded = createDecisionLogger(config({ service: 's', reporting: { buffer_size_limit_events: 10_000, buffer_size_limit_bytes: 200_000, upload_size_limit_bytes: 32768, min_delay_seconds: 0.01, max_delay_seconds: 0.05 } }), {
    labels: {}, services: { s: { url: dead.url } }, logger: createLogger({ log_level: 'silent' }),
  });
  for (let i = 0; i < 10; i++) bounded.log(big());
  await endOfTurn();
  t.equal(bounded.dropped, 7, 'ten events of 60 KB in a 200 KB buffer: the seven oldest dropped, counted');
  await bounded.stop();

  const rx = await receiver(() => 200);
  t.teardown(() => rx.close());
  const dl = createDecisionLogger(config({ service: 's', reporting: { buffer_size_limit_events: 10_000, buffer_size_limit_bytes: 67_108_864, upload_size_limit_bytes: 1_048_576, min_delay_seconds: 30, max_delay_seconds: 60 } }), {
    labels: {}, services: { s: { url: rx.url } }, logger: createLogger({ log_level: 'silent' }),
  });
  for (let i = 0; i < 200; i++) dl.log(big());
  await dl.flush();
  t.equal(rx.uploads.reduce((sum, u) => sum + u.events.length, 0), 200, '12 MB of events, every one uploaded');
  t.ok(rx.uploads.length >= 3, `in several groups (${String(rx.uploads.length)} uploads), none built as one string of the whole backlog`);
  t.equal(dl.dropped, 0);
  await dl.stop();
});

t.test('a receiver that never answers cannot hold up logging', async (t) => {
  const hung: import('node:http').ServerResponse[] = [];
  const server = createServer((_req, res) => { hung.push(res); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve(); }); }));
  const { port } = server.address() as AddressInfo;
  const dl = createDecisionLogger(config({ service: 's', reporting: { buffer_size_limit_events: 5, buffer_size_limit_bytes: 67108864, upload_size_limit_bytes: 32768, min_delay_seconds: 0.01, max_delay_seconds: 0.05 } }), {
    labels: {}, services: { s: { url: `http://127.0.0.1:${port}`, response_header_timeout_seconds: 0.5 } }, logger: createLogger({ log_level: 'silent' }),
  });
  dl.log(decision());
  await until(() => hung.length === 1, 'the upload to hang');
  // The upload is stuck; every further log() returns at once and the overflow is counted.
  for (let i = 0; i < 20; i++) dl.log(decision());
  await endOfTurn();
  t.equal(dl.dropped, 15, 'buffer held at 5 while the upload hangs');
  await dl.stop();
  t.equal(dl.dropped, 21, 'after the timeout nothing was delivered, and all of it is counted');
});

t.test('file sink: JSONL with size-based rotation', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-dl-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const path = join(dir, 'decisions.jsonl');
  const dl = createDecisionLogger(config({ file: { path, max_bytes: 4096, max_files: 3 } }), { labels: {}, services: {}, logger: createLogger({ log_level: 'silent' }) });
  const ids: string[] = [];
  for (let i = 0; i < 60; i++) {
    const e = decision();
    ids.push(e.decision_id);
    dl.log(e);
  }
  await dl.stop();
  t.same(readdirSync(dir).sort(), ['decisions.jsonl', 'decisions.jsonl.1', 'decisions.jsonl.2'], 'at most max_files files');
  for (const f of readdirSync(dir)) t.ok(statSync(join(dir, f)).size <= 4096, `${f} within max_bytes`);
  const kept = ['decisions.jsonl.2', 'decisions.jsonl.1', 'decisions.jsonl']
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'))
    .map((l) => (JSON.parse(l) as { decision_id: string }).decision_id);
  t.same(kept, ids.slice(ids.length - kept.length), 'the newest events, in order, oldest rotated away');
  t.notOk(readFileSync(path, 'utf8').includes(BEARER));
});

t.test('file sink: lines of any size, across many encoding slabs and event-loop turns, come out whole and in order', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-dl-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const path = join(dir, 'decisions.jsonl');
  // A backlog bound above the event count: on a loaded machine the first write may still be in
  // flight when all 12,000 are logged, and that bound's drops are another test's subject.
  const reporting = { ...config().reporting, buffer_size_limit_events: 100_000 };
  const dl = createDecisionLogger(config({ reporting, file: { path, max_bytes: 1 << 30, max_files: 2 } }), { labels: {}, services: {}, logger: createLogger({ log_level: 'silent' }) });
  const ids: string[] = [];
  for (let i = 0; i < 12_000; i++) {
    // Mostly ordinary events (several MiB in all), now and then one of 300 KB with non-ASCII text.
    const big = i % 1000 === 500;
    const e = decision(big ? { result: { allow: false, reason: 'ü€'.repeat(100_000) } } : {});
    ids.push(e.decision_id);
    dl.log(e);
    // Full slabs are reused once written. Bursts of more than a slab's worth between writes:
    // a slab handed out again too early would overwrite lines not yet in the file. A burst is
    // also more than the logger queues in one event-loop turn before working the queue off.
    if (i % 5000 === 0) await new Promise((r) => setTimeout(r, 10));
  }
  await dl.stop();
  const lines = readFileSync(path, 'utf8').split('\n');
  t.equal(lines.pop(), '', 'the file ends with a newline');
  const parsed = lines.map((l) => JSON.parse(l) as { decision_id: string; result: { reason?: string } });
  t.same(parsed.map((e) => e.decision_id), ids, 'every event, once, in order');
  t.equal(parsed[500]?.result.reason, 'ü€'.repeat(100_000), 'a large non-ASCII event is intact');
  t.equal(dl.dropped, 0);
});

t.test('the policy\'s own system.log rules drop and mask events before any sink sees them', async (t) => {
  const opa = await findOpa();
  if (!opa) throw new Error('opa is not installed: run scripts/ensure-opa.sh');
  const { engine } = await buildBundle({ dir: join(import.meta.dirname, '..', 'fixtures', 'policy-log-rules'), opaPath: opa, revision: 'log-rules' });
  const dir = mkdtempSync(join(tmpdir(), 'jg-dl-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const path = join(dir, 'decisions.jsonl');
  const dl = createDecisionLogger(config({ file: { path, max_bytes: 1 << 20, max_files: 2 } }), { labels: {}, services: {}, logger: createLogger({ log_level: 'silent' }), rules: engine });
  const at = (requestPath: string, headers: Record<string, string>) => {
    const e = decision();
    const input = e.input as { request: Record<string, unknown> };
    return { ...e, input: { ...input, request: { ...input.request, path: requestPath, headers } } };
  };
  const probe = at('/healthz', {});
  const noted = at('/api/items', { 'x-note': 'call me at 555-0100', accept: '*/*' });
  const broken = at('/broken', {});
  for (const e of [probe, noted, broken]) dl.log(e, JSON.stringify(e.input));
  await dl.stop();
  const logged = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as DecisionLogEvent & { input: { request: { headers: Record<string, string> }; subject: { claims: Record<string, string> } } });
  t.same(logged.map((e) => e.decision_id), [noted.decision_id], 'the probe is dropped by the rule; the broken rule\'s event is dropped too');
  const e = logged[0]!;
  t.notOk('x-note' in e.input.request.headers, 'the pointer the rule named is erased');
  t.equal(e.input.request.headers.accept, '*/*');
  t.equal(e.input.subject.claims.email, '***', 'the upsert replaced the email');
  t.same(e.erased, ['/input/request/headers/x-note']);
  t.same(e.masked, ['/input/subject/claims/email']);
  t.notOk(readFileSync(path, 'utf8').includes('555-0100'));
  t.equal(dl.dropped, 1, 'only the event whose rules failed counts as lost');
});

t.test('a file line is the event exactly as JSON.stringify writes it, masked parts swapped in and labels, erased, masked after', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-dl-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const path = join(dir, 'decisions.jsonl');
  const erase = ['/input/subject/claims/email'];
  const dl = createDecisionLogger(config({ mask: erase, file: { path, max_bytes: 1 << 20, max_files: 2 } }), { labels: { app: 'x' }, services: {}, logger: createLogger({ log_level: 'silent' }) });
  const plain = decision({ input: { request: { method: 'GET', path: '/x', headers: { accept: '*/*' }, query: {} }, subject: { id: 'bob', kind: 'user', groups: [] }, grants: [], now_ns: 1 } });
  const secret = decision();
  const failed = decision({ result: undefined, jitgate: { route: 'orders', subject: 'alice', error_code: 'JITGATE_E_POLICY_EVAL' } });
  // The input's JSON is handed over with each event, as the data path does; a masked input must not use it.
  for (const e of [plain, secret, failed]) dl.log(e, JSON.stringify(e.input));
  await dl.stop();
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  const labels = (JSON.parse(lines[0]!) as { labels: Record<string, string> }).labels;
  t.equal(labels.app, 'x');
  t.equal(lines[0], JSON.stringify({ ...plain, labels }), 'nothing to mask: the event as it was logged');
  const m = maskInput({ input: secret.input, result: secret.result }, erase);
  t.equal(lines[1], JSON.stringify({ ...secret, labels, input: m.input, result: m.result, erased: m.erased, masked: m.masked }), 'masked and erased parts in place, lists after the labels');
  t.same(m.masked, ['/input/request/headers/authorization', '/input/request/headers/x-api-key']);
  t.notOk(lines[1]!.includes(BEARER) || lines[1]!.includes(API_KEY) || lines[1]!.includes('alice@example.com'), 'no secret and no erased value in the line');
  const m2 = maskInput({ input: failed.input, result: failed.result }, erase);
  t.equal(lines[2], JSON.stringify({ ...failed, labels, input: m2.input, erased: m2.erased, masked: m2.masked }), 'an undefined result is left out, as JSON.stringify does');
});

t.test('console sink writes OPA-style "Decision Log" lines through the logger', async (t) => {
  const out = capture();
  const dl = createDecisionLogger(config({ console: true }), { labels: { app: 'x' }, services: {}, logger: createLogger({ log_level: 'info' }, out) });
  dl.log(decision());
  await dl.stop();
  const line = JSON.parse(out.lines[0]!);
  t.equal(line.msg, 'Decision Log');
  t.equal(line.path, 'jitgate/authz');
  t.notOk(out.lines[0]!.includes(BEARER));
});

t.test('a sink that throws costs only its own event, counted; the other sinks and events still get through', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-dl-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const path = join(dir, 'decisions.jsonl');
  let writes = 0;
  const console = { lines: [] as string[], write(s: string) { if (++writes === 2) throw new Error('console is gone'); this.lines.push(s); } };
  const dl = createDecisionLogger(config({ console: true, file: { path, max_bytes: 1 << 20, max_files: 2 } }), { labels: {}, services: {}, logger: createLogger({ log_level: 'info' }, console) });
  const events = [decision(), decision(), decision()];
  for (const e of events) dl.log(e);
  await dl.stop();
  const logged = readFileSync(path, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { decision_id: string }).decision_id);
  t.same(logged, events.map((e) => e.decision_id), 'the file sink has all three');
  t.equal(console.lines.filter((l) => l.includes('Decision Log')).length, 2, 'the console took the other two');
  t.equal(dl.dropped, 1, 'the console write that failed is a counted drop');
});

t.test('an unknown service is a configuration error', (t) => {
  t.throws(() => createDecisionLogger(config({ service: 'nope' }), { labels: {}, services: {}, logger: createLogger({ log_level: 'silent' }) }), /no service named "nope"/);
  t.end();
});

t.test('the shadow policy\'s reason is hidden where the live reason is, and masked by shape like it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-dl-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const read = async (mask: string[], shadowReason: string): Promise<Record<string, unknown> | undefined> => {
    const path = join(dir, `${String(mask.length)}-${String(Date.now())}.jsonl`);
    const dl = createDecisionLogger(config({ mask, file: { path, max_bytes: 1 << 20, max_files: 2 } }), { labels: {}, services: {}, logger: createLogger({ log_level: 'silent' }) });
    const e = decision({ result: { allow: true, reason: 'live: hunter2' } });
    dl.log({ ...e, jitgate: { ...e.jitgate, shadow: { revision: 'cand', change: 'reason_changed', allow: true, reason: shadowReason } } });
    await dl.stop();
    return (JSON.parse(readFileSync(path, 'utf8').trim()) as DecisionLogEvent).jitgate.shadow;
  };
  const hidden = await read(['/result/reason'], 'candidate: hunter2');
  t.same(hidden, { revision: 'cand', change: 'reason_changed', allow: true }, 'the live reason erased: the shadow\'s is gone too');
  const shaped = await read([], 'candidate: retry with Bearer abcdefghijklmnop');
  t.equal(shaped?.reason, 'candidate: retry with Bearer [REDACTED]', 'a credential in it is masked');
});
