// Calls to OPA services (bundle server, decision-log service, checkpoint witness) carry the
// service's bearer credential, or present its client certificate and trust its CA; what is kept
// in files is read on every call, and a call is never made without it.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { serviceDispatcher, serviceHeaders, type ServiceConfig } from '../../src/audit/index.js';
import { certAuthority } from '../helpers/certs.js';
import { startReceiver } from '../helpers/receiver.js';

t.test('a bearer token from a file is read on every call; an empty or missing file stops the call', (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'jg-service-')), 'token');
  const service = { url: 'https://svc.example', headers: { 'x-tenant': 't1' }, credentials: { bearer: { token_path: file, scheme: 'Token' } } };
  writeFileSync(file, 'first\n');
  t.same(serviceHeaders(service), { 'x-tenant': 't1', authorization: 'Token first' });
  writeFileSync(file, 'second\n');
  t.equal(serviceHeaders(service).authorization, 'Token second', 'a rotated token is used from the next call');
  writeFileSync(file, '\n');
  t.throws(() => serviceHeaders(service), /is empty/, 'an empty token file is not sent as an empty credential');
  t.throws(() => serviceHeaders({ ...service, credentials: { bearer: { token_path: join(file, 'missing') } } }), /ENOENT|ENOTDIR/, 'nor is a missing one skipped');
  t.end();
});

t.test('client_tls and tls.ca_cert: the service\'s CA trusted, its client certificate presented, renewed files used from the next call', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-service-tls-'));
  const ca = certAuthority(dir, 'services-ca');
  const server = ca.issue('bundles-server', 'server');
  const first = ca.issue('jitgate-replica', 'client');
  const renewed = ca.issue('jitgate-replica-renewed', 'client');
  const receiver = await startReceiver(() => 200, { cert: server.cert, key: server.key, ca: ca.cert });
  t.teardown(() => receiver.close());
  // The files the config names; renewing is overwriting them.
  const cert = join(dir, 'client.pem');
  const key = join(dir, 'client.key');
  copyFileSync(first.cert, cert);
  copyFileSync(first.key, key);
  const call = async (service: ServiceConfig): Promise<string> => {
    try {
      const dispatcher = serviceDispatcher(service);
      const res = await request(`${receiver.url}/bundles/jitgate`, dispatcher ? { dispatcher } : {});
      await res.body.dump();
      return String(res.statusCode);
    } catch (err) {
      return `failed: ${(err as Error).message}`;
    }
  };
  const mtls: ServiceConfig = { url: receiver.url, tls: { ca_cert: ca.cert }, credentials: { client_tls: { cert, private_key: key } } };
  t.equal(await call(mtls), '200');
  t.equal(receiver.received.at(-1)?.clientCert, 'jitgate-replica', 'the server saw the client certificate');
  copyFileSync(renewed.cert, cert);
  copyFileSync(renewed.key, key);
  t.equal(await call(mtls), '200');
  t.equal(receiver.received.at(-1)?.clientCert, 'jitgate-replica-renewed', 'a renewed certificate is presented from the next call');
  t.equal(await call({ ...mtls, tls: { ca_cert: ca.cert, system_ca_required: true } }), '200', 'the system roots beside the CA');

  const before = receiver.received.length;
  t.match(await call({ url: receiver.url, tls: { ca_cert: ca.cert } }), /^failed/, 'no client certificate: the server refuses the handshake');
  t.match(await call({ url: receiver.url, credentials: { client_tls: { cert, private_key: key } } }), /^failed/, 'without the CA the server is not trusted');
  t.match(await call({ ...mtls, credentials: { client_tls: { cert: join(dir, 'gone.pem'), private_key: key } } }), /^failed: the client certificate \(credentials\.client_tls\.cert\) .*gone\.pem cannot be read/, 'a missing file stops the call');
  t.equal(receiver.received.length, before, 'none of those reached the server');
  t.equal(serviceDispatcher({ url: receiver.url }), undefined, 'a service without TLS settings goes through the default dispatcher');
});
