// A broken upstream sends a second, unasked-for answer after the first. On a pooled connection
// the gateway reads it as the answer to the next request sent on that connection, which may be
// another caller's (HTTP/1.1 cannot tell; nginx reads it so too). A route with
// `upstream_keep_alive: false` gives each request a connection of its own, so the stray answer
// reaches nobody. The upstream here answers on a connection it keeps open, byte by byte.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { request } from 'undici';
import { demoRoute, startGateway } from './fixtures.js';

const STRAY = '{"owner":"alice","ssn":"078-05-1120"}';

/** Answers each request with `ok-<last path segment>`, keeping the connection; after alice's, a stray answer 60 ms later. */
async function strayingUpstream(): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buffered = '';
    sock.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        const who = /^GET \S*\/(\w+) /.exec(head)?.[1] ?? 'nobody';
        const body = `ok-${who}`;
        const closing = /^connection: *close/im.test(head);
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${String(body.length)}\r\n${closing ? 'Connection: close\r\n' : ''}\r\n${body}`);
        if (who === 'alice') {
          setTimeout(() => { if (!sock.destroyed) sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${String(STRAY.length)}\r\n\r\n${STRAY}`); }, 60);
        }
        if (closing) setTimeout(() => { sock.end(); }, 100);
      }
    });
  });
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve); });
  return {
    url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => { resolve(); }); }),
  };
}

t.test('upstream_keep_alive: false: an upstream\'s stray answer never reaches the next caller', async (t) => {
  const up = await strayingUpstream();
  const g = await startGateway({ routes: () => [demoRoute(up.url, { upstream_keep_alive: false })] });
  t.teardown(async () => { await g.close(); await up.close(); });
  const [alice, erin] = await Promise.all([g.token('alice'), g.token('erin')]);
  const get = async (token: string, path: string): Promise<string> => {
    const res = await request(`${g.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return res.body.text();
  };
  t.equal(await get(alice, '/api/alice'), 'ok-alice');
  // Sent while the stray answer is on its way (60 ms after alice's).
  await sleep(20);
  t.equal(await get(erin, '/api/erin'), 'ok-erin', 'the next caller gets the answer to her own request');
  await sleep(80);
  t.equal(await get(erin, '/api/again'), 'ok-again', 'and so does her next one');
  t.equal(up.connections(), 3, 'each request had a connection of its own');
});

t.test('by default connections are pooled: one connection serves requests one after another', async (t) => {
  const up = await strayingUpstream();
  const g = await startGateway({ routes: () => [demoRoute(up.url)] });
  t.teardown(async () => { await g.close(); await up.close(); });
  const erin = await g.token('erin');
  for (const path of ['/api/one', '/api/two', '/api/three']) {
    const res = await request(`${g.url}${path}`, { headers: { authorization: `Bearer ${erin}` } });
    t.equal(await res.body.text(), `ok-${path.slice(5)}`);
  }
  t.equal(up.connections(), 1, 'one pooled connection');
});
