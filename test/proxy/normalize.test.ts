// The one normalization of the request target: what is accepted becomes the path the policy and
// the upstream both see; what could be read two ways is refused.
import t from 'tap';
import { normalizeTarget, type NormalizedTarget } from '../../src/proxy/index.js';
import { isJitgateError } from '../../src/errors.js';

function refused(target: string, host = '127.0.0.1'): boolean {
  try {
    normalizeTarget(target, host);
    return false;
  } catch (err) {
    return isJitgateError(err, 'REQUEST_AMBIGUOUS');
  }
}

t.test('accepted targets and their normal form', (t) => {
  const cases: [string, string, string[]][] = [
    ['/', '/', []],
    ['/api/orders', '/api/orders', ['api', 'orders']],
    ['/api//orders///7', '/api/orders/7', ['api', 'orders', '7']],
    ['/api/./orders/', '/api/orders/', ['api', 'orders']],
    ['/api/x/../orders', '/api/orders', ['api', 'orders']],
    ['/api/%2e%2e/admin', '/admin', ['admin']],
    ['/api/%41%42', '/api/AB', ['api', 'AB']],
    ['/files/a%20b', '/files/a%20b', ['files', 'a b']],
    ['/caf%c3%a9', '/caf%C3%A9', ['café']],
    ['/caf\u00e9'.replace('\u00e9', '%C3%A9'), '/caf%C3%A9', ['café']],
    ['/a:b@c!$&\'()*+,=', '/a:b@c!$&\'()*+,=', ['a:b@c!$&\'()*+,=']],
    ['/ADMIN', '/ADMIN', ['ADMIN']],
  ];
  for (const [input, path, segments] of cases) {
    const n = normalizeTarget(input, 'h');
    t.equal(n.path, path, input);
    t.same(n.segments, segments, `${input} segments`);
  }
  t.end();
});

t.test('query: lists of values, + as space, strict decoding', (t) => {
  const n = normalizeTarget('/x?a=1&a=2&b=hello+world&c=%2F&flag', 'h');
  t.same(n.query, { a: ['1', '2'], b: ['hello world'], c: ['/'], flag: [''] });
  t.equal(n.rawQuery, 'a=1&a=2&b=hello+world&c=%2F&flag', 'forwarded as received');
  t.ok(refused('/x?a=%zz'));
  t.ok(refused('/x?a=%00'));
  t.ok(refused('/x?a=1;admin=1'), 'a literal ; (Rack 2 and older Python split on it)');
  t.same(normalizeTarget('/x?a=1%3Badmin=1', 'h').query, { a: ['1;admin=1'] }, 'encoded, it is part of the value for everyone');
  t.end();
});

t.test('refused as ambiguous', (t) => {
  for (const target of [
    '/api%2fadmin', '/api/%5cadmin', '/api\\admin', '/api/%00', '/api/%0a', '/a;b', '/a/..;/b', '/a/%3b', '/admin.', '/admin%2e/x',
    '/a%2', '/a%g0', '/%c3%28', '/%ff', '/..', '/a/../..', '/x#frag', 'http://evil/x', 'https://127.0.0.1/x', '*', 'admin', '/a /b'.replace(' ', '%20') + '%20',
  ]) t.ok(refused(target), target);
  t.notOk(refused('http://127.0.0.1/x'), 'absolute-form naming the same host');
  t.notOk(refused('http://127.0.0.1:80/x', '127.0.0.1'), 'default port is the same authority');
  t.ok(refused('http://127.0.0.1:81/x', '127.0.0.1'));
  t.end();
});

t.test('the fast path for already-normal targets agrees with the full normalization', (t) => {
  const alphabet = ['a', 'B', '7', '-', '_', '~', '.', '!', '$', '&', "'", '(', ')', '*', '+', ',', '=', ':', '@', '/'];
  const mismatches: string[] = [];
  let seed = 42;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  for (let i = 0; i < 2000; i++) {
    let p = '/';
    const len = 1 + rnd(20);
    for (let j = 0; j < len; j++) p += alphabet[rnd(alphabet.length)]!;
    let fast: unknown;
    let full: unknown;
    try { fast = normalizeTarget(p, 'h'); } catch (e) { fast = (e as Error).message; }
    // A query mark sends the same path through the full normalization.
    try { full = normalizeTarget(`${p}?`, 'h'); } catch (e) { full = (e as Error).message; }
    const view = (r: unknown): string => (typeof r === 'object' ? JSON.stringify({ path: (r as NormalizedTarget).path, segments: (r as NormalizedTarget).segments }) : (r as string));
    if (view(fast) !== view(full)) mismatches.push(`${p}: ${view(fast)} vs ${view(full)}`);
  }
  t.same(mismatches, [], '2000 random targets: same outcome either way');
  t.end();
});
