// jitgate.listen.client_timeouts reaches both listeners of a running gateway: a trickled head is
// cut off with 408 on the data path and on the control API, a body that stops arriving is cut off
// on the data path after body_idle_ms (not only later, by the whole-request limit), and a caller
// taking none of a response after response_idle_ms.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { repoRoot, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';

/** Writes `head`, then `piece` every 200 ms, until the gateway closes the connection (or 10 s pass). */
function trickle(url: string, head: string, piece: string): Promise<{ text: string; closedByGateway: boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const sock = connect(Number(port), hostname);
    let text = '';
    let gaveUp = false;
    const timer = setInterval(() => { if (piece !== '' && sock.writable) sock.write(piece); }, 200);
    const cap = setTimeout(() => { gaveUp = true; sock.destroy(); }, 10_000);
    sock.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    sock.on('error', () => { /* the close below tells */ });
    sock.on('close', () => {
      clearInterval(timer);
      clearTimeout(cap);
      resolve({ text, closedByGateway: !gaveUp });
    });
    sock.write(head);
  });
}

t.test('client timeouts from the config bound both listeners', async (t) => {
  const dir = tempDir('jg-timeouts-');
  // An upstream that reads the whole body before answering.
  const bodies: string[] = [];
  const big = { cut: false };
  const upstream = createServer((req, res) => {
    if (req.url?.includes('big') === true) {
      // 256 MiB, written as fast as the gateway takes it.
      const chunk = Buffer.alloc(1024 * 1024, 'b');
      let left = 256;
      const pump = (): void => {
        while (left > 0) {
          left--;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('close', () => { big.cut = !res.writableFinished; });
      pump();
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('error', () => { bodies.push(`cut:${body}`); });
    req.on('end', () => { bodies.push(body); res.end('ok'); });
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  t.teardown(() => { upstream.closeAllConnections(); upstream.close(); });
  const file = writeConfig(dir, {
    jitgate: {
      data_dir: dir,
      listen: { proxy: '127.0.0.1:0', control: '127.0.0.1:0', client_timeouts: { head_ms: 1000, request_ms: 5000, body_idle_ms: 1000, response_idle_ms: 1000 } },
      policy: { dir: join(repoRoot, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false },
      store: { type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } },
      identity: { dev_issuer: { enabled: true, key_file: join(dir, 'dev.jwk.json'), subjects: { alice: ['eng'] } } },
      routes: [{
        name: 'demo',
        upstream: `http://127.0.0.1:${String((upstream.address() as AddressInfo).port)}`,
        credentials: { readonly: { type: 'header', header: 'X-Api-Key', from_env: 'READ_KEY' } },
        default_credential: 'readonly',
      }],
    },
  });
  const gw = await startGatewayProcess(file, { READ_KEY: 'read-key-for-the-timeouts-test' });
  t.teardown(() => gw.stop());

  for (const [listener, url] of [['proxy', gw.proxyUrl], ['control', gw.controlUrl]] as const) {
    const got = await trickle(url, 'GET /v1/requests HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', 'a');
    t.ok(got.closedByGateway, `${listener}: the gateway closed the connection while the head was still coming`);
    t.match(got.text, /^HTTP\/1\.1 408 /, listener);
  }

  const token = await runCli(['token', '--sub', 'alice', '--config', file]);
  t.equal(token.code, 0, token.stderr);
  const stalled = await trickle(gw.proxyUrl, `GET /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token.stdout.trim()}\r\nContent-Length: 10\r\n\r\nabc`, '');
  t.ok(stalled.closedByGateway, 'a stalled body: closed by the gateway');
  t.match(stalled.text, /^HTTP\/1\.1 408 /);
  t.match(stalled.text, /JITGATE_E_BODY_TIMEOUT/, 'after body_idle_ms, before request_ms');
  for (let i = 0; i < 50 && bodies.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(bodies, ['cut:abc'], 'the upstream got the start of the body and then lost the connection');

  // A caller that takes none of a large response.
  const { hostname, port } = new URL(gw.proxyUrl);
  const idle = connect(Number(port), hostname);
  t.teardown(() => idle.destroy());
  idle.pause();
  idle.write(`GET /api/big HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token.stdout.trim()}\r\n\r\n`);
  for (let i = 0; i < 250 && !big.cut; i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(big.cut, 'after response_idle_ms the gateway dropped the upstream call');
});
