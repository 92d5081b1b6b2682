// OPA services that turn hostile after their head: a token endpoint, a decision-log receiver or a
// checkpoint witness that sends a byte a second, or a body without end. Each call must end (with
// garbage collections running: undici #4068), and the next one must go out and succeed once the
// service behaves again.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditTrail, createDecisionLogger, serviceHeaders, type ServiceConfig } from '../../src/audit/index.js';
import { createLogger } from '../../src/observability/index.js';
import { SqliteDb } from '../../src/store/sqlite.js';
import { entry } from './entries.js';
import { within } from '../helpers/poll.js';
import { neverEnd } from '../helpers/never-ending.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

type Mode = 'good' | 'trickle' | 'endless';
let mode: Mode = 'good';
const open = new Set<ServerResponse>();
const seen: string[] = [];
/** The decision ids in the uploads received, whatever was answered. */
const uploaded: string[] = [];
/** The chain heads (seq) the witness received, whatever it answered. */
const witnessed: number[] = [];

function answer(res: ServerResponse, good: string): void {
  if (mode === 'good') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(good);
    return;
  }
  neverEnd(res, mode, { status: 200, headers: { 'content-type': 'application/json' }, first: good.slice(0, 10), open });
}

const server = createServer((req, res) => {
  seen.push(req.url ?? '');
  const body: Buffer[] = [];
  req.on('data', (chunk: Buffer) => body.push(chunk));
  req.on('end', () => {
    if (req.url === '/cp') witnessed.push((JSON.parse(Buffer.concat(body).toString('utf8')) as { seq: number }).seq);
    if (req.url === '/logs') uploaded.push(...(JSON.parse(gunzipSync(Buffer.concat(body)).toString('utf8')) as { decision_id: string }[]).map((e) => e.decision_id));
    if (req.url === '/token') answer(res, JSON.stringify({ access_token: `tok-${String(seen.length)}`, token_type: 'Bearer', expires_in: 3600 }));
    else answer(res, '');
  });
});
let base = '';
t.before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
});
t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => { r(); }); }));

/** Garbage collections every 200 ms until the test ends. */
function collecting(t: { teardown(fn: () => void): void }): void {
  const timer = setInterval(gc, 200);
  t.teardown(() => { clearInterval(timer); });
}

/** What became of `p` within `boundMs`: its outcome, or 'still waiting'. */
async function settled(p: Promise<unknown>, boundMs = 30_000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((r) => { timer = setTimeout(() => { r('still waiting'); }, boundMs); });
  try {
    return await Promise.race([p.then(() => 'done', (err: unknown) => `failed: ${err instanceof Error ? err.message : String(err)}`), late]);
  } finally {
    clearTimeout(timer);
  }
}

for (const hostile of ['trickle', 'endless'] as const) {
  t.test(`a token endpoint that sends ${hostile === 'trickle' ? 'its head, then a byte a second' : 'a body without end'}: the token request fails, and the next one is made and gets a token`, async (t) => {
    collecting(t);
    const service: ServiceConfig = { url: base, credentials: { oauth2: { token_url: `${base}/token`, client_id: 'jitgate', client_secret: 's' } } };
    mode = hostile;
    const outcome = await settled(serviceHeaders(service));
    t.match(outcome, hostile === 'trickle' ? /^failed: the OAuth2 token endpoint .* no complete answer within 10 s/ : /^failed: .* answered more than 65536 bytes/,
      'the call needing a token fails, saying why, instead of waiting for good');
    t.ok(await within(() => open.size === 0), 'the hostile answer\'s connection is closed');
    mode = 'good';
    const asked = seen.length;
    t.match(await serviceHeaders(service), { authorization: /^Bearer tok-/ }, 'the endpoint behaves again: the next call gets a token');
    t.equal(seen.length, asked + 1, 'from a new token request (the failed one is not shared with later calls)');
  });
}

let n = 0;
function decision(): Parameters<ReturnType<typeof createDecisionLogger>['log']>[0] {
  return {
    decision_id: `dec-${String(++n)}`, timestamp: new Date().toISOString(), path: 'jitgate/authz',
    input: { request: { method: 'GET', path: '/orders', headers: {}, query: {} } }, result: { allow: true },
    bundles: {}, metrics: {}, jitgate: { route: 'orders', subject: 'alice', grant_ids: [], upstream_status: 200, latency_ns: 1 },
  };
}

for (const hostile of ['trickle', 'endless'] as const) {
  t.test(`a decision-log receiver that answers 200 and then ${hostile === 'trickle' ? 'a byte a second' : 'a body without end'}: the upload counts, its answer is cut off, later uploads and the stop go on`, async (t) => {
    collecting(t);
    const dl = createDecisionLogger({
      console: false, resource: '/logs', mask: [], service: 's',
      reporting: { buffer_size_limit_events: 1000, buffer_size_limit_bytes: 67108864, upload_size_limit_bytes: 32768, min_delay_seconds: 0.05, max_delay_seconds: 0.5 },
    }, { labels: {}, services: { s: { url: base, response_header_timeout_seconds: 2 } }, logger: createLogger({ log_level: 'silent' }) });
    let stopped = false;
    // Not waited for: a stop that never ends is what is being tested, below.
    t.teardown(() => { if (!stopped) void dl.stop(); });
    uploaded.length = 0;
    mode = hostile;
    const first = decision();
    dl.log(first);
    t.ok(await within(() => uploaded.includes(first.decision_id), 30_000), 'the receiver got the event');
    t.ok(await within(() => open.size === 0, 30_000), 'the hostile answer\'s connection is closed');
    mode = 'good';
    const later = [decision(), decision(), decision()];
    for (const d of later) dl.log(d);
    t.ok(await within(() => later.every((d) => uploaded.includes(d.decision_id)), 30_000), 'events logged afterwards are uploaded: the upload loop goes on');
    t.equal(dl.dropped, 0, 'nothing dropped');
    stopped = true;
    t.equal(await settled(dl.stop()), 'done', 'the logger stops');
    t.equal(await settled(dl.stop()), 'done', 'and stopping it again is no error');
  });
}

for (const hostile of ['trickle', 'endless'] as const) {
  t.test(`a checkpoint witness that answers 200 and then ${hostile === 'trickle' ? 'a byte a second' : 'a body without end'}: the checkpoint is made, its answer cut off, later checkpoints and the stop go on`, async (t) => {
    collecting(t);
    const dir = mkdtempSync(join(tmpdir(), 'jg-hostile-witness-'));
    const db = new SqliteDb(join(dir, 'jitgate.db'));
    const witness = { name: 'w', service: { url: base, response_header_timeout_seconds: 2 }, resource: '/cp' };
    const trail = createAuditTrail(db, { checkpoint_file: join(dir, 'checkpoint.json'), checkpoint_interval_ms: 600_000, group_commit_ms: 0 }, {}, [witness]);
    let stopped = false;
    // Not waited for: a stop that never ends is what is being tested, below.
    t.teardown(() => { if (!stopped) void trail.stop(); });
    await trail.start();
    await trail.append(entry({ kind: 'request.created', actor: 'alice', grant_id: null }));
    witnessed.length = 0;
    mode = hostile;
    t.equal(await settled(trail.checkpoint()), 'done', 'the checkpoint is made');
    t.same(witnessed, [1], 'the witness got the head');
    t.ok(await within(() => open.size === 0, 30_000), 'the hostile answer\'s connection is closed');
    mode = 'good';
    await trail.append(entry({ kind: 'approval.added', actor: 'bob', grant_id: null }));
    t.equal(await settled(trail.checkpoint()), 'done', 'the next checkpoint is made: checkpoints go on');
    t.same(witnessed, [1, 2]);
    stopped = true;
    t.equal(await settled(trail.stop()), 'done', 'the trail stops');
    await db.close();
  });
}
