// How far this process's clock may be from the database's: only a clock off by more than the
// bound whatever the round trip took is called off, so a slow answer never makes a right clock wrong.
import t from 'tap';
import { BackwardsStep, clockOffBy, MAX_CLOCK_OFFSET_MS } from '../../src/store/clock-check.js';

t.test('a clock is off only when it is beyond the bound whatever the round trip took', (t) => {
  const bound = MAX_CLOCK_OFFSET_MS;
  t.equal(clockOffBy(10_000, 10_005, 10_010), null, 'in step');
  t.equal(clockOffBy(10_000, 10_000 + bound + 500, 10_000 + bound), null, 'the database read its clock late in a slow round trip: not off');
  t.match(clockOffBy(10_000, 10_000 + bound + 50, 10_020), /ms or more behind the database's/, 'behind by more than the bound');
  t.match(clockOffBy(70_000, 10_000, 70_010), /60000 ms or more ahead of the database's/, 'a minute ahead');
  t.equal(clockOffBy(10_000, 10_000 - bound, 10_000), null, 'exactly the bound is accepted');
  t.end();
});

t.test('a clock that steps back is off until it is where it was; small steps and forward steps are not', (t) => {
  const step = new BackwardsStep();
  t.equal(step.check(100_000), null);
  t.equal(step.check(100_500), null, 'forwards');
  t.equal(step.check(100_000), null, 'back by the bound or less: not off');
  t.match(step.check(98_000), /stepped back 2500 ms/, 'back by more: off');
  t.equal(step.check(99_600), null, 'within the bound of where it was: decided again');
  t.equal(step.check(101_000), null, 'and past it');
  t.match(step.check(99_000), /stepped back 2000 ms/, 'measured from the latest reading');
  t.end();
});
