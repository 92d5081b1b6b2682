// The real `jitgate` CLI against a control API that is not jitgate's: one a gateway URL may point
// at (a typo, a hostile .envrc, a proxy in between). Each case says what the person at the
// terminal would notice, and what the server saw.
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { EXIT } from '../../src/cli/context.js';
import type { Run } from './jitgate.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Seen { method: string; url: string; authorization: string | undefined }

/** A control API answering with `answer`; `seen` lists what reached it. */
async function fakeApi(t: Test, answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ base: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => {
      resolve();
    });
  }));
  return { base: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`, seen };
}

/**
 * Runs the CLI with only the environment given. `killAfterMs`: a run still going then is killed
 * and reported with code -1, so a CLI that hangs fails the test instead of the whole suite.
 */
function cli(args: string[], env: Record<string, string>, killAfterMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: killAfterMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

const whoami = { id: 'alice', kind: 'user', groups: ['eng'], can_read_audit: false };

t.test('a token no header can carry is refused before any call, and never printed', async (t) => {
  const api = await fakeApi(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(whoami));
  });
  const secret = 'eyJhbGciOiJFZERTQSJ9.c2VjcmV0LXBhcnQtb2YtdGhlLXRva2Vu';
  // Two lines of a token file, a CRLF pasted inside, a non-ASCII character, a control character.
  for (const token of [`${secret}\nsecond-line`, `${secret}\r\nx`, `${secret}\u2026`, `${secret}\u0001x`]) {
    const r = await cli(['whoami'], { JITGATE_URL: api.base, JITGATE_TOKEN: token });
    t.equal(r.code, EXIT.USAGE, `${JSON.stringify(token.slice(-6))}: exit 2`);
    t.match(r.stderr, /^jitgate: USAGE: the token \(JITGATE_TOKEN or --token\) holds .* \(it is not shown here\)\n$/);
    t.notMatch(r.stderr, /c2VjcmV0/, 'no part of the token on stderr');
    t.equal(r.stdout, '');
  }
  const viaFlag = await cli(['whoami', '--token', `${secret}\nsecond-line`], { JITGATE_URL: api.base });
  t.equal(viaFlag.code, EXIT.USAGE, '--token too');
  t.notMatch(viaFlag.stderr, /c2VjcmV0/);
  t.same(api.seen, [], 'the server saw no request');

  // What a shell or a file leaves around a token is not part of it.
  const padded = await cli(['whoami'], { JITGATE_URL: api.base, JITGATE_TOKEN: `${secret}\r\n` });
  t.equal(padded.code, EXIT.OK, 'a token with a line break after it is sent');
  t.same(api.seen.map((s) => s.authorization), [`Bearer ${secret}`], 'without the line break');
});

t.test('an answer that never ends, slowly or fast, ends the command with an error', async (t) => {
  // The head at once, then a byte a second: a connection that is alive but never done.
  const slow = await fakeApi(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{');
    const drip = setInterval(() => res.write(' '), 1000);
    res.on('close', () => {
      clearInterval(drip);
    });
  });
  // 80 MiB as fast as the CLI reads it, then silence: more than any answer of the API, and the
  // silence keeps a CLI that reads it all from ending the body (and bounds what it holds).
  const flood = await fakeApi(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(1 << 20, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (sent < 80 && res.write(chunk)) sent++;
      if (sent < 80) res.once('drain', pump);
    };
    pump();
  });
  // Killed at 60 s: twice the CLI's deadline.
  const [slowRun, floodRun] = await Promise.all([
    cli(['whoami'], { JITGATE_URL: slow.base, JITGATE_TOKEN: 't' }, 60_000),
    cli(['whoami'], { JITGATE_URL: flood.base, JITGATE_TOKEN: 't' }, 60_000),
  ]);
  t.equal(slowRun.code, EXIT.UNAVAILABLE, 'a body that never completes: exit 6, not a hang');
  t.match(slowRun.stderr, /^jitgate: UNAVAILABLE: the control API at http:\/\/127\.0\.0\.1:\d+ did not answer within 30 s\n$/);
  t.equal(floodRun.code, EXIT.FAILURE, 'an answer larger than any of the API: exit 1, not a hang');
  t.match(floodRun.stderr, /^jitgate: BAD_RESPONSE: the answer from http:\/\/127\.0\.0\.1:\d+ is larger than 64 MiB .*: not the control API's\n$/);
  t.same([slowRun.stdout, floodRun.stdout], ['', '']);
});

t.test('a redirect is not followed: the token stays with the origin it was given to', async (t) => {
  const elsewhere = await fakeApi(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(whoami));
  });
  const api = await fakeApi(t, (req, res) => {
    res.writeHead(307, { location: `${elsewhere.base}${req.url ?? ''}` });
    res.end();
  });
  const r = await cli(['whoami'], { JITGATE_URL: api.base, JITGATE_TOKEN: 'the-token' });
  t.equal(r.code, EXIT.UNAVAILABLE);
  t.match(r.stderr, /unexpected redirect/);
  t.equal(api.seen.length, 1);
  t.same(elsewhere.seen, [], 'the other origin saw nothing');
});

t.test('no text from the server drives the terminal: errors, summaries, cursors, --json', async (t) => {
  // What an escape sequence can do at an approver's terminal: erase the line and write another
  // (\e[2K\r), hide what follows (\e[8m), set the title (OSC 0), put a command in the clipboard
  // (OSC 52), the 8-bit CSI (U+009B), and reorder the line (U+202E, U+200F).
  const hostile = '\u001b[2K\rOK: approved (role reader, 5m)\u001b[8m \u001b]0;title\u0007 \u001b]52;c;cm0gLXJmIH4=\u0007 \u009b2J \u202egnp.exe\u200f';
  // eslint-disable-next-line no-control-regex
  const unsafe = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
  const request = {
    id: 'req_1', status: 'pending', requester: { id: 'mallory', kind: 'user', groups: [] }, role: `admin${hostile}`, scope: null,
    duration_seconds: 28800, reason: hostile, ticket: null, approvals: [], approvals_required: 1, approver_groups: [`approvers${hostile}`],
    extends_grant_id: null, extends_grant_expires_at: null, break_glass: false, pending_expires_at: hostile,
    decided_by: null, decision_comment: null, grant_id: null, created_at: new Date().toISOString(),
  };
  const api = await fakeApi(t, (req, res) => {
    const [status, body] = req.url === '/v1/requests/req_1/approve' ? [403, { error: { code: `JITGATE_E_X${hostile}`, message: `no${hostile}` } }]
      : req.url?.startsWith('/v1/grants') === true ? [200, { items: [], next_cursor: `c${hostile}` }]
      : [201, request];
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  const env = { JITGATE_URL: api.base, JITGATE_TOKEN: 't' };
  const refused = await cli(['approve', 'req_1'], env);
  t.equal(refused.code, EXIT.DENIED);
  t.match(refused.stderr, /^jitgate: JITGATE_E_X \[2K OK: approved \(role reader, 5m\) \[8m .*: no \[2K OK/);
  const asked = await cli(['request', '--role', 'writer', '--duration', '5m', '--reason', 'r'], env);
  t.equal(asked.code, EXIT.OK);
  t.match(asked.stdout, /^pending: needs 1 approval\(s\) from approvers \[2K OK/, 'the summary line, the server\'s words blanked');
  const listed = await cli(['grants'], env);
  t.match(listed.stdout, /\(more: --cursor c \[2K OK: approved/);
  const json = await cli(['request', '--role', 'writer', '--duration', '5m', '--reason', 'r', '--json'], env);
  t.same(JSON.parse(json.stdout), request, '--json: the very same value to a parser');
  for (const [name, out] of [['error', refused.stderr], ['summary and detail', asked.stdout], ['cursor', listed.stdout], ['--json', json.stdout]] as const) {
    t.notMatch(out, unsafe, `${name}: nothing that drives or reorders the terminal`);
  }
});

t.test('whoami marks a name that is not what it looks like: one own `аlice` (Cyrillic а) is not alice to the policy', async (t) => {
  const api = await fakeApi(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...whoami, id: '\u0430lice', groups: ['eng', '\u0435ng'] }));
  });
  const r = await cli(['whoami'], { JITGATE_URL: api.base, JITGATE_TOKEN: 'a.b.c' });
  t.equal(r.code, EXIT.OK);
  t.match(r.stdout, /^subject: +\u0430lice \[non-ASCII: Cyrillic U\+0430\]$/m, 'the subject carries the note');
  t.match(r.stdout, /^groups: +eng, \u0435ng \[non-ASCII: Cyrillic U\+0435\]$/m, 'so does each group that holds one; plain ones do not');
});
