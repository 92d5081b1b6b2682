// Callers that send their request slowly: a trickled head, a body that stops, a body trickled
// just fast enough. Each is cut off with 408 and its connection closed by the gateway, and the
// upstream never receives a complete request (the connection to it is dropped). A caller that
// is merely slow, an upstream slow to read, a keep-alive connection left idle and an open
// WebSocket are not cut off.
import { connect } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { demoRoute, echoWebSockets, noMetrics, policyAllowingIf, SECRETS, startGateway, webSocketPing, type Gateway, type SeenRequest } from './fixtures.js';

interface Trickled {
  text: string;
  /** The gateway closed the connection (rather than the test giving up after `capMs`). */
  closedByGateway: boolean;
}

/** Writes `head`, then `piece` every `everyMs` (at most `count` times), until the connection closes or `capMs` passes. */
function trickle(port: number, head: string, piece: string, everyMs: number, count: number, capMs = 15_000): Promise<Trickled> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let text = '';
    let sent = 0;
    let gaveUp = false;
    const timer = setInterval(() => {
      if (sent < count && sock.writable) {
        sock.write(piece);
        sent++;
      }
    }, everyMs);
    const cap = setTimeout(() => { gaveUp = true; sock.destroy(); }, capMs);
    sock.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    sock.on('error', () => { /* reset by the gateway: the close below tells */ });
    sock.on('close', () => {
      clearInterval(timer);
      clearTimeout(cap);
      resolve({ text, closedByGateway: !gaveUp });
    });
    sock.write(head);
  });
}

function status(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}

/** The upstream's record of a request, once the gateway's drop of it has reached the upstream. */
async function droppedUpstream(g: Gateway, index: number): Promise<SeenRequest | undefined> {
  for (let i = 0; i < 100 && g.upstream.seen[index]?.abandoned !== true; i++) await new Promise((r) => setTimeout(r, 20));
  return g.upstream.seen[index];
}

const writerOnly = (): ReturnType<typeof policyAllowingIf> => policyAllowingIf(['input.subject.id == "alice"'], 'only alice');

t.test('a head trickled byte by byte is cut off with 408 before anything is decided', async (t) => {
  const g = await startGateway({ policy: await writerOnly(), timeouts: { head_ms: 1000, request_ms: 5000 } });
  t.teardown(() => g.close());
  const alice = await g.token('alice');
  const got = await trickle(g.port, `GET /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nX-Slow: `, 'a', 200, 60);
  t.ok(got.closedByGateway, 'the gateway closed the connection while the head was still coming');
  t.equal(status(got.text), 408);
  t.match(got.text, /JITGATE_E_REQUEST_TIMEOUT/);
  t.equal(g.upstream.seen.length, 0, 'the upstream saw nothing');
  t.equal(g.decisions.events.length, 0, 'nothing was decided');
});

t.test('a body that stops arriving is cut off with 408; the upstream never gets all of it', async (t) => {
  const g = await startGateway({ policy: await writerOnly(), timeouts: { body_idle_ms: 800 } });
  t.teardown(() => g.close());
  const alice = await g.token('alice');
  const heads = {
    'Content-Length': `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nContent-Length: 30\r\n\r\nhello`,
    chunked: `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`,
  };
  for (const [framing, head] of Object.entries(heads)) {
    const index = g.upstream.seen.length;
    const got = await trickle(g.port, head, '', 1000, 0, 10_000);
    t.ok(got.closedByGateway, `${framing}: closed by the gateway`);
    t.equal(status(got.text), 408, framing);
    t.match(got.text, /JITGATE_E_BODY_TIMEOUT/, framing);
    t.match(got.text, /x-jitgate-decision-id: /i, `${framing}: the decision can be quoted`);
    const seen = await droppedUpstream(g, index);
    t.equal(seen?.body, 'hello', `${framing}: the upstream got what came`);
    t.equal(seen?.complete, false, `${framing}: and never the end of it`);
    t.equal(seen?.abandoned, true, `${framing}: the gateway dropped its connection to the upstream`);
    t.equal(g.decisions.events.at(-1)?.jitgate.error_code, 'JITGATE_E_BODY_TIMEOUT', `${framing}: logged`);
  }
});

t.test('a body trickled just fast enough to never pause too long is cut off by the request limit', async (t) => {
  const g = await startGateway({ policy: await writerOnly(), timeouts: { body_idle_ms: 1000, head_ms: 1000, request_ms: 3000 } });
  t.teardown(() => g.close());
  const alice = await g.token('alice');
  const got = await trickle(g.port, `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nContent-Length: 100\r\n\r\n`, 'a', 250, 100);
  t.ok(got.closedByGateway, 'closed by the gateway, with the body still coming');
  t.equal(status(got.text), 408);
  t.match(got.text, /JITGATE_E_REQUEST_TIMEOUT/);
  const quoted = /x-jitgate-decision-id: ([\w-]+)/i.exec(got.text)?.[1];
  t.ok(quoted, 'the answer carries the decision id: the request had been decided');
  t.equal(g.decisions.events.at(-1)?.decision_id, quoted, 'the one the decision log has');
  const seen = await droppedUpstream(g, 0);
  t.equal(seen?.complete, false, 'the upstream never got the end of it');
  t.equal(seen?.abandoned, true, 'the gateway dropped its connection to the upstream');
  t.ok((seen?.body.length ?? 0) > 0 && (seen?.body.length ?? 0) < 100, `the upstream got the ${String(seen?.body.length)} bytes that came`);
  t.equal(g.decisions.events.at(-1)?.jitgate.error_code, 'JITGATE_E_REQUEST_TIMEOUT', 'logged as the caller timing out, not as the upstream failing');
});

t.test('a body the policy reads, trickled past the request limit: 408 with both ids, logged as the caller timing out', async (t) => {
  const counted: number[] = [];
  const g = await startGateway({
    policy: await writerOnly(),
    routes: (u) => [demoRoute(u, { policy_body: { max_bytes: 256, content_types: ['application/json'], read_timeout_ms: 20_000 } })],
    timeouts: { body_idle_ms: 1000, head_ms: 1000, request_ms: 2000 },
    metrics: { ...noMetrics, proxyRequest(_route, _kind, status) { counted.push(status); } },
  });
  t.teardown(() => g.close());
  const alice = await g.token('alice');
  const head = `POST /api/refunds HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nContent-Type: application/json\r\nX-Request-Id: slow-body-1\r\nContent-Length: 100\r\n\r\n`;
  const got = await trickle(g.port, head, ' ', 250, 100);
  t.ok(got.closedByGateway, 'closed by the gateway, with the body still coming');
  t.equal(status(got.text), 408);
  t.match(got.text, /JITGATE_E_REQUEST_TIMEOUT/);
  t.match(got.text, /x-request-id: slow-body-1\r\n/i, 'the answer carries the request id');
  const quoted = /x-jitgate-decision-id: ([\w-]+)/i.exec(got.text)?.[1];
  t.ok(quoted, 'and a decision id');
  const events = g.decisions.events.filter((e) => e.decision_id === quoted);
  t.equal(events.length, 1, 'naming an event in the decision log');
  t.equal(events[0]?.jitgate.error_code, 'JITGATE_E_REQUEST_TIMEOUT', 'which says the caller timed out');
  t.equal(g.decisions.events.length, 1, 'and no other');
  t.same(counted, [408], 'counted as the 408 it was');
  t.equal(g.upstream.seen.length, 0, 'the upstream saw nothing');
});

t.test('a caller that is slow but keeps sending gets through, whole', async (t) => {
  const g = await startGateway({ policy: await writerOnly(), timeouts: { body_idle_ms: 1000, head_ms: 1000, request_ms: 10_000 } });
  t.teardown(() => g.close());
  const alice = await g.token('alice');
  const heads = {
    'Content-Length': [`POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nContent-Length: 15\r\nConnection: close\r\n\r\n`, 'abcde'],
    chunked: [`POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`, '5\r\nabcde\r\n'],
  } as const;
  for (const [framing, [head, piece]] of Object.entries(heads)) {
    const index = g.upstream.seen.length;
    // Three pieces 400 ms apart, then (chunked) the last chunk.
    const got = await new Promise<string>((resolve) => {
      const sock = connect(g.port, '127.0.0.1');
      let text = '';
      sock.on('data', (d: Buffer) => { text += d.toString('latin1'); });
      sock.on('close', () => { resolve(text); });
      sock.write(head);
      let n = 0;
      const timer = setInterval(() => {
        sock.write(piece);
        if (++n === 3) {
          clearInterval(timer);
          if (framing === 'chunked') sock.write('0\r\n\r\n');
        }
      }, 400);
    });
    t.equal(status(got), 200, framing);
    t.equal(g.upstream.seen[index]?.body, 'abcde'.repeat(3), `${framing}: the upstream got every byte`);
    t.equal(g.upstream.seen[index]?.complete, true, framing);
  }
});

t.test('an upstream slow to read the body does not count against the caller', async (t) => {
  const size = 64 * 1024 * 1024;
  const g = await startGateway({
    policy: await writerOnly(), timeouts: { body_idle_ms: 500 }, routes: (u) => [demoRoute(u, { body_limit_bytes: size })],
  });
  t.teardown(() => g.close());
  const alice = await g.token('alice');
  // More than the kernel's buffers hold: the caller's bytes wait in the gateway while the upstream
  // reads nothing for 2 s.
  const res = await request(`${g.url}/api/orders/__slowread?ms=2000`, {
    method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(size, 'x'),
  });
  const text = await res.body.text();
  t.equal(res.statusCode, 200, text.slice(0, 200));
  t.equal(g.upstream.seen[0]?.body.length, size, 'every byte arrived');
});

t.test('a caller that stops taking a response is cut off, and the upstream call with it', async (t) => {
  const g = await startGateway({ policy: await writerOnly(), timeouts: { response_idle_ms: 1000 } });
  t.teardown(() => g.close());
  const socket = connect(g.port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.pause();
  // 256 MiB offered; the caller reads nothing. Held back, undici would never time the upstream out.
  socket.write(`GET /api/__stream?chunks=4096 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${await g.token('alice')}\r\n\r\n`);
  const seen = await droppedUpstream(g, 0);
  t.equal(seen?.abandoned, true, 'the gateway dropped the upstream call');
  t.ok((seen?.sent ?? 0) < 64 * 1024 * 1024, `after ${String(seen?.sent)} bytes of 256 MiB`);
  const warning = g.logLines.map((l) => JSON.parse(l) as { msg: string; reason?: string }).find((l) => l.msg === 'streaming the upstream response was cut off');
  t.equal(warning?.reason, 'caller_stopped_reading', 'the log says why');
  const closed = await new Promise<boolean>((resolve) => {
    socket.on('close', () => { resolve(true); });
    socket.resume();
    setTimeout(() => { resolve(false); }, 5000);
  });
  t.ok(closed, 'the caller\'s connection was closed');
});

t.test('a caller that pipelines requests and takes none of the gateway\'s answers is cut off', async (t) => {
  const g = await startGateway({ timeouts: { response_idle_ms: 1000 } });
  t.teardown(() => g.close());
  const socket = connect(g.port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.pause();
  // Every request is complete and refused (no credential): only the answers are left, untaken.
  socket.on('error', () => { /* the close tells */ });
  const closed = new Promise<boolean>((resolve) => {
    socket.on('close', () => { resolve(true); });
    // Generous: on a loaded machine the gateway takes seconds to answer every refusal first.
    setTimeout(() => { resolve(false); }, 45_000);
  });
  const request = 'GET /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  // 10,000 answers of about 400 bytes: several times what the sockets between them can buffer.
  for (let i = 0; i < 25; i++) socket.write(request.repeat(400));
  // Read nothing until the gateway gave up on it; then take what is there, to see the close.
  // It has stopped answering once its decisions stop coming (the untaken answers hold it back),
  // and gives up a second after; a fixed wait was outrun on a loaded machine, whose gateway was
  // still answering when the caller began to read.
  let count = -1;
  let changedAt = Date.now();
  const until = changedAt + 40_000;
  while (Date.now() - changedAt < 2500 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 250));
    if (g.decisions.events.length !== count) {
      count = g.decisions.events.length;
      changedAt = Date.now();
    }
  }
  socket.resume();
  t.ok(await closed, 'the gateway closed the connection of a caller that took nothing');
});

t.test('a caller that takes a response slowly, pausing now and then, gets all of it', async (t) => {
  const g = await startGateway({ policy: await writerOnly(), timeouts: { response_idle_ms: 1000 } });
  t.teardown(() => g.close());
  // 64 MiB, more than every buffer on the way holds; the caller pauses 300 ms every 8 MiB.
  const res = await request(`${g.url}/api/__stream?chunks=1024`, { headers: { authorization: `Bearer ${await g.token('alice')}` } });
  let length = 0;
  let nextPause = 8 * 1024 * 1024;
  for await (const chunk of res.body) {
    length += (chunk as Buffer).length;
    if (length >= nextPause) {
      nextPause += 8 * 1024 * 1024;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  t.equal(res.statusCode, 200);
  t.equal(length, 64 * 1024 * 1024, 'every byte: the pauses add up to more than the limit, but none reaches it');
  t.equal(g.upstream.seen[0]?.abandoned, false);
});

t.test('a keep-alive connection left idle longer than the head limit still serves its next request', async (t) => {
  const g = await startGateway({ policy: await writerOnly(), timeouts: { head_ms: 500, request_ms: 1000 } });
  t.teardown(() => g.close());
  const alice = await g.token('alice');
  const get = `GET /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\n\r\n`;
  const answers = await new Promise<string[]>((resolve) => {
    const sock = connect(g.port, '127.0.0.1');
    const seen: string[] = [];
    sock.on('data', (d: Buffer) => {
      seen.push(d.toString('latin1'));
      if (seen.length === 1) setTimeout(() => { sock.write(get); }, 2500);
      else sock.end();
    });
    sock.on('close', () => { resolve(seen); });
    sock.write(get);
  });
  t.same(answers.map(status), [200, 200]);
  t.equal(g.upstream.seen.length, 2);
});

t.test('an open WebSocket outlives the request limit', async (t) => {
  const g = await startGateway({ policy: await writerOnly(), routes: (u) => [demoRoute(u, { websocket: true })], timeouts: { head_ms: 500, request_ms: 1000 } });
  t.teardown(() => g.close());
  const keys = echoWebSockets(g);
  const got = await webSocketPing(g.port, await g.token('alice'), 2500);
  t.equal(status(got), 101);
  t.ok(got.endsWith('echo:ping'), 'frames still flow after 2.5 s');
  t.same(keys, [SECRETS.DEMO_UPSTREAM_READ_KEY]);
});
