// SIGHUP re-reads the configuration: new routes, identity settings, trusted proxies and client
// timeouts apply to the next request; an invalid file, or one that changes what needs a restart,
// changes nothing and is audited as rejected.
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { startDemoUpstream } from '../../src/demo/index.js';
import { generateApiKey } from '../../src/identity/index.js';
import { demoConfig, demoEnv, readStatus, repoRoot, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';
import { startReceiver, type Answer } from '../helpers/receiver.js';

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
  const read = (): Promise<number> => readStatus(gw, tok);
  // The auditor reads the same store through a config of its own: the gateway's file is about to be broken.
  const auditorFile = writeConfig(tempDir('jg-reload-auditor-'), doc([route(upstreamA.url, 'A')]));
  const configEvents = async (kind: string) => {
    const out = await runCli(['audit', 'export', '--config', auditorFile, '--kind', kind]);
    return out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { reason: string | null; details: { error_code?: string } });
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
  t.same(rejected.map((r) => r.details.error_code), ['JITGATE_E_CONFIG_INVALID', 'JITGATE_E_CONFIG_INVALID'], 'with the code tools match on');
  t.equal(await read(), 200);
  t.equal(upstreamB.seen.length, 3, 'its routes were not applied either');
  t.equal(upstreamA.seen.length, 1);
});

/** Sends half a request head to `url`'s listener and resolves with what comes back, or 'nothing' after `ms`. */
function halfHead(url: string, ms: number): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const sock = connect(Number(port), hostname);
    let reply = '';
    const timer = setTimeout(() => { sock.destroy(); resolve('nothing'); }, ms);
    sock.on('data', (d: Buffer) => { reply += d.toString('latin1'); });
    sock.on('close', () => { clearTimeout(timer); resolve(reply); });
    sock.on('error', () => { /* the close tells */ });
    sock.write('GET /api/items HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  });
}

t.test('SIGHUP applies new trusted proxies and client timeouts, to both listeners', async (t) => {
  const demoKeys = keys();
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys: demoKeys });
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-reload-callers-');
  const doc = (listen: Record<string, unknown>) => ({
    jitgate: {
      data_dir: dir,
      listen: { proxy: '127.0.0.1:0', control: '127.0.0.1:0', ...listen },
      policy: { dir: join(repoRoot, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false },
      store: { type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } },
      identity: { dev_issuer: { enabled: true, key_file: join(dir, 'dev.jwk.json'), subjects: { alice: ['eng'] } } },
      routes: [{
        name: 'demo', upstream: upstream.url,
        credentials: { readonly: { type: 'header', header: 'X-Api-Key', from_env: 'READ_KEY' } },
        default_credential: 'readonly',
      }],
    },
  });
  const file = writeConfig(dir, doc({}));
  const gw = await startGatewayProcess(file, { READ_KEY: demoKeys.readonly });
  t.teardown(() => gw.stop());
  const tok = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  const forwardedFor = async (): Promise<string | undefined> => {
    const res = await fetch(`${gw.proxyUrl}/api/items`, { headers: { authorization: `Bearer ${tok}`, 'x-forwarded-for': '203.0.113.9' } });
    await res.arrayBuffer();
    const header = upstream.seen.at(-1)?.headers['x-forwarded-for'];
    return Array.isArray(header) ? header.join(', ') : header;
  };
  const reloaded = async (n: number): Promise<boolean> => {
    for (let i = 0; i < 50; i++) {
      const out = await runCli(['audit', 'export', '--config', file, '--kind', 'config.reloaded']);
      if (out.stdout.split('\n').filter(Boolean).length === n) return true;
      await sleep(100);
    }
    return false;
  };

  t.equal(await forwardedFor(), '127.0.0.1', 'the caller is not a trusted proxy: its X-Forwarded-For is replaced');
  // The default head_ms is 10 s: within 4 s nobody cuts a trickled head off.
  t.equal(await halfHead(gw.proxyUrl, 4000), 'nothing', 'a half-sent head is waited for');

  writeConfig(dir, doc({ trusted_proxies: ['127.0.0.1'], client_timeouts: { head_ms: 1000, request_ms: 60000 } }));
  gw.proc.kill('SIGHUP');
  t.ok(await reloaded(1), 'config.reloaded recorded');
  t.equal(await forwardedFor(), '203.0.113.9, 127.0.0.1', 'now a trusted proxy: the client it names is believed');
  t.match(await halfHead(gw.proxyUrl, 4000), /^HTTP\/1\.1 408 /, 'a half-sent head is cut off at the new head_ms');
  t.match(await halfHead(gw.controlUrl, 4000), /^HTTP\/1\.1 408 /, 'on the control listener too');

  // A trusted proxy that is no address: the file is refused and the running settings stay.
  writeConfig(dir, doc({ trusted_proxies: ['not-an-address'] }));
  gw.proc.kill('SIGHUP');
  await sleep(1000);
  t.equal(await forwardedFor(), '203.0.113.9, 127.0.0.1', 'a refused file changes nothing');
});

t.test('SIGHUP applies new identity settings: a key taken out is refused from the next request, and an issuer whose keys cannot be loaded is refused whole', async (t) => {
  const demoKeys = keys();
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys: demoKeys });
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-reload-identity-');
  const keyA = generateApiKey('reporting-a');
  const keyB = generateApiKey('reporting-b');
  const apiKey = (id: string, sha256: string) => ({ id, subject: 'svc-reporting', groups: ['services', 'reporting'], sha256 });
  const doc = (identity: Record<string, unknown>) => ({
    jitgate: {
      data_dir: dir,
      listen: { proxy: '127.0.0.1:0', control: '127.0.0.1:0' },
      policy: { dir: join(repoRoot, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false },
      store: { type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } },
      identity: { dev_issuer: { enabled: true, key_file: join(dir, 'dev.jwk.json'), subjects: { alice: ['eng'] } }, ...identity },
      routes: [{
        name: 'demo', upstream: upstream.url,
        credentials: { readonly: { type: 'header', header: 'X-Api-Key', from_env: 'READ_KEY' } },
        default_credential: 'readonly',
      }],
    },
  });
  const file = writeConfig(dir, doc({ api_keys: [apiKey('reporting-a', keyA.sha256)] }));
  const gw = await startGatewayProcess(file, { READ_KEY: demoKeys.readonly });
  t.teardown(() => gw.stop());
  const tok = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  const status = async (headers: Record<string, string>) => {
    const res = await fetch(`${gw.proxyUrl}/api/reports/daily`, { headers });
    await res.arrayBuffer();
    return res.status;
  };
  const auditorFile = writeConfig(tempDir('jg-reload-identity-auditor-'), doc({}));
  const configEvents = async (kind: string) => {
    const out = await runCli(['audit', 'export', '--config', auditorFile, '--kind', kind]);
    return out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { reason: string | null; details: { identity_changed?: boolean } });
  };
  const waitFor = async (check: () => Promise<boolean>) => {
    for (let i = 0; i < 30 && !(await check()); i++) await sleep(100);
    return check();
  };

  t.equal(await status({ 'x-api-key': keyA.key }), 200, 'key A serves');
  t.equal(await status({ 'x-api-key': keyB.key }), 401, 'key B is unknown');
  t.equal(await status({ authorization: `Bearer ${tok}` }), 200, 'and so do tokens');

  // Key A revoked (taken out of the file), key B added.
  writeConfig(dir, doc({ api_keys: [apiKey('reporting-b', keyB.sha256)] }));
  gw.proc.kill('SIGHUP');
  t.ok(await waitFor(async () => (await configEvents('config.reloaded')).length === 1), 'config.reloaded recorded');
  t.equal((await configEvents('config.reloaded'))[0]?.details.identity_changed, true, 'naming the identity change');
  const seen = upstream.seen.length;
  t.equal(await status({ 'x-api-key': keyA.key }), 401, 'the key taken out is refused, without a restart');
  t.equal(upstream.seen.length, seen, 'and the upstream never sees its request');
  t.equal(await status({ 'x-api-key': keyB.key }), 200, 'the key added serves');
  t.equal(await status({ authorization: `Bearer ${tok}` }), 200, 'tokens of the unchanged issuer still verify');

  // An issuer whose keys cannot be fetched now: refused whole, key A is not back either.
  writeConfig(dir, doc({
    api_keys: [apiKey('reporting-a', keyA.sha256)],
    jwt: { issuer: 'https://idp.example', audience: 'jitgate', algorithms: ['RS256'], jwks_url: 'http://127.0.0.1:1/jwks.json' },
  }));
  gw.proc.kill('SIGHUP');
  t.ok(await waitFor(async () => (await configEvents('config.rejected')).length === 1), 'the change is rejected');
  t.match((await configEvents('config.rejected'))[0]?.reason, /jitgate\.identity: .*JWKS could not be loaded/, 'and the record says why');
  t.equal(await status({ 'x-api-key': keyA.key }), 401, 'key A stays out');
  t.equal(await status({ 'x-api-key': keyB.key }), 200, 'key B stays in');
  t.equal(await status({ authorization: `Bearer ${tok}` }), 200);
});

t.test('SIGHUP after the issuer key file was replaced: the withdrawn key is refused and the new one trusted, cached tokens included', async (t) => {
  const dir = tempDir('jg-reload-pem-');
  const pemFile = join(dir, 'issuer.pem');
  const withdrawn = await generateKeyPair('ES256', { extractable: true });
  const replacement = await generateKeyPair('ES256', { extractable: true });
  writeFileSync(pemFile, await exportSPKI(withdrawn.publicKey));
  const file = writeConfig(dir, {
    jitgate: {
      data_dir: dir,
      listen: { proxy: '127.0.0.1:0', control: '127.0.0.1:0' },
      policy: { dir: join(repoRoot, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false },
      store: { type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } },
      identity: { jwt: { issuer: 'https://issuer.test', audience: 'jitgate', algorithms: ['ES256'], public_key_file: pemFile } },
      routes: [],
    },
  });
  const gw = await startGatewayProcess(file);
  t.teardown(() => gw.stop());
  const sign = (key: CryptoKey): Promise<string> => new SignJWT({ groups: ['eng'] })
    .setProtectedHeader({ alg: 'ES256' }).setIssuer('https://issuer.test').setAudience('jitgate').setSubject('alice').setExpirationTime('10m').sign(key);
  const whoami = async (token: string): Promise<number> => {
    const res = await fetch(`${gw.controlUrl}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.status;
  };
  const used = await sign(withdrawn.privateKey);
  t.equal(await whoami(used), 200, 'the key in the file verifies (and the token is now cached)');
  t.equal(await whoami(await sign(replacement.privateKey)), 401, 'the other does not');

  writeFileSync(pemFile, await exportSPKI(replacement.publicKey));
  const reloads = gw.output.filter((l) => l.includes('configuration reloaded')).length;
  gw.proc.kill('SIGHUP');
  for (let i = 0; i < 50 && gw.output.filter((l) => l.includes('configuration reloaded')).length === reloads; i++) await sleep(100);
  t.equal(await whoami(used), 401, 'the cached token signed with the withdrawn key is refused');
  t.equal(await whoami(await sign(withdrawn.privateKey)), 401, 'as is a new one');
  t.equal(await whoami(await sign(replacement.privateKey)), 200, 'the new key verifies, without a restart');
});

t.test('a route credential given where its file path belongs is not quoted: neither the log nor the audit trail holds it', async (t) => {
  const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-reload-inline-secret-');
  const config = (writer: Record<string, string>): Record<string, unknown> => {
    const doc = demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } }) as { jitgate: { routes: { credentials: Record<string, unknown> }[] } };
    const route = doc.jitgate.routes[0]!;
    route.credentials = { ...route.credentials, writer: { type: 'header', header: 'X-Api-Key', ...writer } };
    return doc;
  };
  const env = demoEnv(keys);
  const file = writeConfig(dir, config({ from_env: 'DEMO_WRITE_KEY' }));
  const gw = await startGatewayProcess(file, env);
  t.teardown(() => gw.stop());
  // The mistake: the variable holding the key (as a mounted secret often is), not a file holding it.
  writeConfig(dir, config({ from_file: '${DEMO_WRITE_KEY}' }));
  gw.proc.kill('SIGHUP');
  const refused = (): string | undefined => gw.output.find((l) => l.includes('configuration reload refused'));
  for (let i = 0; i < 50 && refused() === undefined; i++) await sleep(100);
  t.match(refused(), /route demo credential writer from_file: the file it names cannot be read \(ENOENT/, 'refused, naming the setting');
  t.same(gw.output.filter((l) => l.includes(keys.writer)), [], 'no log line holds the key');
  const trail = await runCli(['audit', 'export', '--config', file], env);
  t.match(trail.stdout, /config\.rejected/, 'the trail records the refusal');
  t.notOk(trail.stdout.includes(keys.writer), 'without the key');
  await gw.stop();
  const start = await startGatewayProcess(file, env).then(() => 'started', (err: unknown) => String(err));
  t.match(start, /credential writer from_file: the file it names cannot be read/, 'a start with it is refused the same way');
  t.notOk(start.includes(keys.writer), 'without the key');
});

t.test("a request's scope must name one of the routes in force: a typo is refused before anyone is asked, and a route a reload adds can be asked for", async (t) => {
  const keysA = keys();
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys: keysA });
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-reload-scope-');
  const route = (name: string, prefix: string) => ({
    name, upstream: upstream.url, match: { path_prefix: prefix },
    credentials: { readonly: { type: 'header', header: 'X-Api-Key', from_env: 'READ_A' }, writer: { type: 'header', header: 'X-Api-Key', from_env: 'WRITE_A' } },
    default_credential: 'readonly',
  });
  const doc = (routes: unknown[]) => ({
    jitgate: {
      data_dir: dir,
      listen: { proxy: '127.0.0.1:0', control: '127.0.0.1:0' },
      policy: { dir: join(repoRoot, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false },
      store: { type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } },
      identity: { dev_issuer: { enabled: true, key_file: join(dir, 'dev.jwk.json'), subjects: { alice: ['eng'] } } },
      routes,
    },
  });
  const file = writeConfig(dir, doc([route('demo', '/api')]));
  const gw = await startGatewayProcess(file, { READ_A: keysA.readonly, WRITE_A: keysA.writer });
  t.teardown(() => gw.stop());
  const tok = (await runCli(['token', '--sub', 'alice', '-c', file])).stdout.trim();
  const ask = async (routeName: string) => {
    const res = await fetch(`${gw.controlUrl}/v1/requests`, {
      method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'writer', duration: '1h', reason: 'scope check', scope: { route: routeName } }),
    });
    return { status: res.status, body: await res.json() as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } };
  };
  const listed = async () => {
    const res = await fetch(`${gw.controlUrl}/v1/requests?requester=alice`, { headers: { authorization: `Bearer ${tok}` } });
    return ((await res.json()) as { items: unknown[] }).items.length;
  };

  const typo = await ask('demoo');
  t.equal(typo.status, 400, 'a route nobody has: 400');
  t.equal(typo.body.error?.code, 'JITGATE_E_VALIDATION');
  t.match(typo.body.error?.message, /no route is named "demoo" \(routes: demo\)/, 'naming the routes there are');
  t.same(typo.body.error?.details, { in: 'body', field: 'scope' }, 'and the field');
  t.equal(await listed(), 0, 'nothing was stored');
  t.equal((await ask('reports')).status, 400, 'a route not configured yet is refused too');

  writeConfig(dir, doc([route('demo', '/api'), route('reports', '/reports')]));
  gw.proc.kill('SIGHUP');
  let after = await ask('reports');
  for (let i = 0; i < 50 && after.status === 400; i++) {
    await sleep(100);
    after = await ask('reports');
  }
  t.equal(after.status, 201, 'once a reload adds the route, a request for it is taken');
  t.equal((await ask('demo')).status, 201, 'as one for a route there from the start');
  t.equal(await listed(), 2);
});

t.test('a SIGHUP that arrives while the gateway starts does not end it: the reload is applied once it runs', async (t) => {
  const demoKeys = keys();
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys: demoKeys });
  t.teardown(() => upstream.close());
  // The start waits for its first bundle download: the bundle server holds it there until the
  // test has sent the signal, so the signal surely reaches a gateway that is still starting.
  let asked = (): void => undefined;
  const bundleAsked = new Promise<void>((resolve) => { asked = resolve; });
  let answerBundle = (): void => undefined;
  const server = await startReceiver(() => {
    asked();
    return new Promise<Answer>((resolve) => {
      answerBundle = () => { resolve({ status: 200, headers: { 'content-type': 'application/gzip', etag: '"sample"' }, body: readFileSync(join(repoRoot, 'bundles', 'jitgate.tar.gz')) }); };
    });
  });
  t.teardown(() => server.close());
  const dir = tempDir('jg-reload-starting-');
  const key = generateApiKey('reporting-new');
  const doc = (apiKeys: unknown[]) => ({
    ...demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] }, apiKeys: apiKeys as never }),
    services: { bundles: { url: server.url } },
    bundles: { jitgate: { service: 'bundles', polling: { min_delay_seconds: 60, max_delay_seconds: 120 } } },
  });
  const file = writeConfig(dir, doc([]));
  let proc: ChildProcess | undefined;
  const starting = startGatewayProcess(file, demoEnv(demoKeys), 60_000, (p) => { proc = p; });

  await bundleAsked;
  // What the operator's tool does meanwhile: a new API key in the file, and a SIGHUP.
  writeConfig(dir, doc([{ id: 'reporting-new', subject: 'svc-reporting', groups: ['services', 'reporting'], sha256: key.sha256 }]));
  proc?.kill('SIGHUP');
  answerBundle();

  const gw = await starting.catch((err: unknown) => { t.fail(`the SIGHUP ended the starting gateway: ${String(err)}`); return null; });
  if (gw === null) return;
  t.teardown(() => gw.stop());
  let reloaded = false;
  for (let i = 0; i < 50 && !reloaded; i++) {
    reloaded = gw.output.some((l) => l.includes('"msg":"configuration reloaded"'));
    if (!reloaded) await sleep(100);
  }
  t.ok(reloaded, 'the reload asked while it started is applied once it runs');
  const res = await fetch(`${gw.controlUrl}/v1/whoami`, { headers: { 'x-api-key': key.key } });
  t.equal(res.status, 200, 'the API key the new file added is accepted');
  t.equal(((await res.json()) as { id?: string }).id, 'svc-reporting');
});

t.test('a refused reload or policy change carries its code in the audit trail, beside the words', async (t) => {
  const demoKeys = keys();
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys: demoKeys });
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-reload-codes-');
  const policies = join(dir, 'policies');
  cpSync(join(repoRoot, 'policies'), policies, { recursive: true });
  const doc = (o: { proxy?: string; readEnv?: string } = {}) => {
    const base = demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } }) as { jitgate: Record<string, unknown> & { listen: Record<string, unknown>; routes: { credentials: { readonly: Record<string, unknown> } }[] } };
    base.jitgate.policy = { dir: policies, bundles_dir: join(dir, 'bundles'), watch: true, debounce_ms: 50 };
    if (o.proxy) base.jitgate.listen.proxy = o.proxy;
    const route = base.jitgate.routes[0];
    if (o.readEnv && route) route.credentials.readonly.from_env = o.readEnv;
    return base;
  };
  const file = writeConfig(dir, doc());
  const gw = await startGatewayProcess(file, demoEnv(demoKeys));
  t.teardown(() => gw.stop());
  // The auditor reads the same store through a config of its own: the gateway's file is about to be broken.
  const auditorFile = writeConfig(tempDir('jg-reload-codes-auditor-'), { jitgate: { store: { type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } } } });
  const records = async (kind: string) => {
    const out = await runCli(['audit', 'export', '--config', auditorFile, '--kind', kind]);
    return out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { reason: string | null; details: { error_code?: string } });
  };
  const nth = async (kind: string, n: number) => {
    for (let i = 0; i < 50 && (await records(kind)).length < n; i++) await sleep(100);
    return (await records(kind))[n - 1];
  };

  writeConfig(dir, doc({ proxy: '127.0.0.1:1' }));
  gw.proc.kill('SIGHUP');
  t.equal((await nth('config.rejected', 1))?.details.error_code, 'JITGATE_E_CONFIG_INVALID', 'a change that needs a restart');
  writeConfig(dir, doc({ readEnv: 'JITGATE_TEST_NOT_SET_ANYWHERE' }));
  gw.proc.kill('SIGHUP');
  t.equal((await nth('config.rejected', 2))?.details.error_code, 'JITGATE_E_SECRET_MISSING', 'a credential whose variable is not set');
  writeConfig(dir, doc());
  chmodSync(file, 0o666);
  gw.proc.kill('SIGHUP');
  t.equal((await nth('config.rejected', 3))?.details.error_code, 'JITGATE_E_CONFIG_READ', 'a file every account may write');
  chmodSync(file, 0o644);

  writeFileSync(join(policies, 'jitgate', 'zz_broken.rego'), 'package jitgate.authz\n\nbroken {{{\n');
  t.equal((await nth('policy.rejected', 1))?.details.error_code, 'JITGATE_E_POLICY_COMPILE', 'a policy change that does not compile');
});
