// The real `jitgate` CLI as a child process: exit codes and error output scripts rely on.
import t from 'tap';
import { EXIT } from '../../src/cli/context.js';
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
