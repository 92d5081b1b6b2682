// An upstream that hands secrets back in the places the masker used to miss: an answer to a
// request that carried no credential (an upstream's request log shows what it got earlier), a
// header's name, a redirect whose URL the gateway rewrites, a password beyond ASCII. Each answer
// is sent by a raw upstream, byte for byte, and read by the caller as sent by the gateway.
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { request } from 'undici';
import { headerOf, rawUpstream } from '../helpers/raw-upstream.js';
import { wsFrame, wsFrames } from '../helpers/ws-frames.js';
import { demoRoute, leaks, policyFrom, SECRETS, startGateway } from './fixtures.js';

const KEY = SECRETS.DEMO_UPSTREAM_READ_KEY;
const UNICODE = SECRETS.DEMO_UPSTREAM_UNICODE_KEY;

/** What each path of the upstream answers (it kept the read key from an earlier request). */
function answer(head: string): Buffer {
  const path = /^\w+ (\S+)/.exec(head)?.[1] ?? '';
  const plain = (headers: string, body: string | Buffer): Buffer => Buffer.concat([
    Buffer.from(`HTTP/1.1 200 OK\r\n${headers}Content-Length: ${String(Buffer.byteLength(body))}\r\nConnection: close\r\n\r\n`, 'latin1'),
    Buffer.isBuffer(body) ? body : Buffer.from(body),
  ]);
  if (path === '/plain/gzip') return plain('Content-Encoding: gzip\r\nContent-Type: application/json\r\n', gzipSync(`{"recent":[{"x-api-key":"${KEY}"}]}`));
  if (path === '/plain/ws') {
    const frames = Buffer.concat([wsFrame(`{"seen":"${KEY.slice(0, 5)}`, { fin: false }), wsFrame(`${KEY.slice(5)}"}`, { opcode: 0 })]);
    return Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n'), frames]);
  }
  if (path === '/api/names') return plain(`X-Seen-${KEY}: 1\r\nX-Also-${KEY.toUpperCase()}: 2\r\nX-Fine: 3\r\n`, 'ok');
  if (path === '/api/redirect') {
    // An absolute URL at the upstream's own address: the gateway rewrites it to its own.
    const url = `http://${headerOf(head, 'host') ?? ''}/next?t=${KEY.slice(0, 6)}\t${KEY.slice(6)}`;
    return Buffer.from(`HTTP/1.1 302 Found\r\nLocation: ${url}\r\nRefresh: 0; url=${url}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, 'latin1');
  }
  if (path === '/unicode/echo') {
    const python = JSON.stringify({ password: UNICODE }).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    return Buffer.concat([
      Buffer.from('HTTP/1.1 401 Unauthorized\r\nX-Rejected-Credential: svc:', 'latin1'),
      Buffer.from(UNICODE, 'utf8'),
      Buffer.from(`\r\nContent-Length: ${String(python.length)}\r\nConnection: close\r\n\r\n${python}`, 'latin1'),
    ]);
  }
  return plain('', 'unknown');
}

t.test('secrets an upstream hands back where the masker used to miss them', async (t) => {
  const up = await rawUpstream(answer);
  const policy = await policyFrom({
    'authz.rego': [
      'package jitgate.authz', '',
      'default allow := false', '',
      'allow if input.subject.id == "alice"', '',
      'default reason := "alice only"', '',
      // No credential on the plain route: its requests carry no secret.
      'obligations := {"credential": "readonly"} if input.route.name != "plain"', '',
    ].join('\n'),
    'elevation.rego': 'package jitgate.elevation\n\ndefault allow := false\n',
  });
  const g = await startGateway({
    policy,
    routes: () => [
      demoRoute(up.url, { match: { path_prefix: '/api' } }),
      demoRoute(up.url, { name: 'plain', match: { path_prefix: '/plain' }, credentials: {}, default_credential: undefined, websocket: true }),
      demoRoute(up.url, { name: 'unicode', match: { path_prefix: '/unicode' }, credentials: { readonly: { type: 'basic', username: 'svc', from_env: 'DEMO_UPSTREAM_UNICODE_KEY' } } }),
    ],
  });
  t.teardown(async () => { await g.close(); await up.close(); });
  const token = await g.token('alice');
  const get = async (path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> => {
    const res = await request(`${g.url}${path}`, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' } });
    return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
  };

  await t.test('a compressed answer to a request that carried no credential is decoded and masked', async (t) => {
    const res = await get('/plain/gzip');
    const head = up.heads.at(-1) ?? '';
    t.equal(headerOf(head, 'x-api-key'), undefined, 'this request carried no credential');
    t.equal(headerOf(head, 'accept-encoding'), 'identity', 'and the upstream was asked for identity all the same');
    t.equal(res.status, 200);
    t.equal(res.headers['content-encoding'], undefined, 'the body arrives decoded');
    t.equal(res.body.toString(), `{"recent":[{"x-api-key":"${'*'.repeat(KEY.length)}"}]}`, 'with the secret overwritten');
  });

  await t.test('WebSocket frames on a route that injects nothing are masked, and compression is not offered upstream', async (t) => {
    const got = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const sock = connect(g.port, '127.0.0.1');
      sock.on('data', (d: Buffer) => { chunks.push(d); });
      sock.on('close', () => { resolve(Buffer.concat(chunks)); });
      sock.write(`GET /plain/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`);
    });
    t.match(got.toString('latin1'), /^HTTP\/1\.1 101 /);
    t.equal(headerOf(up.heads.at(-1) ?? '', 'sec-websocket-extensions'), undefined, 'the caller\'s permessage-deflate did not reach the upstream');
    const body = got.subarray(got.indexOf('\r\n\r\n') + 4);
    t.equal(wsFrames(body).frames.map((f) => f.payload).join(''), `{"seen":"${'*'.repeat(KEY.length)}"}`, 'the echo across two fragments arrives masked');
  });

  await t.test('a header whose name holds a secret, in any letter case, is dropped', async (t) => {
    const res = await get('/api/names');
    t.equal(res.status, 200);
    t.same(Object.keys(res.headers).filter((n) => n.startsWith('x-seen') || n.startsWith('x-also')), [], 'neither name reaches the caller');
    t.equal(res.headers['x-fine'], '3', 'the others do');
  });

  await t.test('a redirect rewritten by the gateway is masked after the rewrite (the URL parser drops a tab that split the secret)', async (t) => {
    const res = await get('/api/redirect');
    t.equal(res.status, 302);
    const location = String(res.headers.location);
    const refresh = String(res.headers.refresh);
    t.notOk(location.includes(KEY) || refresh.includes(KEY), `masked: ${location} / ${refresh}`);
    t.match(location, /^http:\/\/127\.0\.0\.1:\d+\/next\?t=\*{6}/, 'the redirect is there, rewritten to the gateway and overwritten');
  });

  await t.test('a password beyond ASCII: as raw UTF-8 in a header and as Python\'s \\u escapes in JSON', async (t) => {
    const res = await get('/unicode/echo');
    t.equal(res.status, 401);
    const header = Buffer.from(String(res.headers['x-rejected-credential']), 'latin1');
    t.notOk(header.includes(Buffer.from(UNICODE, 'utf8')), `the header does not carry it: ${header.toString('latin1')}`);
    t.match(header.toString('latin1'), /^(svc:)?\*+$/, 'it is overwritten');
    const body = res.body.toString();
    t.notOk(body.includes('\\u00e4ssw'), `the JSON does not carry it: ${body}`);
    t.match(body, /"password": ?"\*+"/, 'it is overwritten');
  });

  t.same(leaks(g), [], 'no secret in the log, the audit or the decision events');
});
