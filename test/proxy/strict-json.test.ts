// The scanner that decides whether a body may reach the policy: every text here is one a
// careless gateway would let JSON.parse read one way while an upstream reads it another.
import t from 'tap';
import { inspectJson, MAX_JSON_DEPTH, numberSurvives } from '../../src/proxy/strict-json.js';

t.test('numbers: kept only when a double holds their exact value', (t) => {
  for (const n of ['0', '-0', '1', '1.0', '1.50', '15e-1', '0.15E+1', '0.1', '100.0000001', '9007199254740992', '1e300', '5e-324', '123456789012345']) {
    t.ok(numberSurvives(n), `${n} survives`);
  }
  for (const n of ['9007199254740993', '12345678901234567891', '0.30000000000000000001', '1e400', '-1e400', '1e-400', '123456789012345678901234567890e-10']) {
    t.notOk(numberSurvives(n), `${n} does not`);
  }
  t.end();
});

t.test('well-formed JSON every parser reads alike passes', (t) => {
  for (const text of ['{}', '[]', '"x"', '0', 'true', 'null', ' {"a" : [ 1 , 2.5e3 , "ü\\n\\u00e9", {"b": null} ] }\n', '{"a":1,"b":{"a":2}}', '"\\ud83d\\ude00"', `${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`]) {
    t.equal(inspectJson(text), null, text.slice(0, 40));
  }
  t.end();
});

t.test('text that is not one JSON value is malformed', (t) => {
  for (const text of ['', ' ', '{', '{"a":1,}', '[1,]', '[1 2]', '{a:1}', "{'a':1}", '01', '1.', '.5', '+1', '-', 'nul', 'true false', '\ufeff{}', '"\u0001"', '"\\x41"', 'NaN', 'Infinity', '{"a":1}}']) {
    t.equal(inspectJson(text)?.kind, 'malformed', JSON.stringify(text));
    t.throws(() => { JSON.parse(text); }, `${JSON.stringify(text)}: JSON.parse refuses it too`);
  }
  const deep = `${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`;
  t.match(inspectJson(deep), { kind: 'malformed', detail: /nested deeper than 64 levels/ }, 'valid, but deeper than the policy is given');
  t.end();
});

t.test('text JSON.parse accepts but other parsers read differently is ambiguous', (t) => {
  const cases: [string, RegExp][] = [
    ['{"amount":1,"amount":2}', /"amount" appears twice/],
    ['{"amount":1,"\\u0061mount":2}', /"amount" appears twice/],
    ['[{"a":{"b":1,"b":1}}]', /"b" appears twice/],
    ['{"id":12345678901234567891}', /12345678901234567891 cannot be read exactly/],
    ['[1e400]', /cannot be read exactly/],
    ['"\\ud800"', /surrogate/],
    ['{"\\udc00":1}', /surrogate/],
    ['{"amount":1,"AMOUNT":2}', /"amount" and "AMOUNT" differ only in letter case/],
    ['{"Role":"user","rOLE":"admin"}', /differ only in letter case/],
    ['{"s":1,"\u017f":2}', /differ only in letter case/],
    ['{"k":1,"\u212a":2}', /differ only in letter case/],
    ['{"role":"admin\\u0000x"}', /escaped NUL/],
    ['{"amount\\u0000":1}', /escaped NUL/],
  ];
  for (const [text, detail] of cases) {
    JSON.parse(text); // JSON.parse takes every one of them without complaint
    const problem = inspectJson(text);
    t.equal(problem?.kind, 'ambiguous', text);
    t.match(problem?.detail, detail, text);
  }
  t.equal(inspectJson('{"a":{"x":1},"b":{"x":1}}'), null, 'the same name in two objects is fine');
  t.equal(inspectJson('{"a":{"X":1},"b":{"x":1}}'), null, 'and in two cases in two objects');
  t.end();
});
