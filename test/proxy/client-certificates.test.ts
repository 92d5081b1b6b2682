// Callers' certificates on an HTTPS proxy listener (listen.tls.proxy.client_certificates).
// Required: a caller without a certificate from the client CA never gets a request in. Optional:
// the handshake completes either way, and the policy sees only a certificate that verified, so
// a rule asking for a workload identity (a SPIFFE ID) cannot be met without one.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Agent, request } from 'undici';
import { readTls } from '../../src/tls/index.js';
import { certAuthority, selfSigned } from '../helpers/certs.js';
import { policyAllowingIf, startGateway } from './fixtures.js';

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
