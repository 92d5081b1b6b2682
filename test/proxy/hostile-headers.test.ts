// Hostile headers, both ways: what a caller writes must not reach the upstream as a claim only the
// gateway may make, the policy must judge the headers the upstream gets, and nothing an upstream
// answers (malformed, transfer-coded, escaped as other languages escape) may carry the injected
// secret to the caller or into the log. Each request is sent for real.
import { connect } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import t from 'tap';
import { request } from 'undici';
import { headerOf, rawUpstream } from '../helpers/raw-upstream.js';
import { demoRoute, leaks, policyAllowingIf, SECRETS, startGateway } from './fixtures.js';

const KEY = SECRETS.DEMO_UPSTREAM_READ_KEY;

/** Sends raw bytes and returns everything the gateway wrote before closing. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    sock.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    sock.on('error', (e) => { if (out) resolve(out); else reject(e); });
    sock.on('close', () => { resolve(out); });
    sock.write(text);
  });
}

t.test('an upstream answer that does not parse: 502, and none of its bytes (an echo of the secret) in the log', async (t) => {
  for (const bad of ['X Bad: 1\r\n', 'X-Folded: a\r\n b\r\n']) {
    const up = await rawUpstream((head) => `HTTP/1.1 200 OK\r\n${bad}X-Echo-Key: ${headerOf(head, 'x-api-key') ?? ''}\r\nContent-Length: 2\r\n\r\nok`);
    const g = await startGateway({ routes: () => [demoRoute(up.url)] });
    try {
      const res = await raw(g.port, `GET /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${await g.token('alice')}\r\nConnection: close\r\n\r\n`);
      t.match(res, /^HTTP\/1\.1 502 /, `${JSON.stringify(bad)}: 502`);
      t.equal(up.heads.length, 1, 'the upstream was asked');
      t.ok(g.logLines.some((l) => l.includes('upstream request failed')), 'the failure is logged');
      t.same(leaks(g, res), [], 'the secret is in no answer, log line or event');
      t.notOk(g.logLines.some((l) => l.includes(KEY.slice(0, 10))), 'not even its start');
    } finally {
      await g.close();
      await up.close();
    }
  }
});

t.test('a transfer coding other than chunked is refused: undici would pass its bytes on coded, past the masker', async (t) => {
  const body = gzipSync(`key: ${KEY}\n`);
  for (const coding of ['gzip, chunked', 'gzip']) {
    const up = await rawUpstream(() => {
      const framed = coding.endsWith('chunked') ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]) : body;
      return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${coding}\r\nConnection: close\r\n\r\n`), framed]);
    });
    const g = await startGateway({ routes: () => [demoRoute(up.url)] });
    try {
      const res = await request(`${g.url}/api/x`, { headers: { authorization: `Bearer ${await g.token('alice')}` } });
      const got = Buffer.from(await res.body.arrayBuffer());
      t.equal(res.statusCode, 502, `${coding}: 502`);
      t.match(got.toString(), /JITGATE_E_UPSTREAM_ENCODED/);
      let recovered = '';
      try { recovered = gunzipSync(got).toString(); } catch { /* not gzip: as it must be */ }
      t.notOk(recovered.includes(KEY), 'nothing the caller can unpack holds the secret');
      t.equal(g.decisions.events.at(-1)?.jitgate.error_code, 'JITGATE_E_UPSTREAM_ENCODED', 'the decision log says why');
    } finally {
      await g.close();
      await up.close();
    }
  }
});

t.test('client-address and host claims of every common spelling never reach the upstream', async (t) => {
  const g = await startGateway();
  t.teardown(() => g.close());
  const claims = [
    'x-client-ip', 'client-ip', 'true-client-ip', 'cf-connecting-ip', 'fastly-client-ip', 'x-cluster-client-ip', 'x-forwarded', 'forwarded-for',
    'x-original-forwarded-for', 'x-originating-ip', 'x-remote-ip', 'x-remote-addr', 'x-host', 'x-original-host', 'x-original-uri', 'x-real-ip',
  ];
  const headers: Record<string, string> = { authorization: `Bearer ${await g.token('alice')}` };
  for (const name of claims) headers[name] = name.endsWith('host') || name.endsWith('uri') ? 'evil.example' : '10.9.9.9';
  headers.True_Client_IP = '10.9.9.8';
  const before = g.upstream.seen.length;
  const res = await request(`${g.url}/api/orders`, { headers });
  await res.body.dump();
  t.equal(res.statusCode, 200, 'the request itself is allowed');
  const seen = g.upstream.seen[before];
  const passed = Object.keys(seen?.headers ?? {}).filter((k) => claims.includes(k.replaceAll('_', '-')));
  t.same(passed, [], 'no claim passed, in either spelling');
  t.equal(seen?.headers['x-forwarded-for'], '127.0.0.1', 'the gateway says who the caller is');
});

t.test('the policy judges the headers the upstream gets', async (t) => {
  const g = await startGateway({
    policy: await policyAllowingIf(['input.request.headers["user-agent"] == "reporting-bot/1.0"', 'input.request.headers["x-dry-run"] == "true"'], 'only the reporting bot, dry runs only'),
    routes: (u) => [demoRoute(u, { policy_headers: ['user-agent', 'x-dry-run'] })],
  });
  t.teardown(() => g.close());
  const token = await g.token('alice');
  const send = async (headers: string): Promise<{ status: number; seen: number }> => {
    const before = g.upstream.seen.length;
    const res = await raw(g.port, `DELETE /api/orders/7 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n${headers}Connection: close\r\n\r\n`);
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(res)?.[1]), seen: g.upstream.seen.length - before };
  };
  t.same(await send('User-Agent: reporting-bot/1.0\r\nX-Dry-Run: true\r\n'), { status: 200, seen: 1 }, 'as the policy wants: allowed');
  t.equal(g.upstream.seen.at(-1)?.headers['x-dry-run'], 'true', 'and forwarded with what it was allowed for');
  t.same(await send('User-Agent: reporting-bot/1.0\r\nUser-Agent: something-else\r\nX-Dry-Run: true\r\n'), { status: 400, seen: 0 },
    'a judged header sent twice (Node keeps the first, some upstreams act on the last): refused');
  t.same(await send('User-Agent: reporting-bot/1.0\r\nX-Dry-Run: true\r\nX-Dry-Run: false\r\n'), { status: 400, seen: 0 }, 'either of them');
  t.same(await send('User-Agent: reporting-bot/1.0\r\nX-Dry-Run: true\r\nConnection: X-Dry-Run\r\n'), { status: 403, seen: 0 },
    'a judged header named in Connection is not forwarded, so the policy does not see it either: denied');
});

t.test('the policy judges a caller\'s request id only when the upstream gets it as sent, never one the gateway replaced', async (t) => {
  const g = await startGateway({ policy: await policyAllowingIf(['startswith(input.request.headers["x-request-id"], "batch-")'], 'batch jobs only') });
  t.teardown(() => g.close());
  const token = await g.token('alice');
  const send = async (headers: string): Promise<{ status: number; seen: string | undefined }> => {
    const before = g.upstream.seen.length;
    const res = await raw(g.port, `DELETE /api/orders/7 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n${headers}Connection: close\r\n\r\n`);
    const seen = g.upstream.seen.length > before ? String(g.upstream.seen.at(-1)?.headers['x-request-id']) : undefined;
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(res)?.[1]), seen };
  };
  t.same(await send('X-Request-Id: batch-17\r\n'), { status: 200, seen: 'batch-17' }, 'a plain id is kept, and judged as kept');
  t.same(await send('X-Request-Id: batch-17 ; x\r\n'), { status: 403, seen: undefined }, 'one the gateway replaces is not shown to the policy: denied, nothing forwarded');
  t.same(await send('X-Request-Id: batch-17\r\nX-Request-Id: batch-18\r\n'), { status: 403, seen: undefined }, 'two of them: replaced, denied');
});

t.test('an echo of the secret as PHP, Python, Go or lower-case percent-encoding escape it arrives masked', async (t) => {
  const odd = SECRETS.DEMO_UPSTREAM_ODD_KEY;
  const styles: Record<string, (s: string) => string> = {
    php: (s) => JSON.stringify({ token: s }).replaceAll('/', '\\/'),
    go: (s) => JSON.stringify({ token: s }).replaceAll('&', '\\u0026'),
    python_quote: (s) => `token=${encodeURIComponent(s).replaceAll('%2F', '/')}`,
    python_quote_plus: (s) => `token=${encodeURIComponent(s).replaceAll('%20', '+')}`,
    lower_hex: (s) => `token=${encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())}`,
  };
  const up = await rawUpstream((head) => {
    const style = /^GET \/odd\/(\w+)/.exec(head)?.[1] ?? '';
    const secret = (headerOf(head, 'authorization') ?? '').replace(/^Bearer /, '');
    const body = styles[style]?.(secret) ?? '';
    return `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
  });
  const g = await startGateway({ policy: await policyAllowingIf(['input.subject.id == "alice"'], 'alice only'), routes: () => [demoRoute(up.url, { name: 'odd', match: { path_prefix: '/odd' }, credentials: { readonly: { type: 'bearer', from_env: 'DEMO_UPSTREAM_ODD_KEY' } } })] });
  t.teardown(async () => { await g.close(); await up.close(); });
  const token = await g.token('alice');
  for (const style of Object.keys(styles)) {
    const res = await request(`${g.url}/odd/${style}`, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.body.text();
    t.equal(res.statusCode, 200);
    t.notOk(text.includes('5e8b'), `${style}: masked (${text})`);
    t.match(text, /\*{6}/, `${style}: the echo is there, overwritten`);
  }
  t.ok(odd.includes('/') && odd.includes('&') && odd.includes(' '), 'the secret has the characters these encoders disagree on');
});

t.test('a request body in a transfer coding other than chunked is refused: it would reach the upstream still coded, unlabelled', async (t) => {
  const g = await startGateway();
  t.teardown(() => g.close());
  const token = await g.token('alice');
  const body = gzipSync('{"amount": 5}');
  for (const coding of ['gzip, chunked', 'GZIP , chunked', 'identity, chunked']) {
    const before = g.upstream.seen.length;
    const res = await raw(g.port, `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: ${coding}\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body.toString('latin1')}\r\n0\r\n\r\n`);
    t.match(res, /^HTTP\/1\.1 400 /, `${coding}: 400`);
    t.match(res, /JITGATE_E_BAD_REQUEST/);
    t.equal(g.upstream.seen.length, before, 'the upstream saw nothing');
  }
  const plain = await raw(g.port, `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n`);
  t.notMatch(plain, /^HTTP\/1\.1 400 /, 'chunked alone, in any case, is the usual framing');
});
