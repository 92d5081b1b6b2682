// The ids of requests and decisions: what callers quote and auditors search by.
import t from 'tap';
import { uuid } from '../../src/uuid.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('ids are version 4 UUIDs, all different, across many random batches', (t) => {
  const seen = new Set<string>();
  // 128 ids per batch of random bytes: this spans about eighty refills.
  for (let i = 0; i < 10_000; i++) {
    const id = uuid();
    if (!V4.test(id)) t.fail(`not a version 4 UUID: ${id}`);
    seen.add(id);
  }
  t.equal(seen.size, 10_000);
  t.end();
});

t.test('every hex digit shows up in every free position: the bytes are random, not a counter', (t) => {
  const digits = Array.from({ length: 36 }, () => new Set<string>());
  for (let i = 0; i < 4_000; i++) {
    const id = uuid();
    for (let at = 0; at < 36; at++) digits[at]?.add(id.charAt(at));
  }
  const fixed = new Set([8, 13, 14, 18, 19, 23]);
  for (let at = 0; at < 36; at++) {
    if (fixed.has(at)) continue;
    t.equal(digits[at]?.size, 16, `position ${String(at)}`);
  }
  t.same([...(digits[14] ?? [])], ['4'], 'the version digit');
  t.same([...(digits[19] ?? [])].sort(), ['8', '9', 'a', 'b'], 'the variant digit');
  t.end();
});
