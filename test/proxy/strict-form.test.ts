// Form bodies the policy may read: what every server reads the same way is given as fields;
// what servers read differently is refused; what is not valid encoding is malformed.
import t from 'tap';
import { inspectForm, MAX_FORM_FIELDS } from '../../src/proxy/strict-form.js';

t.test('fields every server reads the same way', (t) => {
  const cases: [string, Record<string, string>][] = [
    ['amount=40&order=o-7', { amount: '40', order: 'o-7' }],
    ['note=two+words&sym=%26%3D%2B%25', { note: 'two words', sym: '&=+%' }],
    ['name=%C3%A9t%C3%A9&raw=été', { name: 'été', raw: 'été' }],
    ['flag&empty=', { flag: '', empty: '' }],
    ['a=1&&b=2&', { a: '1', b: '2' }],
    ['%61mount=5', { amount: '5' }],
    ['under_score=1&da-sh=2&UPPER=3', { under_score: '1', 'da-sh': '2', UPPER: '3' }],
    ['', {}],
  ];
  for (const [text, fields] of cases) t.same(inspectForm(text), { fields }, text);
  const proto = inspectForm('__proto__=x');
  t.ok('fields' in proto && Object.hasOwn(proto.fields, '__proto__'), '__proto__ is a plain field, not a prototype');
  t.end();
});

t.test('shapes servers read differently are refused', (t) => {
  const ambiguous = [
    'amount=5&amount=5000',
    'amount=5&%61mount=5000',
    'amount=5;amount=5000',
    'amount[]=1&amount=5000',
    'amount%5B%5D=1',
    'meta[key]=x',
    'a.b=1',
    'a+b=1',
    'a%20b=1',
    '=value',
    'amount=5%00000',
    'amo%00unt=5',
    'a%3Db=1',
    'amount=5&AMOUNT=5000',
    'Role=user&role=admin',
  ];
  for (const text of ambiguous) t.match(inspectForm(text), { kind: 'ambiguous' }, text);
  const many = Array.from({ length: MAX_FORM_FIELDS + 1 }, (_, i) => `f${String(i)}=1`).join('&');
  t.match(inspectForm(many), { kind: 'ambiguous', detail: /more than 1000 form fields/ }, 'more fields than PHP reads');
  t.same(Object.keys((inspectForm(many.slice(0, many.lastIndexOf('&'))) as { fields: object }).fields).length, MAX_FORM_FIELDS, 'exactly as many is fine');
  t.end();
});

t.test('invalid encoding is malformed', (t) => {
  for (const text of ['amount=%zz', 'amount=5%', 'amount=%4', 'name=%C3%28', 'name=%FF']) t.match(inspectForm(text), { kind: 'malformed' }, text);
  t.end();
});
