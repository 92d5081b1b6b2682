// Policies pulled from a bundle server with OPA's protocol (the `bundles` block): a real
// `jitgate serve` polls an HTTP server in the test. A new bundle is swapped in, an unchanged
// one is answered 304, a broken one is refused while the last good one keeps serving, and a
// restart while the server is away starts from the last activated bundle.
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { startDemoUpstream } from '../../src/demo/index.js';
import { buildBundle, requireOpa } from '../../src/policy/index.js';
import { demoConfig, demoEnv, repoRoot, runCli, startGatewayProcess, tempDir, writeConfig, type GatewayProcess } from '../helpers/gateway.js';
import { startReceiver } from '../helpers/receiver.js';

const TOKEN = 'bundle-server-token';
const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
t.teardown(() => upstream.close());

/** The sample policies as a bundle with `revision`, reads under /api/ allowed or not. */
async function bundle(dir: string, revision: string, readsAllowed: boolean): Promise<Buffer> {
  const policies = join(dir, `policies-${revision}`);
  cpSync(join(repoRoot, 'policies'), policies, { recursive: true });
  if (!readsAllowed) {
    const access = join(policies, 'jitgate', 'lib', 'access.rego');
    writeFileSync(access, readFileSync(access, 'utf8').replace('requests.is_read\n} else :=', 'requests.is_read\n\tfalse\n} else :='));
  }
  const out = join(dir, `${revision}.tar.gz`);
  await buildBundle({ dir: policies, opaPath: await requireOpa(), outFile: out, revision });
  return readFileSync(out);
}

t.test('a gateway keeps its policy in step with a bundle server', async (t) => {
  const dir = tempDir('jg-bundles-');
  const served = { body: await bundle(dir, 'rev-a', true), etag: '"a"' };
  const server = await startReceiver((_url, _index, headers) => {
    if (headers['if-none-match'] === served.etag) return { status: 304 };
    return { status: 200, headers: { 'content-type': 'application/gzip', etag: served.etag }, body: served.body };
  });
  t.teardown(() => server.close());
  const file = writeConfig(dir, {
    ...demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } }),
    services: { acme: { url: `${server.url}/v1`, credentials: { bearer: { token: TOKEN } } } },
    bundles: { jitgate: { service: 'acme', resource: 'bundles/jitgate.tar.gz', polling: { min_delay_seconds: 0.1, max_delay_seconds: 0.2 } } },
  });
  let gw: GatewayProcess = await startGatewayProcess(file, demoEnv(keys));
  t.teardown(() => gw.stop());
  const alice = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  /** The status of alice's read and, on a 403, the policy revision that refused it. */
  const read = async (): Promise<string> => {
    const res = await fetch(`${gw.proxyUrl}/api/items`, { headers: { authorization: `Bearer ${alice}` } });
    const body = await res.json() as { error?: { policy_revision?: string } };
    return res.status === 403 ? `403 ${body.error?.policy_revision ?? ''}` : String(res.status);
  };
  const until = async (want: string): Promise<boolean> => {
    for (let i = 0; i < 100; i++) {
      if ((await read()) === want) return true;
      await sleep(100);
    }
    return false;
  };

  t.equal(await read(), '200', 'the gateway started on the server\'s bundle (reads allowed)');
  const ready = await (await fetch(`${gw.controlUrl}/readyz`)).text();
  t.match(ready, /revision rev-a/, 'its revision, not one compiled from policy.dir');
  const first = server.received[0];
  t.equal(first?.url, '/v1/bundles/jitgate.tar.gz', 'asked at the service url and resource');
  t.equal(first?.headers.authorization, `Bearer ${TOKEN}`, 'with the service\'s bearer token');
  await sleep(500);
  t.ok(server.received.slice(1).some((r) => r.headers['if-none-match'] === '"a"'), 'later polls send the ETag, and are answered 304');

  served.body = await bundle(dir, 'rev-b', false);
  served.etag = '"b"';
  t.ok(await until('403 rev-b'), 'a new bundle on the server is swapped in: its revision decides');

  served.body = randomBytes(2048);
  served.etag = '"broken"';
  await sleep(600);
  t.equal(await read(), '403 rev-b', 'a broken bundle is refused; the last good one keeps serving');
  const audit = await runCli(['audit', 'query', '--kind', 'policy.rejected', '--json', '--config', file]);
  t.match(audit.stdout, /policy\.rejected/, 'and the refusal is in the audit trail');

  // A restart while the server is away: the last activated bundle (rev-b) serves.
  await gw.stop();
  await server.close();
  gw = await startGatewayProcess(file, demoEnv(keys));
  t.equal(await read(), '403 rev-b', 'started from the bundle kept on disk');
  t.ok(gw.output.some((l) => l.includes('bundle download failed')), 'the failed download is logged');
});

t.test('a bundle block naming a service that does not exist is refused at start', async (t) => {
  const dir = tempDir('jg-bundles-bad-');
  const file = writeConfig(dir, {
    ...demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } }),
    bundles: { jitgate: { service: 'nowhere' } },
  });
  const out = await runCli(['serve', '--config', file]);
  t.not(out.code, 0);
  t.match(out.stderr, /bundles\.jitgate\.service: no service named "nowhere" in services/);
});
