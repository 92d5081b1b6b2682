// What the audit trail promises, checked on the real process: no answered request loses
// its record when the gateway is killed, and no secret reaches logs, decision logs or the trail.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { startDemoUpstream } from '../../src/demo/index.js';
import { demoConfig, demoEnv, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';

async function setUp(logLevel: string) {
  const keys = { readonly: `rk-${randomBytes(12).toString('hex')}`, writer: `wk-${randomBytes(12).toString('hex')}`, admin: `ak-${randomBytes(12).toString('hex')}` };
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
  const dir = tempDir('jg-durability-');
  const configFile = writeConfig(dir, demoConfig({
    dir,
    upstreamUrl: upstream.url,
    subjects: { alice: ['eng'], bob: ['eng', 'approvers'] },
    checkpointIntervalMs: 200,
    logLevel,
  }));
  const env = demoEnv(keys);
  return { keys, upstream, dir, configFile, env };
}

t.test('SIGKILL under load: every answered denial has its audit record, and the chain verifies', async (t) => {
  const s = await setUp('info');
  t.teardown(() => s.upstream.close());
  const gw = await startGatewayProcess(s.configFile, s.env);
  const tok = (await runCli(['token', '--sub', 'alice', '--config', s.configFile])).stdout.trim();

  const answered: string[] = [];
  let stop = false;
  // Denied writes: the design says each must be on the trail before the 403 goes out.
  const worker = async (): Promise<void> => {
    while (!stop) {
      try {
        const res = await fetch(`${gw.proxyUrl}/api/items`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' },
          body: '{}',
        });
        const id = res.headers.get('x-jitgate-decision-id');
        await res.arrayBuffer();
        if (res.status === 403 && id) answered.push(id);
      } catch {
        return; // the gateway is gone
      }
    }
  };
  const workers = Array.from({ length: 16 }, worker);
  await sleep(1500);
  gw.proc.kill('SIGKILL');
  stop = true;
  await Promise.all(workers);
  t.ok(answered.length > 50, `the load was real (${answered.length} answered denials before the kill)`);

  const out = await runCli(['audit', 'export', '--config', s.configFile, '--kind', 'proxy.denied'], s.env);
  t.equal(out.code, 0, out.stderr);
  const recorded = new Set(out.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { decision_id: string }).decision_id));
  const missing = answered.filter((id) => !recorded.has(id));
  t.same(missing, [], 'no answered denial is missing from the trail');

  const verify = await runCli(['audit', 'verify', '--config', s.configFile], s.env);
  t.equal(verify.code, 0, `the chain verifies after the kill: ${verify.stdout}${verify.stderr}`);
});

t.test('the injected upstream secret and the bearer token never appear in logs, decision logs or the trail', async (t) => {
  const s = await setUp('debug');
  t.teardown(() => s.upstream.close());
  const gw = await startGatewayProcess(s.configFile, s.env);
  const alice = (await runCli(['token', '--sub', 'alice', '--config', s.configFile])).stdout.trim();
  const bob = (await runCli(['token', '--sub', 'bob', '--config', s.configFile])).stdout.trim();

  const get = await fetch(`${gw.proxyUrl}/api/items`, { headers: { authorization: `Bearer ${alice}`, cookie: 'session=s3cr3t-cookie' } });
  t.equal(get.status, 200);
  await get.arrayBuffer();
  const post = await fetch(`${gw.proxyUrl}/api/items`, { method: 'POST', headers: { authorization: `Bearer ${alice}` }, body: '{}' });
  t.equal(post.status, 403);
  await post.arrayBuffer();
  // A grant, so the trail holds workflow records and an allowed-with-grant decision too.
  const env = { JITGATE_URL: gw.controlUrl };
  const req = JSON.parse((await runCli(['request', '--role', 'writer', '--duration', '1h', '--reason', 'secret test', '--json'], { ...env, JITGATE_TOKEN: alice })).stdout) as { id: string };
  t.equal((await runCli(['approve', req.id], { ...env, JITGATE_TOKEN: bob })).code, 0);
  const write = await fetch(`${gw.proxyUrl}/api/items`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: '{"name":"n"}' });
  t.equal(write.status, 201);
  await write.arrayBuffer();
  t.equal(s.upstream.seen.at(-1)?.headers['x-api-key'], s.keys.writer, 'the secret really was injected');

  await sleep(300); // let the decision-log file sink flush
  await gw.stop();
  const trail = await runCli(['audit', 'export', '--config', s.configFile], s.env);
  t.equal(trail.code, 0, trail.stderr);
  const decisions = readFileSync(join(s.dir, 'decisions.jsonl'), 'utf8');
  t.ok(decisions.split('\n').filter(Boolean).length >= 3, 'decisions were logged');
  t.ok(trail.stdout.includes('proxy.allowed_with_grant'), 'the trail holds the grant use');
  const places = { 'gateway logs': gw.output.join('\n'), 'decision log': decisions, 'audit trail': trail.stdout };
  const secrets = { 'read key': s.keys.readonly, 'writer key': s.keys.writer, 'admin key': s.keys.admin, "alice's token": alice, "bob's token": bob, cookie: 's3cr3t-cookie' };
  for (const [place, text] of Object.entries(places)) {
    for (const [name, secret] of Object.entries(secrets)) t.notOk(text.includes(secret), `${name} is not in the ${place}`);
  }
});
