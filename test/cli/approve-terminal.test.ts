// `jitgate approve` at a terminal, as an approver runs it: the real CLI in a pseudo-terminal
// (util-linux `script`) against a real control server. A request id passed on in a chat says
// nothing of the role and duration behind it: the approver is shown them and asked first.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EXIT } from '../../src/cli/context.js';
import { api, SUBJECTS } from '../admin/stack.js';
import { jitgate, startCliStack } from './jitgate.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = '/usr/bin/script';

/**
 * Runs `jitgate <args>` with a terminal for its input and output; `answer` is typed once the
 * question appears. Ends when the command does, asked or not.
 */
function atTerminal(args: string[], env: Record<string, string>, answer: string): Promise<{ code: number | null; output: string; asked: boolean }> {
  return new Promise((resolve) => {
    const command = [process.execPath, '--import', 'tsx', 'src/cli/main.ts', ...args].map((a) => `'${a}'`).join(' ');
    const child = spawn(SCRIPT, ['-qefc', command, '/dev/null'], { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
    let output = '';
    let asked = false;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (!asked && /approve .*\? \[y\/N\]/.test(output)) {
        asked = true;
        child.stdin.write(`${answer}\n`);
      }
    });
    child.on('close', (code) => {
      resolve({ code, output, asked });
    });
  });
}

/** A requester whose name renders as alice: a Cyrillic а (U+0430) in place of the a. */
const CYRILLIC_A = '\u0430lice';

if (!existsSync(SCRIPT)) {
  t.comment('skipped: util-linux script is not installed, so there is no pseudo-terminal to run the CLI in');
} else {
  SUBJECTS[CYRILLIC_A] = ['eng'];
  const { stack, tokens } = await startCliStack();
  t.teardown(() => stack.close());
  const env = { JITGATE_URL: stack.base, JITGATE_TOKEN: tokens.bob! };

  t.test('at a terminal, approve shows the request and approves only on a yes', async (t) => {
    // Asked for as "a quick read", for the most writer allows.
    const asked = await api(stack.base, 'POST', '/v1/requests', { token: tokens.alice, body: { role: 'writer', duration: '8h', reason: 'quick read of item 42' } });
    t.equal(asked.status, 201);
    const id = String(asked.body.id);

    const no = await atTerminal(['approve', id], env, 'n');
    t.ok(no.asked, 'the approver was asked');
    t.match(no.output, /approve writer for 8h to alice\? \[y\/N\]/, 'the question names the role, the duration and who gets them');
    const shown = no.output.slice(0, no.output.search(/approve writer/));
    t.match(shown, /role: +writer/, 'after being shown the role');
    t.match(shown, /duration: +8h/, 'and the duration');
    t.match(shown, /requester: +alice/);
    t.equal(no.code, EXIT.FAILURE, 'no: exit 1, never 0');
    t.match(no.output, new RegExp(`jitgate: CANCELLED: ${id} not approved: nothing was changed`));
    const still = await api(stack.base, 'GET', `/v1/requests/${id}`, { token: tokens.dave });
    t.same([still.body.status, still.body.approvals.length, still.body.grant_id], ['pending', 0, null], 'nothing was approved');

    const yes = await atTerminal(['approve', id, '--comment', 'read it'], env, 'y');
    t.ok(yes.asked);
    t.equal(yes.code, EXIT.OK);
    const approved = await api(stack.base, 'GET', `/v1/requests/${id}`, { token: tokens.dave });
    t.equal(approved.body.status, 'approved', 'yes approves');

    // --yes: as before, without asking (and a script, whose input is no terminal, is never asked).
    const other = await api(stack.base, 'POST', '/v1/requests', { token: tokens.alice, body: { role: 'writer', duration: '10m', reason: 'fix' } });
    const flagged = await atTerminal(['approve', String(other.body.id), '--yes'], env, 'n');
    t.same([flagged.asked, flagged.code], [false, EXIT.OK], '--yes does not ask');
  });

  t.test('a requester whose name only looks like alice is not asked about as alice: each letter outside ASCII is named', async (t) => {
    const asked = await api(stack.base, 'POST', '/v1/requests', {
      token: await stack.token(CYRILLIC_A), body: { role: 'writer', duration: '8h', reason: 'deploy the hotfix', ticket: 'INC-7', scope: { paths: ['/api/\u0456tems/*'] } },
    });
    t.equal(asked.status, 201);
    const id = String(asked.body.id);
    const r = await atTerminal(['approve', id], env, 'n');
    t.match(r.output, /approve writer for 8h to \u0430lice \[non-ASCII: Cyrillic U\+0430\]\? \[y\/N\]/, 'the question says the name is not the ASCII alice');
    t.match(r.output, /requester: +\u0430lice \[non-ASCII: Cyrillic U\+0430\]/, 'so does the request shown before it');
    t.match(r.output, /scope: +\/api\/\u0456tems\/\* \[non-ASCII: Cyrillic U\+0456\]/, 'and a scope path');
    t.equal(r.code, EXIT.FAILURE);

    const listed = await jitgate(stack.base, ['requests', '--status', 'pending'], { JITGATE_TOKEN: tokens.bob! });
    const line = listed.stdout.split('\n').find((l) => l.startsWith(id)) ?? '';
    t.match(line, /\u0430lice \[non-ASCII: Cyrillic U\+0430\]/, 'the request listing marks it too');
  });

  t.test('an extension is asked about as one: how much longer, of which grant', async (t) => {
    const asked = await api(stack.base, 'POST', '/v1/requests', { token: tokens.alice, body: { role: 'writer', duration: '10m', reason: 'fix' } });
    const granted = await api(stack.base, 'POST', `/v1/requests/${String(asked.body.id)}/approve`, { token: tokens.bob });
    const grant = String(granted.body.grant_id);
    const ext = await api(stack.base, 'POST', '/v1/requests', { token: tokens.alice, body: { extends_grant_id: grant, duration: '2h', reason: 'more' } });
    const r = await atTerminal(['approve', String(ext.body.id)], env, 'no');
    t.match(r.output, new RegExp(`approve 2h more of ${grant} \\(writer\\) to alice\\? \\[y/N\\]`));
    t.equal(r.code, EXIT.FAILURE);
  });

  t.test('a request no longer pending is not asked about: the API refuses it', async (t) => {
    const asked = await api(stack.base, 'POST', '/v1/requests', { token: tokens.alice, body: { role: 'writer', duration: '10m', reason: 'gone' } });
    await api(stack.base, 'POST', `/v1/requests/${String(asked.body.id)}/withdraw`, { token: tokens.alice });
    const r = await atTerminal(['approve', String(asked.body.id)], env, 'y');
    t.same([r.asked, r.code], [false, EXIT.CONFLICT]);
    t.match(r.output, /JITGATE_E_REQUEST_NOT_PENDING/);
  });
}
