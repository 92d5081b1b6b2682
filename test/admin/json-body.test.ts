// Which member names repeat, in JSON that JSON.parse accepted.
import t from 'tap';
import { repeatedMember } from '../../src/admin/json-body.js';

t.test('a repeated member name is found wherever it is, written however', (t) => {
  for (const [text, name] of [
    ['{"role":"writer","role":"admin"}', 'role'],
    ['{"role":"writer","\\u0072ole":"admin"}', 'role'],
    ['{"scope":{"route":"a","route":"b"},"role":"x"}', 'route'],
    ['{"a":[{"x":1},{"y":2,"y":3}]}', 'y'],
    ['\ufeff { "a" : 1 , "a" : 2 }', 'a'],
  ] as const) t.equal(repeatedMember(text), name, text);
  t.end();
});

t.test('names that repeat only across objects, and text that looks like names, are not repeats', (t) => {
  for (const text of [
    '{"scope":{"route":"demo"},"route":"x"}',
    '[{"a":1},{"a":2}]',
    '{"a":{},"b":[],"c":[{}],"d":"x"}',
    '{"reason":"a, \\"reason\\": {b} [c]","ticket":"reason"}',
    '{"a":["a","a"],"b":"a"}',
    '{"a\\"":1,"a":2}',
    '"just a string"',
    '{}',
  ]) t.equal(repeatedMember(text), null, text);
  t.end();
});
