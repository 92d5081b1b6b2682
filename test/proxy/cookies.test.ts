// Set-Cookie values from an upstream that knows itself as orders.internal under /v1, as the
// caller's browser gets them: scoped to the gateway's host and paths, attributes kept.
import t from 'tap';
import { rebaseCookies, rebaseSetCookie } from '../../src/proxy/cookies.js';

const upstream = { basePath: '/v1', upstreamHost: 'orders.internal' };

t.test('the upstream\'s own domain is dropped and its base path taken off; everything else is kept as written', (t) => {
  const cases: [string, string | null][] = [
    ['sid=abc; Domain=orders.internal; Path=/v1; HttpOnly; Secure; SameSite=Lax', 'sid=abc; Path=/; HttpOnly; Secure; SameSite=Lax'],
    ['sid=abc; domain=.ORDERS.internal; path=/v1/cart', 'sid=abc; path=/cart'],
    ['sid=abc; Domain=internal; Path=/v1/', 'sid=abc; Path=/'],
    ['sid=a=b==; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/v1', 'sid=a=b==; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/'],
    // Not the upstream's: left for the browser to judge.
    ['sid=abc; Domain=example.com; Path=/v10', 'sid=abc; Domain=example.com; Path=/v10'],
    ['sid=abc; Domain=other.internal; Path=/shop', 'sid=abc; Domain=other.internal; Path=/shop'],
    ['sid=abc; Domain=rders.internal', 'sid=abc; Domain=rders.internal'],
    ['sid=abc; Path=relative', 'sid=abc; Path=relative'],
    ['sid=abc', 'sid=abc'],
    // The gateway's own namespace: never set by an upstream.
    ['jitgate_session=x; Path=/', null],
    ['__Host-jitgate=x; Path=/; Secure', null],
    [' JITGATE-console=x', null],
  ];
  for (const [value, expected] of cases) t.equal(rebaseSetCookie(value, upstream), expected, value);
  t.equal(rebaseSetCookie('sid=abc; Domain=orders.internal; Path=/v1', { ...upstream, basePath: '' }), 'sid=abc; Path=/v1', 'no base path: the path stays');
  t.end();
});

t.test('every Set-Cookie of a response is rebased; one left with none loses the header', (t) => {
  const headers: Record<string, string | string[]> = { 'set-cookie': ['a=1; Path=/v1/x', 'jitgate=2'], 'content-type': 'text/plain' };
  rebaseCookies(headers, upstream);
  t.same(headers, { 'set-cookie': ['a=1; Path=/x'], 'content-type': 'text/plain' });
  const planted: Record<string, string | string[]> = { 'set-cookie': 'jitgate_session=x' };
  rebaseCookies(planted, upstream);
  t.same(planted, {}, 'no empty header is left');
  t.end();
});
