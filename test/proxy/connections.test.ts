// Connections the proxy listener holds open: an idle keep-alive connection is closed by the
// gateway after `keep_alive_ms`, and past `max_connections` a new connection is closed as it is
// accepted (counted), while those already open keep being served. Without both, one client's
// idle connections take the process to its file limit.
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { within } from '../helpers/poll.js';
import { noMetrics, startGateway } from './fixtures.js';

const GET = 'GET /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

interface Conn {
  sock: Socket;
  text: () => string;
  closed: () => boolean;
  /** Sends GET and resolves with the answer's first line, or 'closed'. */
  ask: () => Promise<string>;
}

function open(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    sock.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    sock.on('error', () => undefined);
    sock.on('close', () => { closed = true; });
    const ask = (): Promise<string> => new Promise((done) => {
      if (closed) { done('closed'); return; }
      const from = text.length;
      const check = (): void => {
        const line = text.slice(from).split('\r\n')[0] ?? '';
        if (text.slice(from).includes('\r\n\r\n')) { sock.off('data', check); done(line); }
      };
      sock.on('data', check);
      sock.once('close', () => { done('closed'); });
      sock.write(GET);
    });
    sock.once('connect', () => { resolve({ sock, text: () => text, closed: () => closed, ask }); });
    sock.once('error', reject);
  });
}

t.test('idle keep-alive connections are closed by the gateway after keep_alive_ms', async (t) => {
  const g = await startGateway({ timeouts: { keep_alive_ms: 300 } });
  t.teardown(() => g.close());
  const conns = await Promise.all(Array.from({ length: 10 }, () => open(g.port)));
  const answers = await Promise.all(conns.map((c) => c.ask()));
  t.same(answers, Array.from({ length: 10 }, () => 'HTTP/1.1 401 Unauthorized'), 'each connection served a request, then left idle');
  t.ok(await within(() => conns.every((c) => c.closed()), 5000), `the gateway closed the idle ones (${String(conns.filter((c) => c.closed()).length)} of 10)`);
  for (const c of conns) c.sock.destroy();
});

t.test('past max_connections, new connections are closed as accepted and counted; open ones are still served', async (t) => {
  let dropped = 0;
  const g = await startGateway({ maxConnections: 5, timeouts: { keep_alive_ms: 60_000 }, metrics: { ...noMetrics, connectionDropped: () => { dropped++; } } });
  t.teardown(() => g.close());
  // Five connections, each known to be accepted: it answered a request (and is kept alive).
  const kept: Conn[] = [];
  for (let i = 0; i < 5; i++) {
    const c = await open(g.port);
    t.equal(await c.ask(), 'HTTP/1.1 401 Unauthorized');
    kept.push(c);
  }
  const excess = await Promise.all(Array.from({ length: 8 }, () => open(g.port)));
  t.ok(await within(() => excess.every((c) => c.closed())), 'every connection past the cap is closed');
  t.same(excess.map((c) => c.text()), Array.from({ length: 8 }, () => ''), 'without a byte read or written');
  t.equal(dropped, 8, 'and counted');
  t.same(await Promise.all(kept.map((c) => c.ask())), Array.from({ length: 5 }, () => 'HTTP/1.1 401 Unauthorized'), 'the open ones are still served');

  // One goes: a new connection is let in again.
  kept[0]?.sock.destroy();
  let again = '';
  t.ok(await within(async () => {
    const c = await open(g.port);
    again = await c.ask();
    c.sock.destroy();
    return again !== 'closed';
  }), 'room for a new connection once one closed');
  t.equal(again, 'HTTP/1.1 401 Unauthorized');
  for (const c of kept) c.sock.destroy();
});
