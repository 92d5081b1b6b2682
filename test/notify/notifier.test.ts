// Webhooks against real local receivers: signed generic and chat payloads, retries with
// backoff, drops counted, and a failing receiver that never blocks a workflow step.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import type { WorkflowEvent } from '../../src/grants/index.js';
import { chatText, createNotifier, signature, type WebhookConfig } from '../../src/notify/index.js';
import { alice, bob, eventually, storeWithReplica, user } from '../grants/helpers.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

async function receiver(status: (n: number) => number): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.statusCode = status(got.length);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    got,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve(); }); }),
  };
}

const quiet = { warn: () => undefined };

function event(type: WorkflowEvent['type'] = 'request.created'): WorkflowEvent {
  return {
    type, at: '2027-01-15T08:00:00.000Z', actor: 'alice', policy_revision: 'rev1', grant: null,
    request: {
      id: 'req_1', requester: { id: 'alice', kind: 'user', groups: ['eng'] }, role: 'writer', scope: { methods: ['POST'], paths: ['/api/refunds/*'] },
      duration_seconds: 900, reason: 'refund INC-7', ticket: null, status: 'pending', approvals_required: 1, approver_groups: ['approvers'],
      break_glass: false, extends_grant_id: null, extends_grant_expires_at: null, approvals: [], created_at: '2027-01-15T08:00:00.000Z', pending_expires_at: '2027-01-16T08:00:00.000Z',
      decided_at: null, decided_by: null, decision_comment: null, grant_id: null, policy_revision: 'rev1',
    },
  };
}

const hook = (over: Partial<WebhookConfig> & { url: string }): WebhookConfig => ({ name: 'h', format: 'generic', events: [], max_attempts: 3, ...over });

t.test('generic payload, signed over timestamp and raw body', async (t) => {
  const r = await receiver(() => 204);
  t.teardown(() => r.close());
  const n = createNotifier({ webhooks: [hook({ url: r.url, secret_env: 'HOOK_SECRET' })] }, quiet, { env: { HOOK_SECRET: 's3cret' } });
  n.start();
  n.notify(event());
  await eventually(() => n.delivered === 1);
  const [got] = r.got;
  const ts = String(got!.headers['x-jitgate-timestamp']);
  t.equal(got!.headers['x-jitgate-signature'], signature('s3cret', ts, got!.body), 'verifiable with the shared secret');
  // As docs/configuration.md tells a receiver to check it, without jitgate's code.
  t.equal(got!.headers['x-jitgate-signature'], `sha256=${createHmac('sha256', 's3cret').update(`${ts}.${got!.body}`).digest('hex')}`, 'as documented');
  t.not(got!.headers['x-jitgate-signature'], signature('other', ts, got!.body));
  t.ok(Math.abs(Number(ts) - Date.now() / 1000) < 600);
  const body = JSON.parse(got!.body);
  t.equal(body.type, 'request.created');
  t.equal(body.request.id, 'req_1');
  t.equal(got!.headers['x-jitgate-event'], 'request.created');
  t.notMatch(got!.body, /s3cret/, 'the secret never travels');
  await n.stop();
});

t.test('chat payload is {"text": ...}; break-glass is loud; event filters apply', async (t) => {
  const r = await receiver(() => 200);
  t.teardown(() => r.close());
  const n = createNotifier({ webhooks: [hook({ url: r.url, format: 'chat', events: ['request.created', 'grant.break_glass'] })] }, quiet);
  n.start();
  n.notify(event('request.created'));
  n.notify(event('request.withdrawn'));
  n.notify({ ...event('grant.break_glass'), request: { ...event().request, role: 'breakglass' } });
  await eventually(() => n.delivered === 2);
  const texts = r.got.map((g) => JSON.parse(g.body) as { text: string });
  t.same(texts.map((x) => Object.keys(x)), [['text'], ['text']]);
  t.ok(texts.some((x) => /^alice requests writer \(scope: POST \/api\/refunds\/\*\) for 15m: "refund INC-7"/.test(x.text)), 'readable request line');
  t.ok(texts.some((x) => /BREAK-GLASS/.test(x.text)), 'break-glass is flagged');
  t.equal(r.got[0]!.headers['x-jitgate-signature'], undefined, 'no secret configured: unsigned');
  await n.stop();
});

t.test('chat text: what a requester or approver wrote cannot ping, link, or pass for a line of the gateway\'s', (t) => {
  const hostile = event('request.created');
  const text = chatText({
    ...hostile,
    request: {
      ...hostile.request,
      reason: 'db fix <!channel> see <https://evil.example/console|approve here>\n\nRequest req_0 of mallory for admin is approved (by cto).',
      ticket: '<@U012CTO>',
      scope: { paths: ['/api/<!here>'] },
    },
  });
  t.notMatch(text, /[<>\n\r]/, 'no markup, no line breaks');
  t.match(text, /&lt;!channel&gt; see &lt;https:\/\/evil\.example\/console\|approve here&gt;/, 'the words are still there, escaped as Slack and Mattermost ask');
  t.match(text, /\[&lt;@\u200bU012CTO&gt;\]/);
  const denied = chatText({ ...event('request.denied'), actor: 'carol', request: { ...hostile.request, decision_comment: 'no & never\nRequest approved' } });
  t.match(denied, /: "no &amp; never Request approved"\.$/, 'an approver\'s comment too');
  t.end();
});

t.test('chat text: a name spelt with letters outside ASCII is followed by their scripts and code points', (t) => {
  const created = event('request.created');
  // Cyrillic а (U+0430) in the requester, Greek ο (U+03BF) in the approver: both read as ASCII names.
  const text = chatText({ ...created, request: { ...created.request, requester: { ...created.request.requester, id: '\u0430lice' }, ticket: 'INC-7', scope: { paths: ['/api/\u043erders'] } } });
  t.match(text, /^\u0430lice \[non-ASCII: Cyrillic U\+0430\] requests writer \(scope: \/api\/\u043erders \[non-ASCII: Cyrillic U\+043E\]\)/, 'the requester and the scope path are marked where they stand');
  t.match(text, / \[INC-7\]: /, 'an ASCII ticket has no note');
  const approved = chatText({ ...event('approval.added'), actor: 'b\u03bfb' });
  t.match(approved, /^b\u03bfb \[non-ASCII: Greek U\+03BF\] approved request /, 'the approver too');
  t.notMatch(chatText(created), /non-ASCII/, 'ASCII names carry no note');
  t.end();
});

t.test('chat text through the workflow: Markdown links and images, @-mentions and bidi controls arrive inert', async (t) => {
  const r = await receiver(() => 200);
  const { clock, r: rep } = await storeWithReplica(t, 'sqlite');
  t.teardown(() => r.close());
  const n = createNotifier({ webhooks: [hook({ url: r.url, format: 'chat', events: ['request.created'] })] }, quiet);
  n.start();
  const { createWorkflow } = await import('../../src/grants/index.js');
  const wf = createWorkflow({ store: rep.store, policy: await (await import('../grants/helpers.js')).samplePolicy(), audit: rep.audit, cache: rep.cache, notifier: n, clock: clock.now, config: { pending_ttl_seconds: 600, sweep_interval_ms: 60_000 } });
  // Mattermost reads Markdown: these would be a link, an image every reader's client fetches,
  // pings to the whole channel, and words shown in another order than they are read.
  await wf.request(alice, {
    role: 'writer', duration_seconds: 600, ticket: '[T-1](https://evil.example/t)',
    reason: 'fix [Approve req now](https://evil.example/approve) ![x](https://evil.example/px.png) @channel @here @all \u202eevorppa\u2066',
  });
  await wf.request(user('@channel', ['eng']), { role: 'writer', duration_seconds: 600, reason: 'routine' });
  await eventually(() => n.delivered === 2);
  const texts = r.got.map((g) => (JSON.parse(g.body) as { text: string }).text);
  for (const text of texts) {
    t.notMatch(text, /\]\(/, 'no Markdown link or image');
    t.notMatch(text, /@\w/, 'no mention');
    t.notMatch(text, /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/, 'no bidi control');
  }
  t.match(texts[0], 'fix [Approve req now]\u200b(https://evil.example/approve) ![x]\u200b(https://evil.example/px.png) @\u200bchannel @\u200bhere @\u200ball  evorppa', 'the words are still all there');
  t.match(texts[0], '[[T-1]\u200b(https://evil.example/t)]');
  t.match(texts[1], /^@\u200bchannel requests writer/, 'a subject id is written by its identity provider, not the gateway: made plain too');
  await n.stop();
});

t.test('a failing receiver is retried with backoff, then the delivery is dropped and counted', async (t) => {
  const r = await receiver((i) => (i < 3 ? 500 : 200));
  const dead = await receiver(() => 503);
  t.teardown(async () => { await r.close(); await dead.close(); });
  const drops: number[] = [];
  const n = createNotifier(
    { webhooks: [hook({ name: 'flaky', url: r.url, max_attempts: 5 }), hook({ name: 'dead', url: dead.url, max_attempts: 3 })] },
    quiet,
    { baseDelayMs: 20, onDrop: (k) => drops.push(k) },
  );
  n.start();
  n.notify(event());
  await eventually(() => n.delivered === 1 && n.dropped === 1);
  t.equal(r.got.length, 3, 'delivered on the third attempt');
  t.equal(new Set(r.got.map((g) => g.headers['x-jitgate-delivery'])).size, 1, 'one delivery id across retries');
  t.equal(dead.got.length, 3, 'max_attempts respected');
  t.same(drops, [1]);
  await n.stop();
});

t.test('a full queue drops (counted) instead of growing', async (t) => {
  const n = createNotifier({ webhooks: [hook({ url: 'http://127.0.0.1:9/unreachable', max_attempts: 20 })] }, quiet, { maxQueue: 5, baseDelayMs: 10_000 });
  n.start();
  for (let i = 0; i < 8; i++) n.notify(event());
  t.equal(n.dropped, 3);
  await n.stop();
  t.equal(n.dropped, 8, 'what was left is counted as dropped at stop');
});

t.test('a receiver that never answers does not block or lose a workflow step', async (t) => {
  const hanging = createServer(() => undefined);
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  const { clock, r: rep } = await storeWithReplica(t, 'sqlite');
  t.teardown(async () => {
    hanging.closeAllConnections();
    await new Promise<void>((resolve) => hanging.close(() => { resolve(); }));
  });
  const port = (hanging.address() as AddressInfo).port;
  const n = createNotifier({ webhooks: [hook({ url: `http://127.0.0.1:${port}/`, max_attempts: 2 })] }, quiet, { timeoutMs: 300, baseDelayMs: 10 });
  n.start();
  const { createWorkflow } = await import('../../src/grants/index.js');
  const wf = createWorkflow({ store: rep.store, policy: await (await import('../grants/helpers.js')).samplePolicy(), audit: rep.audit, cache: rep.cache, notifier: n, clock: clock.now, config: { pending_ttl_seconds: 600, sweep_interval_ms: 60_000 } });
  const req = await wf.request(alice, { role: 'writer', duration_seconds: 600, reason: 'hanging hook' });
  const ok = await wf.approve(bob, req.id);
  t.equal(ok.status, 'approved', 'the step completed while the receiver hangs');
  t.equal(rep.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).length, 1);
  t.ok(n.queued >= 1, 'the notifications wait in the background');
  await eventually(() => n.dropped === 3, 10_000);
  t.pass('after the timeouts and retries the three events are dropped and counted');
  await n.stop();
});

t.test('a receiver that never answers is given up on after the timeout, even with garbage collections meanwhile', async (t) => {
  // undici #4068: AbortSignal.timeout() stops reaching fetch once a garbage collection ran, and
  // such a delivery held its webhook's slot for good.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const hanging = createServer(() => undefined);
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  const collecting = setInterval(gc, 100);
  t.teardown(async () => {
    clearInterval(collecting);
    hanging.closeAllConnections();
    await new Promise<void>((resolve) => hanging.close(() => { resolve(); }));
  });
  const port = (hanging.address() as AddressInfo).port;
  const n = createNotifier({ webhooks: [hook({ url: `http://127.0.0.1:${String(port)}/`, max_attempts: 1 })] }, quiet, { timeoutMs: 500, concurrency: 1 });
  n.start();
  n.notify(event());
  await eventually(() => n.dropped === 1, 10_000);
  t.equal(n.queued, 0, 'the delivery ended and was dropped, freeing its slot');
  await n.stop();
});

t.test('a receiver that hangs neither delays nor crowds out another webhook\'s deliveries', async (t) => {
  const hanging = createServer(() => undefined);
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  const fast = await receiver(() => 204);
  const { clock, r: rep } = await storeWithReplica(t, 'sqlite');
  t.teardown(async () => {
    await fast.close();
    hanging.closeAllConnections();
    await new Promise<void>((resolve) => hanging.close(() => { resolve(); }));
  });
  const port = (hanging.address() as AddressInfo).port;
  // The hanging one holds its slots for the whole test; ten deliveries fit per webhook.
  const n = createNotifier(
    { webhooks: [hook({ name: 'siem', url: `http://127.0.0.1:${port}/` }), hook({ name: 'chat', url: fast.url, format: 'chat' })] },
    quiet,
    { timeoutMs: 30_000, concurrency: 2, maxQueue: 10 },
  );
  n.start();
  const { createWorkflow } = await import('../../src/grants/index.js');
  const wf = createWorkflow({ store: rep.store, policy: await (await import('../grants/helpers.js')).samplePolicy(), audit: rep.audit, cache: rep.cache, notifier: n, clock: clock.now, config: { pending_ttl_seconds: 600, sweep_interval_ms: 60_000 } });
  for (let i = 0; i < 8; i++) await wf.request(alice, { role: 'writer', duration_seconds: 600, reason: `routine ${String(i)}` });
  await eventually(() => fast.got.length === 8, 2000);
  t.pass('the answering receiver got all eight at once');
  t.equal(n.dropped, 0, 'nothing dropped: each webhook\'s queue holds its own eight');
  await n.stop();
});

t.test('a receiver\'s answer body is never read: a huge one costs nothing and still counts as delivered', async (t) => {
  const chunk = Buffer.alloc(1 << 20, 97);
  const sent = { bytes: 0, finished: false, closed: false };
  const huge = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.on('finish', () => { sent.finished = true; });
      res.on('close', () => { sent.closed = true; });
      // 1 GiB, written as fast as the gateway reads it.
      const pump = (): void => {
        while (sent.bytes < 1024 * chunk.length && !res.destroyed) {
          sent.bytes += chunk.length;
          if (!res.write(chunk)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
    });
  });
  await new Promise<void>((resolve) => huge.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    huge.closeAllConnections();
    await new Promise<void>((resolve) => huge.close(() => { resolve(); }));
  });
  const n = createNotifier({ webhooks: [hook({ url: `http://127.0.0.1:${String((huge.address() as AddressInfo).port)}/` })] }, quiet, { timeoutMs: 30_000 });
  n.start();
  n.notify(event());
  await eventually(() => n.delivered === 1 && sent.closed, 3000);
  t.notOk(sent.finished, 'the gateway hung up instead of reading the answer');
  t.ok(sent.bytes < 256 * chunk.length, `at most socket buffers were written (${String(sent.bytes >> 20)} MiB)`);
  await n.stop();
});

t.test('an extension is announced as one: which grant it extends and when that grant ends', async (t) => {
  const r = await receiver(() => 200);
  const { clock, r: rep } = await storeWithReplica(t, 'sqlite');
  t.teardown(async () => {
    await r.close();
  });
  const n = createNotifier({ webhooks: [hook({ url: r.url, format: 'chat', events: ['request.created'] })] }, quiet);
  n.start();
  const { createWorkflow } = await import('../../src/grants/index.js');
  const wf = createWorkflow({ store: rep.store, policy: await (await import('../grants/helpers.js')).samplePolicy(), audit: rep.audit, cache: rep.cache, notifier: n, clock: clock.now, config: { pending_ttl_seconds: 600, sweep_interval_ms: 60_000 } });
  const first = await wf.approve(bob, (await wf.request(alice, { role: 'writer', duration_seconds: 3600, reason: 'migration' })).id);
  const grant = (await wf.getGrant(first.grant_id!))!;
  const ext = await wf.extend(alice, grant.id, { duration_seconds: 3600, reason: 'migration is slow' });
  await eventually(() => n.delivered === 2);
  const [plain, extension] = r.got.map((g) => (JSON.parse(g.body) as { text: string }).text);
  t.notMatch(plain, /extending/, 'a fresh request says nothing of extending');
  t.match(extension, `alice requests writer for 1h, extending grant ${grant.id} (ends ${grant.expires_at}): "migration is slow". Request ${ext.id}`);
  await n.stop();
});
