import t from 'tap';
import { jitgateError, toError } from '../src/errors.js';
t.test('errors', (t) => {
  const e = jitgateError('FORBIDDEN', 'nope');
  t.equal(e.status, 403);
  t.equal(e.code, 'JITGATE_E_FORBIDDEN');
  t.equal(toError('x').message, 'x');
  t.end();
});
