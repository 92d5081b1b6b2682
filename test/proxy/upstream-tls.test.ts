// TLS towards an upstream that only talks to callers it knows: signed by an internal CA, asking
// for a client certificate. Routes with the CA and the gateway's certificate get through; routes
// without either never reach the upstream's handler. Files are read when the routes are built,
// so a renewed client certificate is used after a reload, and a set that cannot be used is
// refused with the running routes kept.
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { request } from 'undici';
import { isJitgateError } from '../../src/errors.js';
import type { RouteConfig } from '../../src/proxy/index.js';
import { certAuthority } from '../helpers/certs.js';
import { demoRoute, startGateway, type Gateway } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'jg-upstream-tls-'));
const ca = certAuthority(dir, 'internal-ca');
const serverCert = ca.issue('upstream', 'server');
const gatewayCert = ca.issue('jitgate-gateway', 'client');
const renewedCert = ca.issue('jitgate-gateway-renewed', 'client');

/** Who called, by the client certificate's common name (the handler only runs after the handshake). */
const seen: string[] = [];
let upstream: Server;
let upstreamUrl: string;
let g: Gateway;
let alice: string;

function routes(clientCert = gatewayCert): RouteConfig[] {
  const at = (name: string, extra: Partial<RouteConfig>): RouteConfig => demoRoute(upstreamUrl, { name, match: { host: `${name}.test`, path_prefix: '/' }, ...extra });
  return [
    at('mtls', { upstream_tls: { ca_file: ca.cert, cert_file: clientCert.cert, key_file: clientCert.key } }),
    at('nocert', { upstream_tls: { ca_file: ca.cert } }),
    at('public', {}),
    at('wrongname', { upstream_tls: { ca_file: ca.cert, cert_file: clientCert.cert, key_file: clientCert.key, server_name: 'billing.internal' } }),
  ];
}

t.before(async () => {
  upstream = createServer({
    cert: readFileSync(serverCert.cert), key: readFileSync(serverCert.key), ca: readFileSync(ca.cert), requestCert: true, rejectUnauthorized: true,
  }, (req, res) => {
    const socket = req.socket;
    seen.push(socket instanceof TLSSocket ? String(socket.getPeerCertificate().subject.CN) : 'not over TLS');
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `https://127.0.0.1:${String((upstream.address() as AddressInfo).port)}`;
  g = await startGateway({ routes: () => routes() });
  alice = await g.token('alice');
});
t.teardown(async () => {
  await g.close();
  upstream.closeAllConnections();
  await new Promise((resolve) => upstream.close(resolve));
});

async function get(host: string): Promise<{ status: number; body: string }> {
  const res = await request(`${g.url}/api/orders`, { headers: { host, authorization: `Bearer ${alice}` } });
  return { status: res.statusCode, body: await res.body.text() };
}

t.test('with the internal CA and the gateway\'s client certificate the upstream is reached', async (t) => {
  const before = seen.length;
  const res = await get('mtls.test');
  t.equal(res.status, 200);
  t.same(seen.slice(before), ['jitgate-gateway'], 'the upstream saw the gateway\'s certificate');
});

t.test('without a client certificate, without the CA or for another name: 502, the upstream\'s handler never runs', async (t) => {
  const before = seen.length;
  for (const host of ['nocert.test', 'public.test', 'wrongname.test']) {
    const res = await get(host);
    t.equal(res.status, 502, host);
    t.match(res.body, /JITGATE_E_UPSTREAM_UNAVAILABLE/);
    t.notMatch(res.body, /certificate|self.signed|handshake/i, 'no TLS detail leaks to the caller');
  }
  t.equal(seen.length, before);
});

t.test('a renewed client certificate is used after a reload; an unusable set is refused and the running one stays', async (t) => {
  g.proxy.updateRoutes(routes(renewedCert));
  const before = seen.length;
  t.equal((await get('mtls.test')).status, 200);
  t.same(seen.slice(before), ['jitgate-gateway-renewed'], 'new connections present the renewed certificate');
  const connections = (): Promise<number> => new Promise((resolve, reject) => { upstream.getConnections((err, n) => { if (err) reject(err); else resolve(n); }); });
  for (let i = 0; i < 40 && await connections() > 1; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(await connections(), 1, 'the pool with the old certificate was closed, its kept-alive connection with it');

  const refusal = (next: RouteConfig[]): string => {
    try {
      g.proxy.updateRoutes(next);
      return 'accepted';
    } catch (err) {
      return isJitgateError(err, 'CONFIG_INVALID') ? err.message : String(err);
    }
  };
  const mismatched = routes({ ...renewedCert, key: gatewayCert.key });
  t.match(refusal(mismatched), /routes\.mtls\.upstream_tls: the files are not a usable CA, certificate and key/, 'a key that is not the certificate\'s');
  t.match(refusal(routes({ ...renewedCert, cert: join(dir, 'missing.pem') })), /routes\.mtls\.upstream_tls\.cert_file: cannot read .*missing\.pem/);
  t.match(refusal([demoRoute('http://127.0.0.1:9', { upstream_tls: { ca_file: ca.cert } })]), /routes\.demo\.upstream_tls: the upstream http:\/\/127\.0\.0\.1:9 is not https/);
  const after = seen.length;
  t.equal((await get('mtls.test')).status, 200, 'the routes from before the refusals still serve');
  t.same(seen.slice(after), ['jitgate-gateway-renewed']);
});
