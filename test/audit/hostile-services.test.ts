// OPA services that turn hostile after their head: a token endpoint, a decision-log receiver or a
// checkpoint witness that sends a byte a second, or a body without end. Each call must end (with
// garbage collections running: undici #4068), and the next one must go out and succeed once the
// service behaves again.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { serviceHeaders, type ServiceConfig } from '../../src/audit/index.js';
import { within } from '../helpers/poll.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

type Mode = 'good' | 'trickle' | 'endless';
let mode: Mode = 'good';
const open = new Set<ServerResponse>();
const seen: string[] = [];

function answer(res: ServerResponse, good: string): void {
  if (mode === 'good') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(good);
    return;
  }
  open.add(res);
  res.on('close', () => open.delete(res));
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write(good.slice(0, 10));
  if (mode === 'trickle') {
    const tick = setInterval(() => res.write(' '), 1000);
    res.on('close', () => { clearInterval(tick); });
    return;
  }
  const chunk = Buffer.alloc(256 * 1024, 0x20);
  const pump = (): void => { while (!res.destroyed && res.write(chunk)); };
  res.on('drain', pump);
  pump();
}

const server = createServer((req, res) => {
  seen.push(req.url ?? '');
  req.resume();
  req.on('end', () => {
    if (req.url === '/token') answer(res, JSON.stringify({ access_token: `tok-${String(seen.length)}`, token_type: 'Bearer', expires_in: 3600 }));
    else answer(res, '');
  });
});
let base = '';
t.before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
});
t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => { r(); }); }));

/** Garbage collections every 200 ms until the test ends. */
function collecting(t: { teardown(fn: () => void): void }): void {
  const timer = setInterval(gc, 200);
  t.teardown(() => { clearInterval(timer); });
}

/** What became of `p` within `boundMs`: its outcome, or 'still waiting'. */
async function settled(p: Promise<unknown>, boundMs = 30_000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((r) => { timer = setTimeout(() => { r('still waiting'); }, boundMs); });
  try {
    return await Promise.race([p.then(() => 'done', (err: unknown) => `failed: ${err instanceof Error ? err.message : String(err)}`), late]);
  } finally {
    clearTimeout(timer);
  }
}

for (const hostile of ['trickle', 'endless'] as const) {
  t.test(`a token endpoint that sends ${hostile === 'trickle' ? 'its head, then a byte a second' : 'a body without end'}: the token request fails, and the next one is made and gets a token`, async (t) => {
    collecting(t);
    const service: ServiceConfig = { url: base, credentials: { oauth2: { token_url: `${base}/token`, client_id: 'jitgate', client_secret: 's' } } };
    mode = hostile;
    const outcome = await settled(serviceHeaders(service));
    t.match(outcome, hostile === 'trickle' ? /^failed: the OAuth2 token endpoint .* no complete answer within 10 s/ : /^failed: .* answered more than 65536 bytes/,
      'the call needing a token fails, saying why, instead of waiting for good');
    t.ok(await within(() => open.size === 0), 'the hostile answer\'s connection is closed');
    mode = 'good';
    const asked = seen.length;
    t.match(await serviceHeaders(service), { authorization: /^Bearer tok-/ }, 'the endpoint behaves again: the next call gets a token');
    t.equal(seen.length, asked + 1, 'from a new token request (the failed one is not shared with later calls)');
  });
}
