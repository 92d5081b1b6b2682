// A shadow policy in a running gateway: every decision is also asked of a candidate folder,
// and where it disagrees the decision log says how, the metric counts it, and the caller
// still gets what the live policy decided. Editing the candidate changes the comparison
// without a restart; a candidate that cannot be loaded leaves the gateway serving, and is
// picked up once fixed.
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { startDemoUpstream } from '../../src/demo/index.js';
import { demoConfig, demoEnv, repoRoot, runCli, startGatewayProcess, tempDir, writeConfig, type GatewayProcess } from '../helpers/gateway.js';

interface LoggedEvent {
  decision_id: string;
  jitgate: { shadow?: { revision: string; change: string; allow?: boolean; reason?: string | null; error?: string } };
}

const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
t.teardown(() => upstream.close());

/** The sample policies with the refund limits changed, and a conflict for refunds of 13 (a runtime error). */
function candidate(dir: string, writerLimit: number): string {
  const policies = join(dir, 'candidate');
  cpSync(join(repoRoot, 'policies'), policies, { recursive: true });
  setWriterLimit(policies, writerLimit);
  writeFileSync(join(policies, 'jitgate', 'lib', 'conflict.rego'), 'package jitgate.lib.requests\n\nis_refund := false if input.request.body.amount == 13\n');
  return policies;
}

function setWriterLimit(policies: string, limit: number): void {
  const file = join(policies, 'data.json');
  const data = JSON.parse(readFileSync(file, 'utf8')) as { jitgate: { refund_limits: Record<string, number> } };
  data.jitgate.refund_limits = { ...data.jitgate.refund_limits, writer: limit, admin: 20000 };
  writeFileSync(file, JSON.stringify(data, null, 2));
}

async function startWith(dir: string, shadowDir: string): Promise<{ gw: GatewayProcess; file: string }> {
  const file = writeConfig(dir, demoConfig({
    dir,
    upstreamUrl: upstream.url,
    subjects: { alice: ['eng'], bob: ['eng', 'approvers'] },
    jitgate: {
      policy: { dir: join(repoRoot, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false, debounce_ms: 50, shadow: { dir: shadowDir, bundles_dir: join(dir, 'shadow-bundles') } },
    },
  }));
  const gw = await startGatewayProcess(file, demoEnv(keys));
  return { gw, file };
}

t.test('a shadow policy is asked every question, enforced on none, and its disagreements are recorded', async (t) => {
  const dir = tempDir('jg-shadow-');
  const shadowDir = candidate(dir, 10);
  const { gw, file } = await startWith(dir, shadowDir);
  let stopped = false;
  t.teardown(async () => { if (!stopped) await gw.stop(); });
  t.ok(gw.output.some((l) => l.includes('shadow policy loaded')), 'the gateway says the shadow is on');
  const cli = async (sub: string, args: string[]): Promise<{ id?: string }> => {
    const tok = (await runCli(['token', '--sub', sub, '--config', file])).stdout.trim();
    const out = await runCli([...args, '--json'], { JITGATE_URL: gw.controlUrl, JITGATE_TOKEN: tok });
    return JSON.parse(out.stdout) as { id?: string };
  };
  const asked = await cli('alice', ['request', '--role', 'writer', '--duration', '10m', '--reason', 'refunds for INC-7']);
  await cli('bob', ['approve', asked.id ?? '']);
  const alice = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  const call = async (method: string, path: string, json?: unknown): Promise<{ status: number; id: string }> => {
    const res = await fetch(`${gw.proxyUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${alice}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    await res.arrayBuffer();
    return { status: res.status, id: res.headers.get('x-jitgate-decision-id') ?? '' };
  };
  const refundsSeen = (): number => upstream.seen.filter((r) => r.method === 'POST' && r.url === '/api/refunds').length;

  const read = await call('GET', '/api/items');
  t.equal(read.status, 200, 'a read both policies allow');
  const before = refundsSeen();
  const small = await call('POST', '/api/refunds', { order: 'o-7', amount: 40 });
  t.equal(small.status, 201, 'a refund the live policy allows goes through, whatever the shadow says');
  t.equal(refundsSeen(), before + 1, 'and reaches the upstream');
  const large = await call('POST', '/api/refunds', { order: 'o-7', amount: 15000 });
  t.equal(large.status, 403, 'a refund the live policy denies stays denied');
  const failing = await call('POST', '/api/refunds', { order: 'o-7', amount: 13 });
  t.equal(failing.status, 201, 'a shadow that fails on the input changes nothing for the caller');

  const metrics = await (await fetch(`${gw.controlUrl}/metrics`)).text();
  for (const [change, count] of [['unchanged', 1], ['allow_to_deny', 1], ['reason_changed', 1], ['error', 1]] as const) {
    t.match(metrics, new RegExp(`jitgate_shadow_decisions_total\\{change="${change}"\\} ${String(count)}\\b`), `counted: ${change}`);
  }

  // The candidate edited in place: the next decisions are compared with the new revision.
  setWriterLimit(shadowDir, 1000);
  const agreed = async (): Promise<number> =>
    Number(/jitgate_shadow_decisions_total\{change="unchanged"\} (\d+)/.exec(await (await fetch(`${gw.controlUrl}/metrics`)).text())?.[1] ?? 0);
  let compared = false;
  for (let i = 0; i < 60 && !compared; i++) {
    await sleep(200);
    const before = await agreed();
    const probe = await call('POST', '/api/refunds', { order: 'o-7', amount: 40 });
    compared = probe.status === 201 && (await agreed()) === before + 1;
  }
  t.ok(compared, 'after the edit the shadow agrees on the same refund, without a restart');
  await gw.stop();
  stopped = true;

  const events = readFileSync(join(dir, 'decisions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LoggedEvent);
  const shadowOf = (id: string): LoggedEvent['jitgate']['shadow'] => events.find((e) => e.decision_id === id)?.jitgate.shadow;
  t.equal(shadowOf(read.id), undefined, 'agreement is not written into the event');
  t.match(shadowOf(small.id), { change: 'allow_to_deny', allow: false, reason: 'this refund needs an active grant of a role whose refund limit covers it', revision: /\S/ }, 'a disagreement is, with the shadow\'s decision');
  t.match(shadowOf(large.id), { change: 'reason_changed', allow: false, reason: 'this refund needs an active grant of a role whose refund limit covers it' });
  t.match(shadowOf(failing.id), { change: 'error', error: 'JITGATE_E_POLICY_EVAL' });
});

t.test('a shadow policy that cannot be loaded leaves the gateway serving, and is picked up once fixed', async (t) => {
  const dir = tempDir('jg-shadow-broken-');
  const broken = join(dir, 'broken');
  cpSync(join(repoRoot, 'policies'), broken, { recursive: true });
  writeFileSync(join(broken, 'jitgate', 'authz.rego'), 'package jitgate.authz\n\nallow if {\n');
  const { gw, file } = await startWith(dir, broken);
  t.teardown(() => gw.stop());
  t.ok(gw.output.some((l) => l.includes('the shadow policy could not be loaded')), 'the failure is logged');
  const alice = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  const res = await fetch(`${gw.proxyUrl}/api/items`, { headers: { authorization: `Bearer ${alice}` } });
  await res.arrayBuffer();
  t.equal(res.status, 200, 'requests are decided by the live policy as before');
  t.notMatch(await (await fetch(`${gw.controlUrl}/metrics`)).text(), /jitgate_shadow_decisions_total\{/, 'and nothing is compared');

  // Fixed in place: the watcher builds it, and comparing starts without a restart.
  cpSync(join(repoRoot, 'policies', 'jitgate', 'authz.rego'), join(broken, 'jitgate', 'authz.rego'));
  let compared = 0;
  for (let i = 0; i < 150 && compared === 0; i++) {
    await sleep(100);
    const again = await fetch(`${gw.proxyUrl}/api/items`, { headers: { authorization: `Bearer ${alice}` } });
    await again.arrayBuffer();
    compared = Number(/jitgate_shadow_decisions_total\{change="unchanged"\} (\d+)/.exec(await (await fetch(`${gw.controlUrl}/metrics`)).text())?.[1] ?? 0);
  }
  t.ok(compared > 0, 'the fixed shadow policy is asked, and agrees');
});
