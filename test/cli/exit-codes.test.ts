// The real `jitgate` CLI as a child process: exit codes and error output scripts rely on.
import t from 'tap';
import { EXIT } from '../../src/cli/context.js';
import { LIST_LIMIT_MAX } from '../../src/cli/limit.js';
import { pagination } from '../../src/admin/schemas.js';
import { api } from '../admin/stack.js';
import { startCliStack } from './jitgate.js';

const { stack, tokens, jitgate, as } = await startCliStack();
t.teardown(() => stack.close());

t.test('exit codes scripts can rely on', async (t) => {
  const mine = JSON.parse((await jitgate(['request', '--role', 'writer', '--duration', '1h', '--reason', 'self', '--json'], as('bob'))).stdout);

  const self = await jitgate(['approve', mine.id], as('bob'));
  t.equal(self.code, EXIT.DENIED, 'self-approval is a policy denial');
  t.match(self.stderr, /^jitgate: JITGATE_E_SELF_APPROVAL: /);
  t.equal(self.stdout, '');
  const still = await api(stack.base, 'GET', `/v1/requests/${mine.id}`, { token: tokens.bob });
  t.equal(still.body.status, 'pending', 'the refused approval changed nothing');

  t.equal((await jitgate(['withdraw', mine.id], as('bob'))).code, EXIT.OK);
  const late = await jitgate(['approve', mine.id], as('dave'));
  t.equal(late.code, EXIT.CONFLICT);
  t.match(late.stderr, /JITGATE_E_REQUEST_NOT_PENDING/);

});

t.test('a --limit a listing cannot take is refused with its code, never changed', async (t) => {
  t.equal(LIST_LIMIT_MAX, pagination.limit.maximum, 'the CLI checks the bound the API enforces');
  for (const command of ['requests', 'grants']) {
    // 0x10, 1e2, " 5" and "" were read by Number() (and 0x10, 1e2 by the API's coercion) as 16, 100, 5 and 0.
    for (const limit of ['0', '501', '0x10', '1e2', ' 5', '', '-1', '2.5']) {
      const r = await jitgate([command, '--limit', limit], as('dave'));
      t.same([r.code, r.stdout], [EXIT.USAGE, ''], `${command} --limit "${limit}"`);
      t.match(r.stderr, /^jitgate: JITGATE_E_VALIDATION: .*--limit must be a whole number from 1 to 500, not ".*"\n$/);
    }
    const ok = await jitgate([command, '--limit', '500', '--json'], as('dave'));
    t.equal(ok.code, EXIT.OK, `${command} --limit 500 is taken`);
    t.equal(JSON.parse(ok.stdout).limit, 500);
  }
});

// Last: this one takes the store away from the running server.
t.test('a store outage fails closed with 503 and exit code 6', async (t) => {
  await stack.db.close();
  const asked = await jitgate(['request', '--role', 'writer', '--duration', '30m', '--reason', 'during outage'], as('alice'));
  t.equal(asked.code, EXIT.UNAVAILABLE);
  t.match(asked.stderr, /^jitgate: JITGATE_E_STORE_UNAVAILABLE: /);
  const ready = await api(stack.base, 'GET', '/readyz');
  t.equal(ready.status, 503);
  t.match(ready.body, { ok: false, checks: { store: { ok: false } } });
});
