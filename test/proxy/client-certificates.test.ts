// Callers' certificates on an HTTPS proxy listener (listen.tls.proxy.client_certificates).
// Required: a caller without a certificate from the client CA never gets a request in. Optional:
// the handshake completes either way, and the policy sees only a certificate that verified, so
// a rule asking for a workload identity (a SPIFFE ID) cannot be met without one.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Agent, Client, request } from 'undici';
import { readTls } from '../../src/tls/index.js';
import { certAuthority, selfSigned } from '../helpers/certs.js';
import { identityConfig, policyAllowingIf, SERVICE_KEY, startGateway } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'jg-client-certs-'));
const server = selfSigned(dir, 'gateway');
const clients = certAuthority(dir, 'workload-ca');
const payments = clients.issue('payments', 'client', 'URI:spiffe://prod/ns/payments/sa/api, DNS:payments.internal');
const stranger = certAuthority(join(mkdtempSync(join(tmpdir(), 'jg-other-ca-'))), 'other-ca').issue('payments', 'client', 'URI:spiffe://prod/ns/payments/sa/api');

const workloadOnly = await policyAllowingIf(['some uri in input.request.client_certificate.san_uris', 'startswith(uri, "spiffe://prod/ns/payments/")'], 'only the payments workload');

function agentWith(cert?: { cert: string; key: string }): Agent {
  return new Agent({ connect: { ca: readFileSync(server.cert), ...(cert ? { cert: readFileSync(cert.cert), key: readFileSync(cert.key) } : {}) } });
}

async function get(url: string, token: string, agent: Agent): Promise<string> {
  try {
    const res = await request(`${url}/api/orders`, { headers: { authorization: `Bearer ${token}` }, dispatcher: agent });
    await res.body.dump();
    return String(res.statusCode);
  } catch {
    return 'no answer';
  }
}

t.test('required: only callers with a certificate from the client CA get a request in; the policy sees the verified one', async (t) => {
  const tls = readTls({ cert_file: server.cert, key_file: server.key, client_certificates: { ca_file: clients.cert, required: true } }, 'jitgate.listen.tls.proxy');
  const g = await startGateway({ policy: workloadOnly, tls });
  t.teardown(() => g.close());
  const token = await g.token('alice');
  const agents = [agentWith(payments), agentWith(), agentWith(stranger)];
  t.teardown(() => Promise.all(agents.map((a) => a.close())));
  t.equal(await get(g.url, token, agents[0]!), '200', 'the payments workload\'s certificate');
  t.match(g.decisions.events.at(-1)?.input, {
    request: { client_certificate: { subject_cn: 'payments', san_uris: ['spiffe://prod/ns/payments/sa/api'], san_dns: ['payments.internal'], fingerprint_sha256: payments.fingerprint } },
  }, 'the policy saw the certificate\'s names');
  t.equal(await get(g.url, token, agents[1]!), 'no answer', 'no certificate: the handshake fails');
  t.equal(await get(g.url, token, agents[2]!), 'no answer', 'the same names from another CA: the handshake fails');
  t.equal(g.upstream.seen.length, 1, 'the upstream saw only the first');
});

t.test('optional: callers without a certificate get in, and a rule that asks for one denies them', async (t) => {
  const tls = readTls({ cert_file: server.cert, key_file: server.key, client_certificates: { ca_file: clients.cert, required: false } }, 'jitgate.listen.tls.proxy');
  const g = await startGateway({ policy: workloadOnly, tls });
  t.teardown(() => g.close());
  const token = await g.token('alice');
  const agents = [agentWith(), agentWith(stranger), agentWith(payments)];
  t.teardown(() => Promise.all(agents.map((a) => a.close())));
  t.equal(await get(g.url, token, agents[0]!), '403', 'no certificate: decided, and denied');
  t.equal(await get(g.url, token, agents[1]!), '403', 'a certificate that did not verify is never shown to the policy');
  t.notOk((g.decisions.events.at(-1)?.input as { request: Record<string, unknown> }).request.client_certificate);
  t.equal(await get(g.url, token, agents[2]!), '200', 'a verified one is');
  t.equal(g.upstream.seen.length, 1);
});

t.test('a workload certificate mapped in identity.client_certificates is a credential: its service, alone', async (t) => {
  const tls = readTls({ cert_file: server.cert, key_file: server.key, client_certificates: { ca_file: clients.cert, required: false } }, 'jitgate.listen.tls.proxy');
  const mapped = [{ san_uri: 'spiffe://prod/ns/payments/sa/api', subject: 'svc-payments', groups: ['services'] }];
  const paymentsOnly = await policyAllowingIf(['input.subject.id == "svc-payments"', 'input.subject.kind == "service"', 'input.subject.groups == ["services"]'], 'only the payments service');
  const g = await startGateway({ policy: paymentsOnly, tls, identity: (keyFile) => ({ ...identityConfig(keyFile), client_certificates: mapped }) });
  t.teardown(() => g.close());
  const agents = { payments: agentWith(payments), none: agentWith(), stranger: agentWith(stranger) };
  t.teardown(() => Promise.all(Object.values(agents).map((a) => a.close())));
  const call = async (agent: Agent, headers: Record<string, string> = {}): Promise<{ status: number; code?: string }> => {
    const res = await request(`${g.url}/api/orders`, { headers, dispatcher: agent });
    const body = await res.body.text();
    return { status: res.statusCode, ...(res.statusCode === 200 ? {} : { code: (JSON.parse(body) as { error: { code: string } }).error.code }) };
  };

  t.same(await call(agents.payments), { status: 200 }, 'the mapped certificate, no token: the payments service, allowed');
  t.match(g.decisions.events.at(-1), { jitgate: { subject: 'svc-payments' }, input: { subject: { id: 'svc-payments', kind: 'service' } } });
  t.equal(g.upstream.seen.length, 1);
  t.same(await call(agents.payments, { authorization: `Bearer ${await g.token('alice')}` }), { status: 401, code: 'JITGATE_E_IDENTITY_AMBIGUOUS' }, 'with a token besides: two credentials, refused');
  t.same(await call(agents.payments, { 'x-api-key': SERVICE_KEY }), { status: 401, code: 'JITGATE_E_IDENTITY_AMBIGUOUS' }, 'with an API key besides: refused');
  t.same(await call(agents.stranger), { status: 401, code: 'JITGATE_E_UNAUTHENTICATED' }, 'the same SPIFFE ID from another CA is no credential');
  t.same(await call(agents.none), { status: 401, code: 'JITGATE_E_UNAUTHENTICATED' }, 'no certificate, no token');
  t.equal(g.upstream.seen.length, 1, 'the upstream saw only the first');
});

t.test('a certificate whose names map to two different services is refused as ambiguous', async (t) => {
  const tls = readTls({ cert_file: server.cert, key_file: server.key, client_certificates: { ca_file: clients.cert, required: true } }, 'jitgate.listen.tls.proxy');
  const mapped = [
    { san_uri: 'spiffe://prod/ns/payments/sa/api', subject: 'svc-payments', groups: ['services'] },
    { san_dns: 'payments.internal', subject: 'svc-ledger', groups: ['services', 'ledger'] },
  ];
  const g = await startGateway({ tls, identity: (keyFile) => ({ ...identityConfig(keyFile), client_certificates: mapped }) });
  t.teardown(() => g.close());
  const agent = agentWith(payments);
  t.teardown(() => agent.close());
  const res = await request(`${g.url}/api/orders`, { dispatcher: agent });
  t.equal(res.statusCode, 401);
  t.match(await res.body.text(), /JITGATE_E_IDENTITY_AMBIGUOUS/);
  t.equal(g.upstream.seen.length, 0, 'nothing reached the upstream');
});

t.test('a workload certificate its CA revoked (listen.tls.proxy.client_certificates.crl_file) is neither a credential nor shown', async (t) => {
  const ca = certAuthority(mkdtempSync(join(tmpdir(), 'jg-crl-')), 'revoking-ca');
  const kept = ca.issue('orders', 'client', 'URI:spiffe://prod/ns/orders/sa/api');
  const revoked = ca.issue('payments', 'client', 'URI:spiffe://prod/ns/payments/sa/api');
  const crl = ca.revoke(revoked);
  const mapped = [
    { san_uri: 'spiffe://prod/ns/orders/sa/api', subject: 'svc-orders', groups: ['services'] },
    { san_uri: 'spiffe://prod/ns/payments/sa/api', subject: 'svc-payments', groups: ['services'] },
  ];
  const services = await policyAllowingIf(['input.subject.kind == "service"'], 'services only');
  for (const required of [false, true]) {
    const tls = readTls({ cert_file: server.cert, key_file: server.key, client_certificates: { ca_file: ca.cert, required, crl_file: crl } }, 'jitgate.listen.tls.proxy');
    const g = await startGateway({ policy: services, tls, identity: (keyFile) => ({ ...identityConfig(keyFile), client_certificates: mapped }) });
    t.teardown(() => g.close());
    const agents = [agentWith(kept), agentWith(revoked)];
    t.teardown(() => Promise.all(agents.map((a) => a.close())));
    const status = async (agent: Agent): Promise<string> => {
      try {
        const res = await request(`${g.url}/api/orders`, { dispatcher: agent });
        await res.body.dump();
        return String(res.statusCode);
      } catch {
        return 'no answer';
      }
    };
    t.equal(await status(agents[0]!), '200', `${required ? 'required' : 'optional'}: a certificate the list does not name is its service`);
    t.equal(await status(agents[1]!), required ? 'no answer' : '401', required ? 'the revoked one fails the handshake' : 'the revoked one is no credential');
    t.equal(g.upstream.seen.length, 1, 'the upstream saw only the first');
  }
  t.throws(() => readTls({ cert_file: server.cert, key_file: server.key, client_certificates: { ca_file: ca.cert, required: true, crl_file: server.key } }, 'jitgate.listen.tls.proxy'),
    /jitgate\.listen\.tls\.proxy: .*revocation list .*gateway\.key/, 'a list that is no CRL stops the start, naming the file');
});

t.test('a revocation list read on reload ends the open connections (and the streams on them) of the certificates it names; the others stay open', async (t) => {
  const ca = certAuthority(mkdtempSync(join(tmpdir(), 'jg-crl-reload-')), 'reloading-ca');
  const kept = ca.issue('orders', 'client', 'URI:spiffe://prod/ns/orders/sa/api');
  const revoked = ca.issue('payments', 'client', 'URI:spiffe://prod/ns/payments/sa/api');
  const mapped = [
    { san_uri: 'spiffe://prod/ns/orders/sa/api', subject: 'svc-orders', groups: ['services'] },
    { san_uri: 'spiffe://prod/ns/payments/sa/api', subject: 'svc-payments', groups: ['services'] },
  ];
  const at = 'jitgate.listen.tls.proxy';
  const files = { cert_file: server.cert, key_file: server.key };
  const services = await policyAllowingIf(['input.subject.kind == "service"'], 'services only');
  const g = await startGateway({
    policy: services, tls: readTls({ ...files, client_certificates: { ca_file: ca.cert, required: true } }, at),
    identity: (keyFile) => ({ ...identityConfig(keyFile), client_certificates: mapped }),
    // These count the times the gateway closed one kept-alive connection, which sits idle for
    // seconds between its requests: idle closing (keep_alive_ms, 5 s) must not be one of them.
    timeouts: { keep_alive_ms: 60_000 },
  });
  t.teardown(() => g.close());
  // One keep-alive connection each: `disconnects` counts the times the gateway closed it.
  const connection = (cert: { cert: string; key: string }) => {
    const client = new Client(g.url, { connect: { ca: readFileSync(server.cert), cert: readFileSync(cert.cert), key: readFileSync(cert.key) } });
    const c = { client, disconnects: 0 };
    client.on('disconnect', () => { c.disconnects++; });
    t.teardown(() => client.destroy());
    return c;
  };
  const status = async (c: { client: Client }): Promise<string> => {
    try {
      const res = await c.client.request({ path: '/api/orders', method: 'GET' });
      await res.body.dump();
      return String(res.statusCode);
    } catch {
      return 'no answer';
    }
  };
  const a = connection(kept);
  const b = connection(revoked);
  const streaming = connection(revoked);
  t.equal(await status(a), '200');
  t.equal(await status(b), '200', 'before its revocation the certificate serves');
  const stream = await streaming.client.request({ path: '/api/orders/__drip?every=200', method: 'GET' });
  t.equal(stream.statusCode, 200, 'and holds an event stream open');
  const streamed = stream.body.text().then(() => 'ended', () => 'cut');

  const ended = g.proxy.useTls(readTls({ ...files, client_certificates: { ca_file: ca.cert, required: true, crl_file: ca.revoke(revoked) } }, at));
  t.equal(ended, 2, 'the reload ends the two connections of the revoked certificate');
  t.equal(await streamed, 'cut', 'its event stream is cut, not ended as if complete');
  for (let i = 0; i < 50 && b.disconnects === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(b.disconnects, 1, 'its idle keep-alive connection is closed');
  t.equal(await status(a), '200', 'the other certificate\'s connection serves on');
  t.equal(a.disconnects, 0, 'the same connection, never closed');
  t.equal(await status(b), 'no answer', 'a new connection with the revoked certificate fails its handshake');
  t.equal(g.upstream.seen.filter((s) => !s.url.includes('__drip')).length, 3, 'the upstream saw only the requests made before the revocation, and the kept one after');
});

t.test('an intermediate CA revoked by its root ends the open connections of every certificate under it; the root\'s own stay open', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-crl-chain-'));
  const root = certAuthority(dir, 'root-ca');
  const team = root.intermediate('team-ca');
  const direct = root.issue('orders', 'client', 'URI:spiffe://prod/ns/orders/sa/api');
  const underTeam = team.issue('payments', 'client', 'URI:spiffe://prod/ns/payments/sa/api');
  // The client presents its chain: its certificate, then the intermediate's.
  const chain = join(dir, 'payments-chain.pem');
  writeFileSync(chain, readFileSync(underTeam.cert, 'utf8') + readFileSync(team.cert, 'utf8'));
  const mapped = [
    { san_uri: 'spiffe://prod/ns/orders/sa/api', subject: 'svc-orders', groups: ['services'] },
    { san_uri: 'spiffe://prod/ns/payments/sa/api', subject: 'svc-payments', groups: ['services'] },
  ];
  // Every CA in a chain needs its issuer's list (OpenSSL checks the whole chain at each handshake).
  const lists = (): string => {
    const file = join(dir, 'crls.pem');
    writeFileSync(file, readFileSync(root.crl(), 'utf8') + readFileSync(team.crl(), 'utf8'));
    return file;
  };
  const at = 'jitgate.listen.tls.proxy';
  const files = { cert_file: server.cert, key_file: server.key };
  const g = await startGateway({
    policy: await policyAllowingIf(['input.subject.kind == "service"'], 'services only'),
    tls: readTls({ ...files, client_certificates: { ca_file: root.cert, required: true, crl_file: lists() } }, at),
    identity: (keyFile) => ({ ...identityConfig(keyFile), client_certificates: mapped }),
  });
  t.teardown(() => g.close());
  const orders = certificateCaller(t, g.url, direct);
  const payments = certificateCaller(t, g.url, { cert: chain, key: underTeam.key });
  t.equal(await orders.status(), '200');
  t.equal(await payments.status(), '200', 'a certificate under the intermediate serves while the intermediate stands');

  root.revoke(team);
  const ended = g.proxy.useTls(readTls({ ...files, client_certificates: { ca_file: root.cert, required: true, crl_file: lists() } }, at));
  t.equal(ended, 1, 'the reload ends the connection whose chain runs through the revoked intermediate');
  t.equal(await orders.status(), '200', 'the root\'s own certificate serves on');
  t.equal(await certificateCaller(t, g.url, { cert: chain, key: underTeam.key }).status(), 'no answer', 'a new connection under the revoked intermediate fails its handshake');
  const seen = g.upstream.seen.length;
  t.equal(await payments.status(), 'no answer', 'and the old connection is gone, not reused');
  t.equal(g.upstream.seen.length, seen, 'the upstream saw nothing more of it');
});

/** A caller on one keep-alive connection with `certificate`: each request's status ('no answer' when it fails), and how often the gateway closed the connection. */
function certificateCaller(t: Test, url: string, certificate: { cert: string; key: string }): { status: () => Promise<string>; disconnects: () => number } {
  const client = new Client(url, { connect: { ca: readFileSync(server.cert), cert: readFileSync(certificate.cert), key: readFileSync(certificate.key) } });
  t.teardown(() => client.destroy());
  let closed = 0;
  client.on('disconnect', () => { closed++; });
  return {
    status: async () => {
      try {
        const res = await client.request({ path: '/api/orders', method: 'GET' });
        await res.body.dump();
        return String(res.statusCode);
      } catch {
        return 'no answer';
      }
    },
    disconnects: () => closed,
  };
}

t.test('a workload certificate that expires ends its open connections (and the streams on them): it is no credential past its notAfter', async (t) => {
  const ca = certAuthority(mkdtempSync(join(tmpdir(), 'jg-expiry-')), 'expiring-ca');
  // The first request, the stream and the checks before expiry fit well within these seconds
  // (whole ones: a certificate's times have no fractions).
  const notAfter = new Date(Math.floor((Date.now() + 4_000) / 1000) * 1000);
  const shortLived = ca.issueUntil('payments', notAfter, 'URI:spiffe://prod/ns/payments/sa/api');
  const mapped = [{ san_uri: 'spiffe://prod/ns/payments/sa/api', subject: 'svc-payments', groups: ['services'] }];
  const g = await startGateway({
    policy: await policyAllowingIf(['input.subject.kind == "service"'], 'services only'),
    tls: readTls({ cert_file: server.cert, key_file: server.key, client_certificates: { ca_file: ca.cert, required: true } }, 'jitgate.listen.tls.proxy'),
    identity: (keyFile) => ({ ...identityConfig(keyFile), client_certificates: mapped }),
    // These count the times the gateway closed one kept-alive connection, which sits idle for
    // seconds between its requests: idle closing (keep_alive_ms, 5 s) must not be one of them.
    timeouts: { keep_alive_ms: 60_000 },
  });
  t.teardown(() => g.close());
  const { status, disconnects } = certificateCaller(t, g.url, shortLived);
  t.equal(await status(), '200', 'while valid, the certificate is its service');
  const streamer = new Client(g.url, { connect: { ca: readFileSync(server.cert), cert: readFileSync(shortLived.cert), key: readFileSync(shortLived.key) } });
  t.teardown(() => streamer.destroy());
  const stream = await streamer.request({ path: '/api/orders/__drip?every=200', method: 'GET' });
  t.equal(stream.statusCode, 200, 'and holds an event stream open');
  const streamed = stream.body.text().then(() => 'ended', () => 'cut');
  // A request every half second keeps the connection from ever being idle.
  while (Date.now() < notAfter.getTime() - 500) {
    t.equal(await status(), '200');
    await new Promise((r) => setTimeout(r, 500));
  }
  t.equal(disconnects(), 0, 'one connection until then');
  await new Promise((r) => setTimeout(r, notAfter.getTime() + 300 - Date.now()));
  t.equal(await streamed, 'cut', 'past notAfter its stream is cut');
  t.equal(disconnects(), 1, 'and its keep-alive connection is closed');
  const before = g.upstream.seen.length;
  t.equal(await status(), 'no answer', 'a new connection with the expired certificate fails its handshake');
  t.equal(g.upstream.seen.length, before, 'nothing more reached the upstream');
});

t.test('a revocation list past its next update ends the connections it vouched for; a fresh one read on reload keeps them', async (t) => {
  const ca = certAuthority(mkdtempSync(join(tmpdir(), 'jg-crl-stale-')), 'publishing-ca');
  const workload = ca.issue('payments', 'client', 'URI:spiffe://prod/ns/payments/sa/api');
  const mapped = [{ san_uri: 'spiffe://prod/ns/payments/sa/api', subject: 'svc-payments', groups: ['services'] }];
  const at = 'jitgate.listen.tls.proxy';
  const files = (crl: string) => ({ cert_file: server.cert, key_file: server.key, client_certificates: { ca_file: ca.cert, required: true, crl_file: crl } });
  const startedMs = Date.now();
  const g = await startGateway({
    policy: await policyAllowingIf(['input.subject.kind == "service"'], 'services only'),
    tls: readTls(files(ca.crl(3)), at),
    identity: (keyFile) => ({ ...identityConfig(keyFile), client_certificates: mapped }),
    // These count the times the gateway closed one kept-alive connection, which sits idle for
    // seconds between its requests: idle closing (keep_alive_ms, 5 s) must not be one of them.
    timeouts: { keep_alive_ms: 60_000 },
  });
  t.teardown(() => g.close());
  const { status, disconnects } = certificateCaller(t, g.url, workload);
  const until = (ms: number) => new Promise((r) => setTimeout(r, startedMs + ms - Date.now()));
  t.equal(await status(), '200', 'the list vouches for the certificate');
  // Published again before the first one's next update, valid a while longer.
  const freshUntilMs = Date.now() + 6_000;
  t.equal(g.proxy.useTls(readTls(files(ca.crl(6)), at)), 0, 'a fresh list ends nothing');
  await until(3_500);
  t.equal(await status(), '200', 'past the first list\'s next update, the fresh one vouches for it');
  t.equal(disconnects(), 0, 'on the same connection');
  await new Promise((r) => setTimeout(r, freshUntilMs + 500 - Date.now()));
  t.equal(disconnects(), 1, 'past the fresh list\'s next update, the connection is ended');
  const before = g.upstream.seen.length;
  t.equal(await status(), 'no answer', 'and a new one fails its handshake: closed, not open');
  t.equal(g.upstream.seen.length, before, 'nothing more reached the upstream');
});
