// An upstream that never gives its final answer must not hold the caller, or a connection of the
// route's pool, past the route's headers_ms: not by sending interim (1xx) answers forever, not by
// leaving a WebSocket upgrade unanswered. A caller that leaves takes its upstream call with it.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { within } from '../helpers/poll.js';
import { demoRoute, policyAllowingIf, startGateway, type Gateway } from './fixtures.js';

interface StuckUpstream { url: string; sockets: { requestLine: string; closed: boolean }[]; close(): Promise<void> }

/** An upstream that reads each request and then, per `stall`, keeps the connection going without a final answer. */
async function stuckUpstream(stall: (socket: Socket) => void): Promise<StuckUpstream> {
  const sockets: StuckUpstream['sockets'] = [];
  const open = new Set<Socket>();
  const server = createServer((socket) => {
    const seen = { requestLine: '', closed: false };
    sockets.push(seen);
    open.add(socket);
    socket.on('error', () => { /* the gateway may reset it */ });
    socket.on('close', () => { seen.closed = true; open.delete(socket); });
    socket.once('data', (d: Buffer) => {
      seen.requestLine = d.toString('latin1').split('\r\n')[0] ?? '';
      stall(socket);
    });
  });
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve); });
  return {
    url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    sockets,
    close: () => new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => { resolve(); });
    }),
  };
}

/** Sends `text` and resolves with what the gateway answered, or '' if it said nothing in `ms`. */
function ask(g: Gateway, text: string, ms = 10_000): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(g.port, '127.0.0.1');
    let out = '';
    const giveUp = setTimeout(() => { sock.destroy(); }, ms);
    sock.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (out.includes('\r\n\r\n') && /content-length: (\d+)/i.test(out)) sock.end();
    });
    sock.on('error', () => { /* the close tells */ });
    sock.on('close', () => { clearTimeout(giveUp); resolve(out); });
    sock.write(text);
  });
}

const quick = { connect_ms: 1000, headers_ms: 500, body_ms: 1000 };

t.test('an upstream that sends 102 Processing forever gets a 504 after headers_ms, and the caller its answer', async (t) => {
  const up = await stuckUpstream((socket) => {
    const timer = setInterval(() => { if (!socket.destroyed) socket.write('HTTP/1.1 102 Processing\r\n\r\n'); }, 100);
    socket.on('close', () => { clearInterval(timer); });
  });
  const g = await startGateway({ policy: await policyAllowingIf(['true'], 'open'), routes: () => [demoRoute(up.url, { timeouts: quick })] });
  t.teardown(async () => { await g.close(); await up.close(); });
  const answer = await ask(g, `GET /api/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${await g.token('alice')}\r\n\r\n`);
  t.match(answer, /^HTTP\/1\.1 504 /, 'a 504, not an answer that never comes');
  t.match(answer, /JITGATE_E_UPSTREAM_TIMEOUT/);
  t.notMatch(answer, /102 Processing/, 'the interim answers were the gateway\'s business');
  t.ok(await within(() => up.sockets.filter((s) => s.requestLine !== '').every((s) => s.closed), 5000), 'and the upstream connection is let go');
  t.equal(g.decisions.events.at(-1)?.jitgate.error_code, 'JITGATE_E_UPSTREAM_TIMEOUT');
});

const upgrade = (token: string): string => `GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;

t.test('a WebSocket upgrade the upstream never answers gets a 504 after headers_ms; one whose caller leaves is dropped upstream', async (t) => {
  const up = await stuckUpstream(() => { /* never answers */ });
  const g = await startGateway({ policy: await policyAllowingIf(['true'], 'open'), routes: () => [demoRoute(up.url, { websocket: true, timeouts: { ...quick, headers_ms: 60_000 } }), demoRoute(up.url, { name: 'quick', match: { path_prefix: '/api/stream' }, websocket: true, timeouts: quick })] });
  t.teardown(async () => { await g.close(); await up.close(); });
  const token = await g.token('alice');
  const answer = await ask(g, upgrade(token));
  t.match(answer, /^HTTP\/1\.1 504 /, 'the upgrade is answered 504');
  t.match(answer, /JITGATE_E_UPSTREAM_TIMEOUT/);
  const carried = (path: string): StuckUpstream['sockets'] => up.sockets.filter((s) => s.requestLine.startsWith(`GET ${path} `));
  t.ok(await within(() => carried('/api/stream').length === 1 && carried('/api/stream').every((s) => s.closed), 5000), 'and the connection that carried it closed');

  // On a route with a minute to answer, the caller leaves after a moment.
  const left = await ask(g, upgrade(token).replace('/api/stream', '/api/other'), 300);
  t.equal(left, '', 'the caller gave up before any answer');
  t.ok(await within(() => carried('/api/other').length === 1 && carried('/api/other').every((s) => s.closed), 5000), 'its upgrade is dropped upstream too, long before the minute');
  t.equal(g.decisions.events.at(-1)?.jitgate.error_code, 'JITGATE_E_CLIENT_CLOSED', 'logged as the caller having left, not as the upstream failing');
});
