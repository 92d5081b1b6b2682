// Client certificates on open connections: a reload that revokes an intermediate reaches clients
// that sent only their own certificate, one that takes a CA out ends what it let in, and a client
// cannot renegotiate to present another certificate than the one its connection was checked with.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import t from 'tap';
import { certAuthority, reencodedAuthority, selfSigned } from '../helpers/certs.js';
import { clientCertificate, listenerFastify, readTls, useTls, type TlsFiles } from '../../src/tls/index.js';

const dir = mkdtempSync(join(tmpdir(), 'jg-tls-open-'));
const server = selfSigned(dir, 'srv');

async function listener(files: TlsFiles) {
  const app = listenerFastify({ logger: false }, readTls(files, 't'));
  app.get('/who', (req, reply) => { void reply.send(clientCertificate(req.raw.socket)?.subject_cn ?? 'none'); });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, port: (app.server.address() as { port: number }).port };
}

/** One keep-alive connection; ask() sends GET /who and gives the body, or 'closed'. */
async function keepAlive(port: number, certs: Buffer[], key: Buffer) {
  const sock = await new Promise<TLSSocket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca: readFileSync(server.cert), cert: Buffer.concat(certs), key }, () => { resolve(s); });
    s.once('error', reject);
  });
  let closed = false;
  sock.on('close', () => { closed = true; });
  sock.on('error', () => undefined);
  const ask = () => new Promise<string>((resolve) => {
    if (closed) { resolve('closed'); return; }
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const i = buf.indexOf('\r\n\r\n');
      const m = /content-length: (\d+)/i.exec(buf);
      if (i >= 0 && m && buf.length >= i + 4 + Number(m[1])) { sock.off('data', onData); resolve(buf.slice(i + 4)); }
    };
    sock.on('data', onData);
    sock.once('close', () => { resolve('closed'); });
    sock.write('GET /who HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  return { ask, close: () => sock.destroy() };
}

const settle = () => new Promise((r) => setTimeout(r, 200));

t.test('revoking an intermediate at the root ends connections under it also when the client sent only its leaf', async (t) => {
  const root = certAuthority(dir, 'root-ca');
  const inter = root.intermediate('inter-ca');
  const leafOnly = inter.issue('leaf-only', 'client');
  const withChain = inter.issue('with-chain', 'client');
  const trust = join(dir, 'trust.pem');
  writeFileSync(trust, Buffer.concat([readFileSync(root.cert), readFileSync(inter.cert)])); // intermediates in ca_file, as is common
  const crls = join(dir, 'crls.pem');
  const files: TlsFiles = { cert_file: server.cert, key_file: server.key, client_certificates: { ca_file: trust, required: true, crl_file: crls } };
  writeFileSync(crls, Buffer.concat([readFileSync(root.crl()), readFileSync(inter.crl())]));
  const { app, port } = await listener(files);
  t.teardown(() => app.close());
  const a = await keepAlive(port, [readFileSync(leafOnly.cert)], readFileSync(leafOnly.key));
  const b = await keepAlive(port, [readFileSync(withChain.cert), readFileSync(inter.cert)], readFileSync(withChain.key));
  t.teardown(() => { a.close(); b.close(); });
  t.equal(await a.ask(), 'leaf-only');
  t.equal(await b.ask(), 'with-chain');
  writeFileSync(crls, Buffer.concat([readFileSync(root.revoke(inter)), readFileSync(inter.crl())]));
  const ended = useTls(app, readTls(files, 't'));
  await settle();
  t.equal(await b.ask(), 'closed', 'the client that sent the intermediate: ended');
  t.equal(await a.ask(), 'closed', 'the client that sent only its leaf must be ended too (docs/operations.md: "revoking an intermediate at the root ends every connection under it")');
  t.equal(ended, 2);
});

t.test('a revocation reaches the open connections of certificates whose issuer name is encoded otherwise than the list\'s', async (t) => {
  // OpenSSL matches the names by their text: the certificate verifies, and its revocation refuses
  // new handshakes. The open connection must be matched alike, not by the names' bytes.
  const { trusted, issuing } = reencodedAuthority(dir, 'reencoded-ca');
  const w = issuing.issue('old-tooling-workload', 'client');
  const crls = join(dir, 'reencoded.crl.pem');
  writeFileSync(crls, readFileSync(trusted.crl()));
  const files: TlsFiles = { cert_file: server.cert, key_file: server.key, client_certificates: { ca_file: trusted.cert, required: true, crl_file: crls } };
  const { app, port } = await listener(files);
  t.teardown(() => app.close());
  const c = await keepAlive(port, [readFileSync(w.cert)], readFileSync(w.key));
  t.teardown(() => c.close());
  t.equal(await c.ask(), 'old-tooling-workload', 'the certificate verifies against the other encoding');
  writeFileSync(crls, readFileSync(trusted.revoke(w)));
  t.equal(useTls(app, readTls(files, 't')), 1, 'the reload that revokes it ends its connection');
  await settle();
  t.equal(await c.ask(), 'closed');
});

t.test('a client CA taken out of ca_file on reload ends the connections it let in', async (t) => {
  const oldCa = certAuthority(dir, 'old-ca');
  const newCa = certAuthority(dir, 'new-ca');
  const w = oldCa.issue('old-workload', 'client');
  const { app, port } = await listener({ cert_file: server.cert, key_file: server.key, client_certificates: { ca_file: oldCa.cert, required: true } });
  t.teardown(() => app.close());
  const c = await keepAlive(port, [readFileSync(w.cert)], readFileSync(w.key));
  t.teardown(() => c.close());
  t.equal(await c.ask(), 'old-workload');
  useTls(app, readTls({ cert_file: server.cert, key_file: server.key, client_certificates: { ca_file: newCa.cert, required: true } }, 't'));
  await settle();
  t.equal(await c.ask(), 'closed', 'a certificate the listener no longer trusts must not keep being served');
});

t.test('a client cannot renegotiate: the certificate its connection was checked with is the one it keeps', async (t) => {
  const ca = certAuthority(dir, 'reneg-ca');
  const w = ca.issue('reneg-workload', 'client');
  const { app, port } = await listener({ cert_file: server.cert, key_file: server.key, client_certificates: { ca_file: ca.cert, required: true } });
  t.teardown(() => app.close());
  const sock = await new Promise<TLSSocket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca: readFileSync(server.cert), cert: readFileSync(w.cert), key: readFileSync(w.key), maxVersion: 'TLSv1.2' }, () => { resolve(s); });
    s.once('error', reject);
  });
  t.teardown(() => sock.destroy());
  sock.on('error', () => { /* the close tells */ });
  const outcome = await new Promise<string>((resolve) => {
    sock.once('close', () => { resolve('closed'); });
    const asked = sock.renegotiate({ rejectUnauthorized: false }, (err) => { resolve(err ? 'refused' : 'renegotiated'); });
    if (!asked) resolve('refused');
    // A server that will not renegotiate may just never answer the new handshake.
    setTimeout(() => { resolve('not answered'); }, 3000);
  });
  t.not(outcome, 'renegotiated', `the server does not renegotiate (${outcome})`);
});
