// Rebasing redirect targets from a route's upstream onto the gateway: the edges of "under the
// base path" (a sibling path that merely starts with the same letters is not under it).
import t from 'tap';
import { callerOrigin, rebaseLocation, rebaseRefresh } from '../../src/proxy/redirects.js';

const upstream = { origin: 'http://orders.internal:9000', basePath: '/v1' };
const gateway = 'https://api.example.com';

t.test('values under the upstream base path are rebased, exactly', (t) => {
  const table: [string, string][] = [
    ['http://orders.internal:9000/v1/orders/7', 'https://api.example.com/orders/7'],
    ['http://ORDERS.internal:9000/v1/orders/7', 'https://api.example.com/orders/7'],
    ['http://orders.internal:9000/v1', 'https://api.example.com/'],
    ['http://orders.internal:9000/v1?page=2', 'https://api.example.com/?page=2'],
    ['//orders.internal:9000/v1/x', 'https://api.example.com/x'],
    ['/v1/orders/7', '/orders/7'],
    ['/v1', '/'],
    // Not the upstream, or not under its base path: passed on as they are.
    ['http://orders.internal:9000/v10/orders', 'http://orders.internal:9000/v10/orders'],
    ['http://orders.internal:9001/v1/orders', 'http://orders.internal:9001/v1/orders'],
    ['https://orders.internal:9000/v1/orders', 'https://orders.internal:9000/v1/orders'],
    ['/v10/orders', '/v10/orders'],
    ['/other', '/other'],
    ['orders/7', 'orders/7'],
    ['http://[not a url', 'http://[not a url'],
  ];
  for (const [value, expected] of table) t.equal(rebaseLocation(value, upstream, gateway), expected, value);
  t.equal(rebaseLocation('http://orders.internal:9000/v1/x', { origin: upstream.origin, basePath: '' }, gateway), 'https://api.example.com/v1/x', 'no base path: the path stays');
  t.equal(rebaseLocation('http://orders.internal:9000/v1/x', upstream, null), 'http://orders.internal:9000/v1/x', 'no caller origin: absolute URLs stay');
  t.end();
});

t.test('only a plain host (and port) from the caller is written into a URL', (t) => {
  t.equal(callerOrigin('https', 'api.example.com'), 'https://api.example.com');
  t.equal(callerOrigin('http', '127.0.0.1:8080'), 'http://127.0.0.1:8080');
  t.equal(callerOrigin('http', '[::1]:8080'), 'http://[::1]:8080');
  for (const host of ['', 'evil.example/@x', 'a b', 'a.example:99999999', 'user@a.example', 'a.example\r\nx: y']) t.equal(callerOrigin('http', host), null, JSON.stringify(host));
  t.end();
});

t.test('a Refresh header\'s URL is rebased in each spelling browsers read; its delay and form are kept', (t) => {
  const table: [string, string][] = [
    ['5; url=http://orders.internal:9000/v1/orders/7', '5; url=https://api.example.com/orders/7'],
    ['0;URL=http://orders.internal:9000/v1/x', '0;URL=https://api.example.com/x'],
    ["3; url='http://orders.internal:9000/v1/x'", "3; url='https://api.example.com/x'"],
    ['1.5, http://orders.internal:9000/v1/x', '1.5, https://api.example.com/x'],
    ['2; url = "/v1/x"', '2; url = "/x"'],
    // Not a URL under the upstream, or no URL at all: as it was.
    ['5; url=https://login.example.com/', '5; url=https://login.example.com/'],
    ['30', '30'],
    ['soon; url=http://orders.internal:9000/v1/x', 'soon; url=http://orders.internal:9000/v1/x'],
  ];
  for (const [value, expected] of table) t.equal(rebaseRefresh(value, upstream, gateway), expected, value);
  t.end();
});

t.test('a path never becomes a URL naming another host once the base path is taken off', (t) => {
  for (const value of ['/v1//evil.example/x', '/v1/\\evil.example/x', '/v1/\t/evil.example/x', '/v1//\\//evil.example/x']) {
    const rebased = rebaseLocation(value, upstream, gateway);
    t.equal(rebased, '/evil.example/x', `${JSON.stringify(value)}: a path on the gateway`);
    t.equal(new URL(rebased, gateway).host, 'api.example.com', 'which a browser resolves on the gateway');
    t.equal(rebaseRefresh(`0; url=${value}`, upstream, gateway), '0; url=/evil.example/x', 'in Refresh as well');
  }
  t.equal(rebaseLocation('/v1/orders//7', upstream, gateway), '/orders//7', 'doubled slashes further in stay');
  t.end();
});

t.test('a long Refresh value is read like a short one', (t) => {
  const spaces = ' '.repeat(15_500);
  t.equal(rebaseRefresh(`0;x${spaces}x`, upstream, gateway), `0;x${spaces}x`, 'not a URL under the upstream: as it was');
  t.equal(rebaseRefresh(`5; url="/v1/x"${spaces}`, upstream, gateway), '5; url="/x"', 'quoted, trailing spaces dropped');
  t.equal(rebaseRefresh(`5; url='/v1/x`, upstream, gateway), `5; url='/v1/x`, 'an unclosed quote is part of the URL, which then is not under the base path');
  t.end();
});
