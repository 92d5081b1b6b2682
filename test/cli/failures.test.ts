// The real `jitgate` CLI as a child process: each kind of failure, its exit code and its message.
import { createServer } from 'node:net';
import t from 'tap';
import { EXIT } from '../../src/cli/context.js';
import { api } from '../admin/stack.js';
import { startCliStack } from './jitgate.js';

const { stack, tokens, jitgate, as } = await startCliStack();
t.teardown(() => stack.close());

// These runs are independent of each other, so they go two at a time (the machine has two cores).
t.test('each kind of failure has its exit code', async (t) => {
  const forgedToken = await stack.forgedToken('dave');
  // A port that was just free: connecting to it is refused, as with a control API that is down.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const closedPort = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  const cases: { name: string; args: string[]; env?: Record<string, string>; exit: number; stderr: RegExp }[] = [
    { name: 'ineligible role', args: ['request', '--role', 'writer', '--duration', '30m', '--reason', 'x'], env: as('mallory'), exit: EXIT.DENIED, stderr: /^jitgate: JITGATE_E_ELEVATION_DENIED: / },
    { name: 'unknown request', args: ['approve', 'no-such-request'], env: as('dave'), exit: EXIT.NOT_FOUND, stderr: /JITGATE_E_NOT_FOUND/ },
    { name: 'no token', args: ['whoami'], exit: EXIT.AUTH, stderr: /JITGATE_E_UNAUTHENTICATED.*JITGATE_TOKEN/ },
    { name: 'forged token', args: ['whoami', '--token', forgedToken], exit: EXIT.AUTH, stderr: /--token is visible to other users[\s\S]*JITGATE_E_TOKEN_INVALID/ },
    { name: 'bad duration', args: ['request', '--role', 'writer', '--duration', 'forever', '--reason', 'x'], env: as('alice'), exit: EXIT.USAGE, stderr: /JITGATE_E_VALIDATION: .*duration/ },
    { name: 'missing required flag', args: ['request', '--role', 'writer', '--duration', '30m'], env: as('alice'), exit: EXIT.USAGE, stderr: /--reason/ },
    { name: 'unknown flag', args: ['grants', '--bogus'], env: as('alice'), exit: EXIT.USAGE, stderr: /bogus/ },
    { name: '--extend with --role', args: ['request', '--extend', 'g1', '--role', 'writer', '--duration', '5m', '--reason', 'x'], env: as('alice'), exit: EXIT.USAGE, stderr: /--extend/ },
    { name: 'nothing listening', args: ['whoami', '--url', `http://127.0.0.1:${closedPort}`], env: as('alice'), exit: EXIT.UNAVAILABLE, stderr: /cannot reach the control API.*ECONNREFUSED/ },
    { name: 'a password in the URL (never echoed)', args: ['whoami', '--url', 'https://ops:Pa55w0rd-hunter2@gw.example:8081'], env: as('alice'), exit: EXIT.USAGE, stderr: /^(?![\s\S]*Pa55w0rd)[\s\S]*must not hold a user name or password/ },
    { name: 'a credential over plain http beyond loopback', args: ['whoami', '--url', 'http://192.0.2.2:8081'], env: as('alice'), exit: EXIT.USAGE, stderr: /refusing to send a credential over plain http to 192\.0\.2\.2/ },
    { name: 'a URL that does not parse', args: ['whoami', '--url', 'http://[::1'], env: as('alice'), exit: EXIT.USAGE, stderr: /--url is not a URL/ },
    { name: 'unknown command', args: ['bogus'], exit: EXIT.USAGE, stderr: /unknown command 'bogus'/ },
  ];
  for (let i = 0; i < cases.length; i += 2) {
    const pair = cases.slice(i, i + 2);
    const runs = await Promise.all(pair.map((c) => jitgate(c.args, c.env)));
    pair.forEach((c, j) => {
      t.equal(runs[j]!.code, c.exit, `${c.name}: exit ${c.exit}`);
      t.match(runs[j]!.stderr, c.stderr, `${c.name}: stderr`);
      t.equal(runs[j]!.stdout, '', `${c.name}: nothing on stdout`);
    });
  }
  const before = await api(stack.base, 'GET', '/v1/requests?limit=500', { token: tokens.dave });
  t.notOk(before.body.items.some((r: { requester: { id: string } }) => r.requester.id === 'mallory'), 'the refused request was not stored');
});

