// SIGHUP re-reads the configuration: new routes apply to the next request; an invalid file,
// or one that changes what needs a restart, changes nothing and is audited as rejected.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { startDemoUpstream } from '../../src/demo/index.js';
import { repoRoot, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';

function keys() {
  return { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
}

t.test('SIGHUP applies new routes and refuses bad or restart-only changes', async (t) => {
  const keysA = keys();
  const keysB = keys();
  const upstreamA = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys: keysA });
  const upstreamB = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys: keysB });
  t.teardown(async () => {
    await upstreamA.close();
    await upstreamB.close();
  });
  const dir = tempDir('jg-reload-');
  const route = (url: string, suffix: string) => ({
    name: 'demo',
    upstream: url,
    credentials: {
      readonly: { type: 'header', header: 'X-Api-Key', from_env: `READ_${suffix}` },
      writer: { type: 'header', header: 'X-Api-Key', from_env: `WRITE_${suffix}` },
      admin: { type: 'bearer', from_env: `ADMIN_${suffix}` },
    },
    default_credential: 'readonly',
  });
  const doc = (routes: unknown[], listenProxy = '127.0.0.1:0') => ({
    jitgate: {
      data_dir: dir,
      listen: { proxy: listenProxy, control: '127.0.0.1:0' },
      policy: { dir: join(repoRoot, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false },
      store: { type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } },
      identity: { dev_issuer: { enabled: true, key_file: join(dir, 'dev.jwk.json'), subjects: { alice: ['eng'] } } },
      routes,
    },
  });
  const file = writeConfig(dir, doc([route(upstreamA.url, 'A')]));
  const env = {
    READ_A: keysA.readonly, WRITE_A: keysA.writer, ADMIN_A: keysA.admin,
    READ_B: keysB.readonly, WRITE_B: keysB.writer, ADMIN_B: keysB.admin,
  };
  const gw = await startGatewayProcess(file, env);
  t.teardown(() => gw.stop());
  const tok = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  const read = async () => {
    const res = await fetch(`${gw.proxyUrl}/api/items`, { headers: { authorization: `Bearer ${tok}` } });
    await res.arrayBuffer();
    return res.status;
  };
  // The auditor reads the same store through a config of its own: the gateway's file is about to be broken.
  const auditorFile = writeConfig(tempDir('jg-reload-auditor-'), doc([route(upstreamA.url, 'A')]));
  const configEvents = async (kind: string) => {
    const out = await runCli(['audit', 'export', '--config', auditorFile, '--kind', kind]);
    return out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { reason: string | null });
  };
  const waitFor = async (check: () => Promise<boolean>) => {
    for (let i = 0; i < 30 && !(await check()); i++) await sleep(100);
    return check();
  };

  t.equal(await read(), 200);
  t.equal(upstreamA.seen.length, 1, 'served by upstream A');

  // A good change: the route now points at upstream B with B's keys.
  writeConfig(dir, doc([route(upstreamB.url, 'B')]));
  gw.proc.kill('SIGHUP');
  t.ok(await waitFor(async () => (await configEvents('config.reloaded')).length === 1), 'config.reloaded recorded');
  t.equal(await read(), 200);
  t.equal(upstreamB.seen.length, 1, 'the next request goes to upstream B');
  t.equal(upstreamB.seen[0]?.headers['x-api-key'], keysB.readonly, "with B's credential");

  // An invalid file: refused, audited, nothing changes.
  writeConfig(dir, { jitgate: { ...doc([]).jitgate, routes: [{ name: 'demo', upstream: 'ftp://nowhere' }] } });
  gw.proc.kill('SIGHUP');
  t.ok(await waitFor(async () => (await configEvents('config.rejected')).length === 1), 'the invalid file is rejected');
  t.equal(await read(), 200);
  t.equal(upstreamB.seen.length, 2, 'still served by upstream B');

  // A change only a restart can apply: refused as a whole, even though its routes are valid.
  writeConfig(dir, doc([route(upstreamA.url, 'A')], '127.0.0.1:1'));
  gw.proc.kill('SIGHUP');
  t.ok(await waitFor(async () => (await configEvents('config.rejected')).length === 2), 'the restart-only change is rejected');
  const rejected = await configEvents('config.rejected');
  t.match(rejected[1]?.reason, /need a restart: jitgate\.listen/, 'and the record says why');
  t.equal(await read(), 200);
  t.equal(upstreamB.seen.length, 3, 'its routes were not applied either');
  t.equal(upstreamA.seen.length, 1);
});
