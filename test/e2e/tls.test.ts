// HTTPS on the gateway's own listeners: the data path and the control API serve the configured
// certificate, tell the upstream the caller came over https, refuse plain HTTP on the TLS port,
// and take a certificate renewed in place, or named anew, on SIGHUP. A pair that cannot be used
// stops the start, and on reload leaves the served certificate as it was; turning TLS off needs a
// restart.
import { randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { Agent, Client, request } from 'undici';
import { parse } from 'yaml';
import { startDemoUpstream } from '../../src/demo/index.js';
import { certAuthority, selfSigned } from '../helpers/certs.js';
import { repoRoot, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';

/** The fingerprint of the certificate a new TLS connection to `url` is served. */
function servedFingerprint(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      const fp = sock.getPeerCertificate().fingerprint256;
      sock.end();
      resolve(fp);
    });
    sock.on('error', reject);
  });
}

t.test('HTTPS listeners: served, forwarded as https, plain HTTP refused, certificates renewed on SIGHUP', async (t) => {
  const dir = tempDir('jg-tls-');
  const a = selfSigned(dir, 'a');
  const b = selfSigned(dir, 'b');
  // The files the config names (relative to it); renewing means overwriting them.
  copyFileSync(a.cert, join(dir, 'served.pem'));
  copyFileSync(a.key, join(dir, 'served.key'));
  const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
  t.teardown(() => upstream.close());
  const doc = (tls: Record<string, unknown>) => ({
    jitgate: {
      data_dir: dir,
      listen: { proxy: '127.0.0.1:0', control: '127.0.0.1:0', tls },
      policy: { dir: join(repoRoot, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false },
      store: { type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } },
      identity: { dev_issuer: { enabled: true, key_file: join(dir, 'dev.jwk.json'), subjects: { alice: ['eng'] } } },
      routes: [{
        name: 'demo',
        upstream: upstream.url,
        credentials: { readonly: { type: 'header', header: 'X-Api-Key', from_env: 'READ_KEY' } },
        default_credential: 'readonly',
      }],
    },
  });
  const served = { cert_file: 'served.pem', key_file: 'served.key' };
  const file = writeConfig(dir, doc({ proxy: served, control: served }));
  const gw = await startGatewayProcess(file, { READ_KEY: keys.readonly });
  t.teardown(() => gw.stop());
  t.match(gw.proxyUrl, /^https:\/\//, 'the listening line says https');
  t.match(gw.controlUrl, /^https:\/\//);

  const trusting = new Agent({ connect: { ca: readFileSync(a.cert) } });
  t.teardown(() => trusting.close());
  const token = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  const res = await request(`${gw.proxyUrl}/api/items`, { headers: { authorization: `Bearer ${token}` }, dispatcher: trusting });
  await res.body.dump();
  t.equal(res.statusCode, 200, 'a request over https is decided and forwarded');
  const seen = upstream.seen.at(-1);
  t.equal(seen?.headers['x-forwarded-proto'], 'https', 'the upstream is told the caller came over https');
  t.match(String(seen?.headers.forwarded), /;proto=https$/);

  const before = upstream.seen.length;
  await t.rejects(fetch(`${gw.proxyUrl.replace('https:', 'http:')}/api/items`, { headers: { authorization: `Bearer ${token}` } }), 'plain HTTP on the TLS port gets no answer');
  t.equal(upstream.seen.length, before, 'and reaches nothing');

  const whoami = await runCli(['whoami', '--url', gw.controlUrl, '--json'], { JITGATE_TOKEN: token, NODE_EXTRA_CA_CERTS: a.cert });
  t.equal(whoami.code, 0, `the CLI reaches the control API over https (${whoami.stderr.trim()})`);
  t.match(JSON.parse(whoami.stdout) as unknown, { id: 'alice' });

  t.equal(await servedFingerprint(gw.proxyUrl), a.fingerprint);
  const waitForServed = async (url: string, fingerprint: string): Promise<boolean> => {
    for (let i = 0; i < 50; i++) {
      if (await servedFingerprint(url) === fingerprint) return true;
      await sleep(100);
    }
    return false;
  };
  // Renewed in place, then SIGHUP: new connections get the new certificate, on both listeners.
  copyFileSync(b.cert, join(dir, 'served.pem'));
  copyFileSync(b.key, join(dir, 'served.key'));
  gw.proc.kill('SIGHUP');
  t.ok(await waitForServed(gw.proxyUrl, b.fingerprint), 'the proxy serves the renewed certificate');
  t.ok(await waitForServed(gw.controlUrl, b.fingerprint), 'so does the control API');

  // A key that does not belong to the certificate: the reload is refused, the served pair stays.
  copyFileSync(a.cert, join(dir, 'served.pem'));
  const refusals = (): number => gw.output.filter((l) => l.includes('configuration reload refused')).length;
  gw.proc.kill('SIGHUP');
  for (let i = 0; i < 50 && refusals() === 0; i++) await sleep(100);
  t.equal(refusals(), 1, 'the reload is refused');
  t.match(gw.output.find((l) => l.includes('configuration reload refused')), /jitgate\.listen\.tls\.proxy: .*served\.pem and .*served\.key are not a usable certificate and key/, 'naming the files');
  t.equal(await servedFingerprint(gw.proxyUrl), b.fingerprint, 'the proxy keeps serving the last good certificate');
  t.equal(await servedFingerprint(gw.controlUrl), b.fingerprint);

  // Other files named in the config: read on SIGHUP, as a renewal in place is.
  copyFileSync(b.cert, join(dir, 'served.pem'));
  const c = selfSigned(dir, 'c');
  writeConfig(dir, doc({ proxy: { cert_file: 'c.pem', key_file: 'c.key' }, control: served }));
  gw.proc.kill('SIGHUP');
  t.ok(await waitForServed(gw.proxyUrl, c.fingerprint), 'the proxy serves the certificate from the newly named files');
  t.equal(await servedFingerprint(gw.controlUrl), b.fingerprint, 'the control API, its files unchanged, keeps its own');

  // Turning TLS off on a listener, or client certificates on, needs a restart: refused whole.
  const ca = certAuthority(dir, 'clients');
  for (const [change, listeners] of [['TLS off', { proxy: { cert_file: 'c.pem', key_file: 'c.key' } }], ['client certificates on', { proxy: { cert_file: 'c.pem', key_file: 'c.key', client_certificates: { ca_file: ca.cert } }, control: served }]] as const) {
    const before = refusals();
    writeConfig(dir, doc(listeners));
    gw.proc.kill('SIGHUP');
    for (let i = 0; i < 50 && refusals() === before; i++) await sleep(100);
    t.equal(refusals(), before + 1, `${change}: the reload is refused`);
    t.match(gw.output.filter((l) => l.includes('configuration reload refused')).at(-1), /need a restart: jitgate\.listen\.tls/, 'naming what needs the restart');
  }
  t.equal(await servedFingerprint(gw.controlUrl), b.fingerprint, 'the control API still serves TLS');
});

t.test('a certificate that cannot be read stops the start, naming the key and the file', async (t) => {
  const dir = tempDir('jg-tls-missing-');
  const file = writeConfig(dir, {
    jitgate: {
      data_dir: dir,
      listen: { proxy: '127.0.0.1:0', control: '127.0.0.1:0', tls: { proxy: { cert_file: 'nowhere.pem', key_file: 'nowhere.key' } } },
      policy: { dir: join(repoRoot, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false },
      store: { type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } },
      routes: [],
    },
  });
  await t.rejects(startGatewayProcess(file), /jitgate\.listen\.tls\.proxy\.cert_file: cannot read .*nowhere\.pem/);
});

t.test('a key given where its path belongs is not quoted: neither the log nor the audit trail holds it', async (t) => {
  const dir = tempDir('jg-tls-inline-key-');
  const pair = selfSigned(dir, 'pair');
  const pem = readFileSync(pair.key, 'utf8');
  const body = pem.split('\n')[1] ?? '';
  const doc = (keyFile: string) => ({
    jitgate: {
      data_dir: dir,
      listen: { proxy: '127.0.0.1:0', control: '127.0.0.1:0', tls: { proxy: { cert_file: 'pair.pem', key_file: keyFile } } },
      policy: { dir: join(repoRoot, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false },
      store: { type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } },
      routes: [],
    },
  });
  // The mistake: the variable holding the key (as a mounted secret often is), not its file.
  const env = { TLS_KEY: pem };
  const file = writeConfig(dir, doc('pair.key'));
  const gw = await startGatewayProcess(file, env);
  t.teardown(() => gw.stop());
  writeConfig(dir, doc('${TLS_KEY}'));
  gw.proc.kill('SIGHUP');
  const refused = (): string | undefined => gw.output.find((l) => l.includes('configuration reload refused'));
  for (let i = 0; i < 50 && refused() === undefined; i++) await sleep(100);
  t.match(refused(), /jitgate\.listen\.tls\.proxy\.key_file: cannot read \(not a file path but \d+ characters of text/, 'refused, naming the key and what its value looks like');
  t.same(gw.output.filter((l) => l.includes(body)), [], 'no log line holds the key');
  const trail = await runCli(['audit', 'export', '--config', file], env);
  t.match(trail.stdout, /config\.rejected.*jitgate\.listen\.tls\.proxy\.key_file/, 'the trail records the refusal');
  t.notOk(trail.stdout.includes(body), 'without the key');
  await gw.stop();
  // Its base64 on one line (as some secret stores hand it out) is no path either.
  const base64 = Buffer.from(pem).toString('base64');
  const start = await startGatewayProcess(file, { TLS_KEY: base64 }).then(() => 'started', (err: unknown) => String(err));
  t.match(start, /key_file: cannot read \(not a file path/, 'a start with it is refused the same way');
  t.notOk(start.includes(base64.slice(40, 100)), 'without the key');
});

t.test('a control address that requires client certificates answers only the holders of one from its CA; a mapped one is a credential', async (t) => {
  const dir = tempDir('jg-tls-control-');
  const server = selfSigned(dir, 'control');
  const approvers = certAuthority(dir, 'approvers-ca');
  const laptop = approvers.issue('bob-laptop', 'client');
  const ci = approvers.issue('ci-runner', 'client', 'DNS:ci.internal');
  const stranger = certAuthority(tempDir('jg-tls-stranger-'), 'stranger-ca').issue('bob-laptop', 'client');
  const file = writeConfig(dir, {
    jitgate: {
      data_dir: dir,
      listen: {
        proxy: '127.0.0.1:0', control: '127.0.0.1:0',
        tls: { control: { cert_file: 'control.pem', key_file: 'control.key', client_certificates: { ca_file: 'approvers-ca.pem' } } },
        // The revocation below must end the connection the CI runner holds, not the idle close (5 s).
        client_timeouts: { keep_alive_ms: 60_000 },
      },
      policy: { dir: join(repoRoot, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false },
      store: { type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } },
      identity: { client_certificates: [{ san_dns: 'ci.internal', subject: 'svc-ci', groups: ['services'] }] },
      routes: [],
    },
  });
  const gw = await startGatewayProcess(file);
  t.teardown(() => gw.stop());
  const health = async (client?: { cert: string; key: string }, path = '/healthz'): Promise<string> => {
    const agent = new Agent({ connect: { ca: readFileSync(server.cert), ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}) } });
    try {
      const res = await request(`${gw.controlUrl}${path}`, { dispatcher: agent });
      const body = await res.body.text();
      return res.statusCode === 200 && path !== '/healthz' ? body : String(res.statusCode);
    } catch {
      return 'no answer';
    } finally {
      await agent.close();
    }
  };
  t.equal(await health(laptop), '200', 'a certificate from the approvers\' CA');
  t.equal(await health(), 'no answer', 'no certificate: the handshake fails');
  t.equal(await health(stranger), 'no answer', 'the same name from another CA: the handshake fails');
  t.match(JSON.parse(await health(ci, '/v1/whoami')) as unknown, { id: 'svc-ci', kind: 'service', groups: ['services'] }, 'the mapped certificate, no token: the CI service');
  t.equal(await health(laptop, '/v1/whoami'), '401', 'an unmapped one is no credential');

  // The CI runner's certificate is revoked while it holds a connection open.
  const held = new Client(gw.controlUrl, { connect: { ca: readFileSync(server.cert), cert: readFileSync(ci.cert), key: readFileSync(ci.key) } });
  t.teardown(() => held.destroy());
  let disconnects = 0;
  held.on('disconnect', () => { disconnects++; });
  const whoami = await held.request({ path: '/v1/whoami', method: 'GET' });
  t.equal(whoami.statusCode, 200);
  await whoami.body.dump();
  const crl = approvers.revoke(ci);
  const config = parse(readFileSync(file, 'utf8')) as { jitgate: { listen: { tls: { control: { client_certificates: Record<string, unknown> } } } } };
  config.jitgate.listen.tls.control.client_certificates.crl_file = crl;
  writeConfig(dir, config);
  gw.proc.kill('SIGHUP');
  const reloaded = (): boolean => gw.output.some((l) => l.includes('configuration reloaded') && l.includes('"revoked_connections_ended":1'));
  for (let i = 0; i < 50 && !reloaded(); i++) await sleep(100);
  t.ok(reloaded(), 'the reload reports one connection ended');
  for (let i = 0; i < 50 && disconnects === 0; i++) await sleep(20);
  t.equal(disconnects, 1, 'the revoked certificate\'s open connection is closed, without a restart');
  t.equal(await health(ci, '/v1/whoami'), 'no answer', 'and it gets no new one');
  t.equal(await health(laptop), '200', 'the laptop\'s certificate still serves');
});
