// How far this process's clock may be from the database's: only a clock off by more than the
// bound whatever the round trip took is called off, so a slow answer never makes a right clock wrong.
import t from 'tap';
import { clockOffBy, MAX_CLOCK_OFFSET_MS } from '../../src/store/clock-check.js';

t.test('a clock is off only when it is beyond the bound whatever the round trip took', (t) => {
  const bound = MAX_CLOCK_OFFSET_MS;
  t.equal(clockOffBy(10_000, 10_005, 10_010), null, 'in step');
  t.equal(clockOffBy(10_000, 10_000 + bound + 500, 10_000 + bound), null, 'the database read its clock late in a slow round trip: not off');
  t.match(clockOffBy(10_000, 10_000 + bound + 50, 10_020), /ms or more behind the database's/, 'behind by more than the bound');
  t.match(clockOffBy(70_000, 10_000, 70_010), /60000 ms or more ahead of the database's/, 'a minute ahead');
  t.equal(clockOffBy(10_000, 10_000 - bound, 10_000), null, 'exactly the bound is accepted');
  t.end();
});
