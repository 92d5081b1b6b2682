// Policies pulled from a bundle server with OPA's protocol (the `bundles` block): a real
// `jitgate serve` polls an HTTP server in the test. A new bundle is swapped in, an unchanged
// one is answered 304, a broken one is refused while the last good one keeps serving, and a
// restart while the server is away starts from the last activated bundle.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { startDemoUpstream } from '../../src/demo/index.js';
import { buildBundle, checkBundleSignature, requireOpa } from '../../src/policy/index.js';
import { demoConfig, demoEnv, repoRoot, runCli, startGatewayProcess, tempDir, writeConfig, type GatewayProcess } from '../helpers/gateway.js';
import { certAuthority } from '../helpers/certs.js';
import { startReceiver, type Answer } from '../helpers/receiver.js';

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

/** What the test's bundle server hands out: answered 304 while the gateway already holds this etag. */
interface Served { body: Buffer; etag: string }
type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/**
 * A bundle server handing out `served` (changed by the test as it goes) and a real gateway
 * polling it every 0.1-0.2 s; `config` adds to the bundle's block and to the file's top level.
 */
async function gatewayPolling(t: Test, dir: string, served: Served, config: { bundle?: Record<string, unknown>; top?: Record<string, unknown> } = {}): Promise<{ gw: GatewayProcess; file: string; server: Receiver }> {
  const server = await startReceiver((_url, _index, headers) => (headers['if-none-match'] === served.etag
    ? { status: 304 }
    : { status: 200, headers: { 'content-type': 'application/gzip', etag: served.etag }, body: served.body }));
  t.teardown(() => server.close());
  const file = writeConfig(dir, {
    ...demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } }),
    services: { acme: { url: server.url } },
    bundles: { jitgate: { service: 'acme', polling: { min_delay_seconds: 0.1, max_delay_seconds: 0.2 }, ...config.bundle } },
    ...config.top,
  });
  const gw = await startGatewayProcess(file, demoEnv(keys));
  t.teardown(() => gw.stop());
  return { gw, file, server };
}

t.test('a gateway keeps its policy in step with a bundle server', async (t) => {
  const dir = tempDir('jg-bundles-');
  const served = { body: await bundle(dir, 'rev-a', true), etag: '"a"' };
  const server = await startReceiver((_url, _index, headers) => {
    if (headers['if-none-match'] === served.etag) return { status: 304 };
    return { status: 200, headers: { 'content-type': 'application/gzip', etag: served.etag }, body: served.body };
  });
  t.teardown(() => server.close());
  // The token in a file (OPA's token_path), as a mounted secret holds it.
  const tokenFile = join(dir, 'bundle-token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const file = writeConfig(dir, {
    ...demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } }),
    services: { acme: { url: `${server.url}/v1`, credentials: { bearer: { token_path: tokenFile } } } },
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
  const revalidated = (): boolean => server.received.slice(1).some((r) => r.headers['if-none-match'] === '"a"' && r.status === 304);
  for (let i = 0; i < 50 && !revalidated(); i++) await sleep(100);
  t.ok(revalidated(), 'later polls send the ETag, and are answered 304');
  writeFileSync(tokenFile, 'rotated-token\n');
  const rotated = (): boolean => server.received.some((r) => r.headers.authorization === 'Bearer rotated-token');
  for (let i = 0; i < 50 && !rotated(); i++) await sleep(100);
  t.ok(rotated(), 'a token rotated in its file is sent from the next poll on, without a restart');

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

t.test('a bundle whose data.json has more after its value is refused, as OPA refuses it', async (t) => {
  const dir = tempDir('jg-bundles-trailing-');
  const served: Served = { body: await bundle(dir, 'rev-a', true), etag: '"a"' };
  const { gw, file } = await gatewayPolling(t, dir, served);
  const alice = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  const read = async (): Promise<string> => {
    const res = await fetch(`${gw.proxyUrl}/api/items`, { headers: { authorization: `Bearer ${alice}` } });
    const body = await res.json() as { error?: { policy_revision?: string } };
    return res.status === 403 ? `403 ${body.error?.policy_revision ?? ''}` : String(res.status);
  };
  t.equal(await read(), '200', 'serving rev-a (reads allowed)');
  // rev-b denies reads; its data.json gets words after its value. `opa eval --bundle` refuses
  // this bundle: "bundle load failed on data.json: invalid character 'a' in literal true".
  const upstreamBefore = upstream.seen.length;
  served.body = tampered(dir, await bundle(dir, 'rev-b', false), 'data.json', (text) => `${text.trimEnd()} trailing garbage\n`);
  served.etag = '"b-trailing"';
  const why = /data\.json is not one JSON value/;
  for (let i = 0; i < 50 && !gw.output.some((l) => why.test(l)); i++) await sleep(100);
  t.ok(gw.output.some((l) => why.test(l)), 'the bundle is refused, and the log says why');
  t.equal(await read(), '200', 'rev-a keeps serving: the bundle did not activate');
  t.equal(upstream.seen.length, upstreamBefore + 1, 'the read reached the upstream under rev-a');
  const audit = await runCli(['audit', 'query', '--kind', 'policy.rejected', '--json', '--config', file]);
  t.match(audit.stdout, /rev-b/, 'the refusal of rev-b is in the audit trail');
});

t.test('an older bundle handed out again is activated, and flagged as a revision that came back', async (t) => {
  const dir = tempDir('jg-bundles-back-');
  const older = await bundle(dir, 'rev-old', true);
  const newer = await bundle(dir, 'rev-new', false);
  const served: Served = { body: older, etag: '"old"' };
  const { gw, file } = await gatewayPolling(t, dir, served);
  const loaded = async (): Promise<{ policy_revision: string; details: { previous: string | null; returned?: boolean } }[]> => {
    const out = await runCli(['audit', 'export', '--kind', 'policy.loaded', '--config', file]);
    return out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { policy_revision: string; details: { previous: string | null; returned?: boolean } });
  };
  const until = async (count: number): Promise<boolean> => {
    for (let i = 0; i < 100 && (await loaded()).length < count; i++) await sleep(100);
    return (await loaded()).length >= count;
  };
  served.body = newer;
  served.etag = '"new"';
  t.ok(await until(2), 'the newer bundle is activated');
  served.body = older;
  served.etag = '"old-again"';
  t.ok(await until(3), 'the older one, handed out again, is activated too (a signature does not say which is the newest)');
  const records = await loaded();
  t.match(records.map((r) => [r.policy_revision, r.details.previous, r.details.returned]), [['rev-old', null, undefined], ['rev-new', 'rev-old', undefined], ['rev-old', 'rev-new', true]], 'its policy.loaded record says the revision came back');
  t.ok(gw.output.some((l) => l.includes('a revision that served before and was replaced is back')), 'and the log warns');
});

t.test('with long polling the server hands over a new bundle the moment it has one', async (t) => {
  const dir = tempDir('jg-bundles-long-');
  const LONG_POLL = 'application/vnd.openpolicyagent.bundles';
  const served = { body: await bundle(dir, 'rev-a', true), etag: '"a"' };
  /** Polls the server holds open, each answered when a new bundle is published (or after its wait). */
  const held: { prefer: string; answer: () => void }[] = [];
  const answer = (ifNoneMatch: unknown): Answer => (ifNoneMatch === served.etag
    ? { status: 304, headers: { 'content-type': LONG_POLL } }
    : { status: 200, headers: { 'content-type': LONG_POLL, etag: served.etag }, body: served.body });
  const server = await startReceiver((_url, _index, headers) => {
    const prefer = String(headers.prefer ?? '');
    const wait = /wait=(\d+)/.exec(prefer);
    if (!wait || headers['if-none-match'] !== served.etag) return answer(headers['if-none-match']);
    return new Promise((resolve) => {
      const entry = { prefer, answer: () => { clearTimeout(timer); resolve(answer(headers['if-none-match'])); } };
      const timer = setTimeout(() => { held.splice(held.indexOf(entry), 1); entry.answer(); }, Number(wait[1]) * 1000);
      held.push(entry);
    });
  });
  t.teardown(() => server.close());
  const file = writeConfig(dir, {
    ...demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } }),
    services: { acme: { url: server.url } },
    // Plain polls a minute apart: only a held poll can bring the new bundle within seconds.
    bundles: { jitgate: { service: 'acme', polling: { min_delay_seconds: 60, max_delay_seconds: 120, long_polling_timeout_seconds: 30 } } },
  });
  const gw = await startGatewayProcess(file, demoEnv(keys));
  let stopped = false;
  t.teardown(async () => { if (!stopped) await gw.stop(); });
  const alice = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  const read = async (): Promise<string> => {
    const res = await fetch(`${gw.proxyUrl}/api/items`, { headers: { authorization: `Bearer ${alice}` } });
    const body = await res.json() as { error?: { policy_revision?: string } };
    return res.status === 403 ? `403 ${body.error?.policy_revision ?? ''}` : String(res.status);
  };
  t.equal(await read(), '200', 'serving the server\'s first bundle');
  for (let i = 0; i < 50 && held.length === 0; i++) await sleep(100);
  t.equal(held[0]?.prefer, 'modes=snapshot;wait=30', 'the next poll asks the server to hold it (whole bundles only)');

  served.body = await bundle(dir, 'rev-b', false);
  served.etag = '"b"';
  for (const poll of held.splice(0)) poll.answer();
  let now = '';
  for (let i = 0; i < 50 && now !== '403 rev-b'; i++) {
    now = await read();
    if (now !== '403 rev-b') await sleep(100);
  }
  t.equal(now, '403 rev-b', 'the new bundle serves as soon as the held poll is answered, not a polling interval later');

  for (let i = 0; i < 50 && held.length === 0; i++) await sleep(100);
  t.equal(held.length, 1, 'and the gateway is waiting on the server again');
  await gw.stop();
  stopped = true;
  t.equal(held.length, 1, 'shutting down does not wait for a held poll to be answered');
  for (const poll of held.splice(0)) poll.answer();
});

/** The sample policies signed by the real `opa build --signing-key`, with strings that Go and JavaScript escape differently in data.json, and numbers JavaScript would print differently. */
async function signedBundle(dir: string, revision: string, privateKeyPem: string): Promise<Buffer> {
  const policies = join(dir, `signed-${revision}`);
  cpSync(join(repoRoot, 'policies'), policies, { recursive: true });
  for (const file of readdirSync(join(policies, 'jitgate'))) if (file.endsWith('_test.rego')) rmSync(join(policies, 'jitgate', file));
  const dataFile = join(policies, 'data.json');
  const data = JSON.parse(readFileSync(dataFile, 'utf8')) as Record<string, Record<string, unknown>>;
  data.jitgate!.note = 'a<b>&c \u2028 \b\f é \\b';
  // Numbers as OPA keeps them (json.Number): hashed as written, not as JavaScript prints them.
  writeFileSync(dataFile, JSON.stringify(data, null, 3).replace('{', '{\n   "numbers": {"price": 1.50, "hundred": 1e2, "zero": -0, "big": 12345678901234567891, "small": 0.1E-2},'));
  const keyFile = join(dir, `${revision}.pem`);
  writeFileSync(keyFile, privateKeyPem);
  const out = join(dir, `${revision}.tar.gz`);
  execFileSync(await requireOpa(), ['build', '-t', 'wasm', '-e', 'jitgate/authz', '-e', 'jitgate/elevation', '--capabilities', join(repoRoot, 'opa', 'capabilities.json'),
    '-b', policies, '--revision', revision, '--signing-key', keyFile, '-o', out]);
  return readFileSync(out);
}

/** The archive with one file's content replaced, repacked (the signature left as it was). */
function tampered(dir: string, archive: Buffer, file: string, edit: (text: string) => string): Buffer {
  const work = join(dir, `tamper-${randomBytes(4).toString('hex')}`);
  mkdirSync(work);
  writeFileSync(join(work, 'in.tar.gz'), archive);
  mkdirSync(join(work, 'x'));
  execFileSync('tar', ['xzf', join(work, 'in.tar.gz'), '-C', join(work, 'x')]);
  const before = readFileSync(join(work, 'x', file), 'utf8');
  const after = edit(before);
  if (after === before) throw new Error(`the edit left ${file} as it was`);
  writeFileSync(join(work, 'x', file), after);
  execFileSync('tar', ['czf', join(work, 'out.tar.gz'), '-C', join(work, 'x'), '.']);
  return readFileSync(join(work, 'out.tar.gz'));
}

t.test('with signing configured only bundles signed with the configured key are activated', async (t) => {
  const dir = tempDir('jg-bundles-signed-');
  const trusted = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = (k: typeof trusted.privateKey, type: 'pkcs8' | 'spki'): string => k.export({ type, format: 'pem' }).toString();
  const good = await signedBundle(dir, 'signed-1', pem(trusted.privateKey, 'pkcs8'));
  const served: Served = { body: good, etag: '"1"' };
  const { gw, file, server } = await gatewayPolling(t, dir, served, {
    bundle: { signing: { keyid: 'release' } },
    top: { keys: { release: { key: pem(trusted.publicKey, 'spki'), algorithm: 'RS256' } } },
  });
  const revision = async (): Promise<string> => /revision (\S+?)"/.exec(await (await fetch(`${gw.controlUrl}/readyz`)).text())?.[1] ?? '';
  t.equal(await revision(), 'signed-1', 'a bundle signed by opa with the configured key is verified and serves');

  const rejectedBefore = async (): Promise<number> => Number(/jitgate_policy_reloads_total\{outcome="failure"\} (\d+)/.exec(await (await fetch(`${gw.controlUrl}/metrics`)).text())?.[1] ?? 0);
  const refused = async (body: Buffer, etag: string, what: string, reason: RegExp): Promise<void> => {
    const before = await rejectedBefore();
    served.body = body;
    served.etag = etag;
    for (let i = 0; i < 50 && (await rejectedBefore()) === before; i++) await sleep(100);
    t.ok((await rejectedBefore()) > before, `${what}: refused`);
    t.equal(await revision(), 'signed-1', `${what}: the verified bundle keeps serving`);
    // The log line travels through the gateway's stdout: it may arrive just after the metric.
    for (let i = 0; i < 30 && !gw.output.some((l) => reason.test(l)); i++) await sleep(100);
    t.ok(gw.output.some((l) => reason.test(l)), `${what}: the log says why`);
  };
  await refused(await signedBundle(dir, 'signed-by-other', pem(other.privateKey, 'pkcs8')), '"other"', 'signed with another key', /signature does not verify/);
  await refused(tampered(dir, good, 'data.json', (text) => text.replace(/"writer":\s*100\b/, '"writer":1000000')), '"tampered"', 'data.json changed after signing', /data\.json does not match its signed hash/);
  await refused(await bundle(dir, 'unsigned', true), '"unsigned"', 'not signed at all', /the bundle is not signed/);
  const audit = await runCli(['audit', 'query', '--kind', 'policy.rejected', '--json', '--config', file]);
  t.match(audit.stdout, /does not match its signed hash/, 'the refusals are in the audit trail, with the reason');

  // A bundle planted where the last good one is kept is held to the same rule.
  await gw.stop();
  await server.close();
  writeFileSync(join(dir, 'bundles', 'jitgate.tar.gz'), await bundle(dir, 'planted', true));
  const restart = await runCli(['serve', '--config', file]);
  t.not(restart.code, 0, 'with the server away and only an unsigned bundle on disk, the gateway does not start');
  t.match(restart.stderr, /the bundle is not signed/, 'and says why');
});

t.test('a signed bundle whose data.json was bloated is refused before that file is read', async (t) => {
  const dir = tempDir('jg-bundles-bloated-');
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const good = await signedBundle(dir, 'signed-3', pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  // 17 MiB of numbers: a few dozen KiB of gzip, millions of values to parse and hash.
  const bloated = tampered(dir, good, 'data.json', () => `{"flags":[${'0,'.repeat(8_912_896)}0]}`);
  t.ok(bloated.length < 1024 * 1024, `a small download (${String(bloated.length)} bytes)`);
  const keys = { release: { key: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(), algorithm: 'RS256' } };
  await checkBundleSignature(good, { keyid: 'release' }, keys);
  t.pass('the bundle as signed verifies');
  await t.rejects(checkBundleSignature(bloated, { keyid: 'release' }, keys), /data\.json is \d+ bytes, over the 16777216 a bundle's data may have: refused unread/, 'the bloated one is refused, unread');
});

t.test('without signing configured a signed bundle is refused, as OPA does', async (t) => {
  const dir = tempDir('jg-bundles-unverified-');
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signed = await signedBundle(dir, 'signed-2', pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const server = await startReceiver(() => ({ status: 200, body: signed }));
  t.teardown(() => server.close());
  const file = writeConfig(dir, {
    ...demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } }),
    services: { acme: { url: server.url } },
    bundles: { jitgate: { service: 'acme' } },
  });
  const out = await runCli(['serve', '--config', file]);
  t.not(out.code, 0, 'with nothing else to serve, the gateway does not start');
  t.match(out.stderr, /the bundle is signed, but no signing is configured to verify it/);
});

t.test('a bundle larger than size_limit_bytes is refused, not read whole', async (t) => {
  const dir = tempDir('jg-bundles-large-');
  const body = await bundle(dir, 'large', true);
  const server = await startReceiver(() => ({ status: 200, body }));
  t.teardown(() => server.close());
  const file = writeConfig(dir, {
    ...demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } }),
    services: { acme: { url: server.url } },
    bundles: { jitgate: { service: 'acme', size_limit_bytes: body.length - 1 } },
  });
  const out = await runCli(['serve', '--config', file]);
  t.not(out.code, 0, 'with nothing else to serve, the gateway does not start');
  t.match(out.stderr, new RegExp(`the bundle is larger than size_limit_bytes \\(${String(body.length - 1)}\\)`));
});

t.test('a bundle server behind mTLS: the gateway trusts its CA, presents its client certificate, and starts on its bundle', async (t) => {
  const dir = tempDir('jg-bundles-mtls-');
  const ca = certAuthority(dir, 'bundles-ca');
  const serverCert = ca.issue('bundles', 'server');
  ca.issue('jitgate-replica', 'client'); // jitgate-replica.pem and .key, named relative to the config below
  const body = await bundle(dir, 'rev-mtls', true);
  const server = await startReceiver(() => ({ status: 200, headers: { 'content-type': 'application/gzip', etag: '"m"' }, body }), { cert: serverCert.cert, key: serverCert.key, ca: ca.cert });
  t.teardown(() => server.close());
  const config = (credentials: Record<string, unknown>) => ({
    ...demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } }),
    services: { acme: { url: server.url, tls: { ca_cert: 'bundles-ca.pem' }, credentials } },
    bundles: { jitgate: { service: 'acme', polling: { min_delay_seconds: 10, max_delay_seconds: 20 } } },
  });
  // Without the client certificate the handshake fails: nothing to serve, no start.
  const refused = await runCli(['serve', '--config', writeConfig(dir, config({}))]);
  t.not(refused.code, 0, 'without its client certificate the gateway gets no bundle and does not start');
  t.equal(server.received.length, 0, 'the server never answered it');
  const file = writeConfig(dir, config({ client_tls: { cert: 'jitgate-replica.pem', private_key: 'jitgate-replica.key' } }));
  const gw = await startGatewayProcess(file, demoEnv(keys));
  t.teardown(() => gw.stop());
  t.match(await (await fetch(`${gw.controlUrl}/readyz`)).text(), /revision rev-mtls/, 'serving the bundle it pulled over mTLS');
  t.same(server.received.map((r) => r.clientCert), ['jitgate-replica'], 'presenting its client certificate');
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

t.test('a bundle URL that carries a signature in its query (a SAS or presigned URL) is fetched with it, and logged without it', async (t) => {
  const dir = tempDir('jg-bundles-sas-');
  const signature = `sas-signature-${randomBytes(8).toString('hex')}`;
  const asked: string[] = [];
  const server = await startReceiver((url) => {
    asked.push(url);
    return { status: 403 };
  });
  t.teardown(() => server.close());
  const file = writeConfig(dir, {
    ...demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } }),
    services: { blobs: { url: server.url } },
    bundles: { jitgate: { service: 'blobs', resource: `jitgate.tar.gz?sv=2024-05-04&sr=b&sig=${signature}` } },
  });
  const out = await runCli(['serve', '--config', file]);
  t.not(out.code, 0, 'the server refuses and nothing else can serve: the gateway does not start');
  t.ok(asked.some((u) => u.includes(`sig=${signature}`)), 'the server was asked with the signature');
  t.match(out.stdout, /"msg":"bundle download failed; the policy serving stays"/, 'the failure is logged');
  t.match(out.stderr, /jitgate\.tar\.gz\?sv=\[REDACTED\]&sr=\[REDACTED\]&sig=\[REDACTED\]: the server answered 403/, 'and the refusal to start names the URL, its query values left out');
  t.notOk(`${out.stdout}${out.stderr}`.includes(signature), 'the signature is in neither the log nor the error');
});
