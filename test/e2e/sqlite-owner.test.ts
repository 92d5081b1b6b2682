// One gateway per SQLite file: its change feed is in-process, so a second `jitgate serve` on the
// same file would never hear of a revoke made through the first and would go on honouring it.
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startDemoUpstream } from '../../src/demo/index.js';
import { demoConfig, demoEnv, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';

t.test('a second gateway on a served SQLite file refuses to start; the file is free again once its server is gone', async (t) => {
  const keys = { readonly: randomBytes(16).toString('hex'), writer: randomBytes(16).toString('hex'), admin: randomBytes(16).toString('hex') };
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
  const dir = tempDir('jitgate-owner-');
  const configFile = writeConfig(dir, demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } }));
  const first = await startGatewayProcess(configFile, demoEnv(keys));
  t.teardown(async () => { await first.stop('SIGKILL'); await upstream.close(); });

  const refused = await startGatewayProcess(configFile, demoEnv(keys)).then(async (g) => { await g.stop('SIGKILL'); return 'started'; }, (err: unknown) => String(err));
  t.match(refused, /JITGATE_E_STORE_IN_USE|served by process/, 'the second start is refused, saying which process serves the file');
  t.equal((await fetch(`${first.controlUrl}/readyz`)).status, 200, 'the first goes on serving');

  await first.stop('SIGKILL');
  const owner = `${join(dir, 'jitgate.db')}.owner`;
  t.ok(existsSync(owner), 'a killed server leaves its claim behind');
  const next = await startGatewayProcess(configFile, demoEnv(keys));
  t.equal((await fetch(`${next.controlUrl}/readyz`)).status, 200, 'a claim whose process is gone is taken over');
  await next.stop();
  t.notOk(existsSync(owner), 'a server that stops releases the file');
});

t.test('a store in a folder that does not exist yet: made for the gateway\'s user alone, as is the file holding the trail', async (t) => {
  const keys = { readonly: randomBytes(16).toString('hex'), writer: randomBytes(16).toString('hex'), admin: randomBytes(16).toString('hex') };
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
  const dir = tempDir('jitgate-owner-');
  const path = join(dir, 'fresh', 'data', 'jitgate.db');
  const configFile = writeConfig(dir, demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] }, store: { type: 'sqlite', sqlite: { path } } }));
  const gw = await startGatewayProcess(configFile, demoEnv(keys));
  t.teardown(async () => { await gw.stop('SIGKILL'); await upstream.close(); });
  const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);
  t.equal(mode(join(dir, 'fresh', 'data')), '700', 'the folder');
  for (const file of [path, `${path}-wal`, `${path}.owner`]) t.equal(mode(file), '600', file.slice(dir.length));
});
