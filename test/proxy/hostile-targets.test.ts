// Request targets that common upstreams read otherwise than the gateway would: PHP's and Rails'
// bracketed query keys, PHP's spellings of `_method`, upstreams that route without regard to case,
// and route prefixes written in another form than requests are matched in. Each request is sent
// for real, and what the upstream got is checked against what the policy judged.
import t from 'tap';
import { request } from 'undici';
import { demoRoute, policyAllowingIf, startGateway, type Gateway } from './fixtures.js';

interface Asked { status: number; text: string; route: string | undefined; seen: boolean }

async function ask(g: Gateway, target: string, method: 'GET' | 'POST' = 'GET'): Promise<Asked> {
  const before = g.upstream.seen.length;
  const res = await request(`${g.url}${target}`, { method, headers: { authorization: `Bearer ${await g.token('alice')}` } });
  const text = await res.body.text();
  const id = res.headers['x-jitgate-decision-id'];
  const route = g.decisions.events.find((e) => e.decision_id === id)?.jitgate.route;
  return { status: res.statusCode, text, route, seen: g.upstream.seen.length > before };
}

t.test('a query key with [ or ] (PHP and Rails read debug[] as debug) is refused, unless the route says keys are literal', async (t) => {
  const policy = await policyAllowingIf(['not input.request.query.debug'], 'debug mode is not for callers');
  const g = await startGateway({
    policy,
    routes: (u) => [demoRoute(u), demoRoute(u, { name: 'arrays', match: { path_prefix: '/arrays' }, query_brackets: 'literal' })],
  });
  t.teardown(() => g.close());
  t.equal((await ask(g, '/api/orders?debug=1')).status, 403, 'the policy refuses debug when it sees it');
  for (const query of ['debug[]=1', 'debug%5B%5D=1', 'debug[x]=1', 'debug[=1', 'debug%5D=1']) {
    const a = await ask(g, `/api/orders?${query}`);
    t.equal(a.status, 400, `?${query}: refused`);
    t.match(a.text, /JITGATE_E_REQUEST_AMBIGUOUS/);
    t.notOk(a.seen, 'and the upstream never saw it');
  }
  t.equal((await ask(g, '/api/orders?note=%5Bdraft%5D')).status, 200, 'brackets in a value are plain text');
  const literal = await ask(g, '/arrays/orders?ids[]=1&ids[]=2');
  t.equal(literal.status, 200, 'on a route with query_brackets: literal, allowed');
  t.ok(literal.seen, 'and forwarded');
  const event = g.decisions.events.at(-1);
  t.same((event?.input as { request: { query: unknown } }).request.query, { 'ids[]': ['1', '2'] }, 'the policy saw the keys as written');
});

t.test('_method however PHP would read it is refused: PHP files ".method" and " _method" as _method', async (t) => {
  const g = await startGateway({ policy: await policyAllowingIf(['input.subject.id == "alice"'], 'alice only') });
  t.teardown(() => g.close());
  for (const query of ['_method=DELETE', '.method=DELETE', '+_method=DELETE', '%20_method=DELETE', '_method[]=DELETE', '_method[x]=DELETE', ' .method=DELETE', '_METHOD=DELETE']) {
    const a = await ask(g, `/api/orders/7?${query}`, 'POST');
    t.equal(a.status, 400, `?${query}: refused`);
    t.match(a.text, /JITGATE_E_METHOD_OVERRIDE/);
    t.notOk(a.seen, 'and the upstream never saw it');
  }
  for (const query of ['x_method=1', '_methods=1', 'method=DELETE']) t.equal((await ask(g, `/api/orders/7?${query}`, 'POST')).status, 200, `?${query}: another key, allowed`);
});

t.test('a route matching without regard to case takes every spelling of its prefix; other routes stay case-sensitive', async (t) => {
  const g = await startGateway({
    policy: await policyAllowingIf(['input.route.name == "demo"'], 'only the demo route is open'),
    routes: (u) => [demoRoute(u), demoRoute(u, { name: 'billing', match: { path_prefix: '/api/billing', case_sensitive: false } }),
      demoRoute(u, { name: 'exact', match: { path_prefix: '/api/exact' } })],
  });
  t.teardown(() => g.close());
  for (const path of ['/api/billing/charge', '/api/Billing/charge', '/API/BILLING', '/api/bIlLiNg/x']) {
    const a = await ask(g, path, 'POST');
    t.equal(a.route, 'billing', `${path}: the billing route`);
    t.equal(a.status, 403, 'denied as billing, not allowed as the catch-all');
    t.notOk(a.seen);
  }
  t.equal((await ask(g, '/api/billingx', 'POST')).route, 'demo', 'whole segments only');
  t.equal((await ask(g, '/api/EXACT/x', 'POST')).route, 'demo', 'a case-sensitive route takes only its spelling');
});

t.test('a route prefix written otherwise than requests are matched in still takes its requests', async (t) => {
  const g = await startGateway({
    policy: await policyAllowingIf(['input.route.name == "public"'], 'only the public route is open'),
    routes: (u) => [demoRoute(u, { name: 'public', match: { path_prefix: '/' } }),
      demoRoute(u, { name: 'meters', match: { path_prefix: '/api/zählerstände' } }),
      demoRoute(u, { name: 'cafe', match: { path_prefix: '/api/caf%c3%a9' } }),
      demoRoute(u, { name: 'doubled', match: { path_prefix: '/api//doubled/' } })],
  });
  t.teardown(() => g.close());
  for (const [path, route] of [['/api/z%C3%A4hlerst%C3%A4nde/1', 'meters'], ['/api/z%c3%a4hlerst%c3%a4nde/1', 'meters'], ['/api/caf%C3%A9/1', 'cafe'], ['/api/caf%c3%a9/1', 'cafe'], ['/api/doubled/x', 'doubled']] as const) {
    const a = await ask(g, path);
    t.equal(a.route, route, `${path}: the ${route} route`);
    t.equal(a.status, 403, 'and its policy, not the catch-all\'s');
    t.notOk(a.seen);
  }
});

t.test('a query of more than 1,000 parameters is refused before anything else reads it', async (t) => {
  const g = await startGateway({ policy: await policyAllowingIf(['input.subject.id == "alice"'], 'alice only') });
  t.teardown(() => g.close());
  const query = (n: number): string => Array.from({ length: n }, (_, i) => `p${String(i)}=1`).join('&');
  const many = await ask(g, `/api/orders?${query(1_001)}`);
  t.equal(many.status, 400);
  t.match(many.text, /JITGATE_E_BAD_REQUEST.*more than 1000 query parameters/);
  t.notOk(many.seen, 'the upstream never saw it');
  const logged = g.decisions.events.at(-1);
  t.equal((logged?.input as { request: { query?: unknown } }).request.query, undefined, 'the refusal is logged without the query');
  t.equal((await ask(g, `/api/orders?${query(1_000)}`)).status, 200, '1,000 are accepted');
});
