import t from 'tap';
import { parseDuration } from '../../src/admin/index.js';

t.test('durations as people write them', (t) => {
  t.equal(parseDuration('30m'), 1800);
  t.equal(parseDuration('1h'), 3600);
  t.equal(parseDuration('1h30m'), 5400);
  t.equal(parseDuration('90s'), 90);
  t.equal(parseDuration('1d'), 86400);
  t.equal(parseDuration('600'), 600);
  t.equal(parseDuration(120), 120);
  t.end();
});

t.test('anything else is a validation error naming the field', (t) => {
  for (const bad of ['', '0', '0m', 'm', '1x', '1h 30m', '-5m', '1.5h', '366d', '99999999999999999999d', 0, 1.5, -1]) {
    t.throws(() => parseDuration(bad), { code: 'JITGATE_E_VALIDATION', message: /duration/ }, `rejects ${JSON.stringify(bad)}`);
  }
  t.end();
});
