// `opa test` runs OPA's Go evaluator, not the WebAssembly path the gateway runs. This test
// evaluates a generated corpus (subjects x grants x requests, with expired grants, odd
// paths, unicode, large numbers and missing fields) with `opa eval` and with the engine,
// and requires identical results: for the sample policies (policies/), the engine fixture,
// and a fixture that applies the builtins jitgate declares.
import t from 'tap';
import type { PolicyEngine } from '../../src/policy/index.js';
import { join } from 'node:path';
import { seal, sealGrants, type AuthzInput, type PolicyGrant } from '../../src/policy/index.js';
import { engineEval, engineFor, FIXTURES, opaEvalMany, testOpa } from './helpers.js';

const NOW = 1_795_919_481_123_000_000;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const SUBJECTS = [
  { id: 'alice', kind: 'user', groups: ['eng'], claims: { email: 'alice@example.com' } },
  { id: 'bob', kind: 'user', groups: ['eng', 'approvers', 'leads'], claims: {} },
  { id: 'dave', kind: 'user', groups: ['admins', 'approvers'], claims: {} },
  { id: 'reporting', kind: 'service', groups: ['reporting'], claims: {} },
  { id: 'siem', kind: 'service', groups: ['auditors'], claims: {} },
  { id: 'zoë-ü', kind: 'user', groups: ['ops', 'gruppe-ä'], claims: { name: '日本語' } },
  { id: 'mallory', kind: 'user', groups: [], claims: {} },
  { id: '', kind: 'user', groups: ['eng'], claims: {} },
];
const PATHS = ['/', '/api/v1/items', '/api/v1/items/42', '/api/v2/admin/users', '/admin', '/api/v1/items/%2e%2e/secret', '/api//v1', '/ünïcode/路径', '/api/v1/items/', `/${'a/'.repeat(60)}z`, '/api/v1/items/9007199254740993', '/api/refunds'];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'get'];
const ROUTES = [
  { name: 'items', upstream: 'http://127.0.0.1:1', credentials: ['items-token'] },
  { name: 'admin', upstream: 'http://127.0.0.1:2', credentials: [] },
  { name: 'reports', upstream: 'http://127.0.0.1:3', credentials: ['a', 'b'] },
  { name: 'demo', upstream: 'http://127.0.0.1:4', credentials: ['readonly', 'writer', 'admin'] },
];
const ROLES = ['admin', 'db-write', 'items-writer', 'support', 'unknown-role', 'reader', 'writer'];

function grant(r: () => number, i: number): Record<string, unknown> {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const kind = r();
  // Expired, about to expire, live for hours, and exactly now.
  const offsetS = kind < 0.25 ? -Math.floor(r() * 86400) - 1 : kind < 0.3 ? 0 : Math.floor(r() * 86400 * 3);
  const expires = NOW + offsetS * 1e9;
  const g: Record<string, unknown> = {
    id: `g-${i}`,
    role: pick(ROLES),
    scope: r() < 0.3 ? null : { route: pick(ROUTES).name, methods: r() < 0.5 ? ['GET'] : ['POST', 'PUT', 'DELETE'], paths: [pick(['/api/v1/items/*', '/api/**', '/admin', '/**'])] },
    starts_at: '2026-11-28T00:00:00Z',
    expires_at: new Date(expires / 1e6).toISOString(),
    expires_at_ns: expires,
    approved_by: r() < 0.5 ? ['bob'] : [],
    reason: pick(['INC-1 fix', '1h', '', 'ünïcode reason ✓', '90m']),
    ticket: r() < 0.5 ? 'INC-1' : null,
    break_glass: r() < 0.1,
    request_id: `rq-${i}`,
  };
  // Missing fields and odd types: the policy must behave the same in both evaluators.
  if (r() < 0.05) delete g.expires_at_ns;
  if (r() < 0.03) g.expires_at_ns = 2 ** 63; // beyond int64 as JSON text
  if (r() < 0.03) g.scope = { route: 42 };
  return g;
}

function authzCorpus(size: number): Record<string, unknown>[] {
  const r = rng(42);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const inputs: Record<string, unknown>[] = [];
  for (let i = 0; i < size; i++) {
    const path = pick(PATHS);
    const grants = Array.from({ length: Math.floor(r() * r() * 6) }, (_, j) => grant(r, i * 10 + j));
    const input: Record<string, unknown> = {
      request: {
        method: pick(METHODS),
        path,
        segments: path.split('/').filter(Boolean),
        query: r() < 0.3 ? { q: ['1', '2'], 'ä': ['x'] } : {},
        headers: { 'x-size': pick(['10Ki', '5M', '1.5', 'x', '0']), 'x-count': pick(['1', '2.5', '1e3']), 'x-forwarded-for': pick(['10.1.2.3', '192.168.0.1', '::1']) },
        host: 'gateway.local',
      },
      subject: pick(SUBJECTS),
      grants,
      route: pick(ROUTES),
      now_ns: NOW + Math.floor(r() * 1000) * 1e6,
    };
    // A route with policy_body: what became of the body, and the body when it was parsed.
    if (r() < 0.3) {
      const request = input.request as Record<string, unknown>;
      request.body_status = pick(['parsed', 'parsed', 'parsed', 'none', 'too_large', 'malformed', 'unsupported']);
      if (request.body_status === 'parsed') {
        const amount = pick([1, 99.99, 100, 100.0000001, 5000, 10000, 10001, 0, -1, '50', null, 1e300, { n: 1 }]);
        request.body = pick([{ order: 'o-1', amount }, { amount, amount_cents: 5 }, [amount], 'amount', 42, {}]);
      }
    }
    if (r() < 0.04) delete input.grants;
    if (r() < 0.03) delete (input.request as Record<string, unknown>).method;
    if (r() < 0.03) delete input.route;
    inputs.push(input);
  }
  return inputs;
}

/** The corpus's subjects, grants and clocks asking for refunds, as on a route that reads bodies. */
function refundCorpus(size: number): Record<string, unknown>[] {
  const r = rng(7);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  return authzCorpus(size).map((input) => {
    const request: Record<string, unknown> = { ...(input.request as Record<string, unknown>), method: r() < 0.9 ? 'POST' : pick(METHODS), path: '/api/refunds', segments: ['api', 'refunds'] };
    if (r() < 0.9) {
      request.body_status = 'parsed';
      request.body = { order: 'o-1', amount: pick([1, 99.99, 100, 100.0000001, 5000, 10000, 10001, 1e300, 0, '50']) };
    }
    return { ...input, request, route: r() < 0.8 ? ROUTES[3] : input.route };
  });
}

function elevationCorpus(size: number): Record<string, unknown>[] {
  const r = rng(9);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  return Array.from({ length: size }, (_, i) => {
    const requester = pick(SUBJECTS);
    const actor = r() < 0.3 ? requester : pick(SUBJECTS);
    const action = pick(['request', 'approve', 'deny', 'withdraw', 'revoke', 'extend', 'review', 'view', 'audit_read']);
    // Reading the audit trail is about no request: the input has the actor only.
    if (action === 'audit_read') return { action, request: null, actor, requester: null, grant: null, now_ns: NOW };
    return {
      action,
      request: {
        id: r() < 0.2 ? null : `rq-${i}`,
        role: pick(ROLES),
        scope: r() < 0.5 ? null : { route: 'items', methods: ['POST'], paths: ['/api/**'] },
        duration_seconds: pick([60, 900, 3600, 7200, 86400, 0, -5, 1e12]),
        reason: pick(['', 'INC-42 outage', 'ü', 'x'.repeat(300)]),
        ticket: r() < 0.5 ? 'INC-42' : null,
        status: pick(['pending', 'approved', 'denied']),
        requested_at: '2026-11-29T01:00:00Z',
        approvals: r() < 0.5 ? [] : [{ by: 'bob', at: '2026-11-29T01:10:00Z' }],
        extends_grant_id: null,
        extension_count: Math.floor(r() * 4),
      },
      actor,
      requester,
      grant: r() < 0.7 ? null : grant(r, i),
      now_ns: NOW,
    };
  });
}

/**
 * JSON with object keys sorted and arrays sorted. A Rego set arrives as a JSON array in
 * each evaluator's own order (OPA sorts; the wasm module keeps hash order) and JSON cannot
 * tell a set from an array, so element order is not compared (values are).
 */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (Array.isArray(v)) return v.map((e) => canonical(e)).sort().map((e) => JSON.parse(e) as unknown);
    return v !== null && typeof v === 'object'
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v;
  });
}

async function compare(t: { equal: (a: unknown, b: unknown, m: string, e: object) => unknown }, opa: string, dir: string, entrypoint: string, inputs: Record<string, unknown>[], engineOptions: { arenaLimitBytes?: number; passes?: number; onEngine?: (e: PolicyEngine) => void } = {}): Promise<unknown[]> {
  const engine = await engineFor(opa, dir, [entrypoint], engineOptions);
  const expected = await opaEvalMany(opa, dir, `data.${entrypoint.replaceAll('/', '.')}`, inputs);
  let same = 0;
  const failures: string[] = [];
  const passes = engineOptions.passes ?? 1;
  const order = Array.from({ length: passes }, () => inputs.map((input, i) => [input, i] as const)).flat();
  order.forEach(([input, i]) => {
    let actual: unknown;
    try {
      actual = engineEval(engine, entrypoint, input);
    } catch (error) {
      actual = `error: ${(error as Error).message}`;
    }
    if (canonical(actual) === canonical(expected[i])) same++;
    else if (failures.length < 5) failures.push(`input ${i}: ${JSON.stringify(input)}\n  engine ${canonical(actual)}\n  opa    ${canonical(expected[i])}`);
  });
  t.equal(same, order.length, `${dir.split('/').slice(-1)[0]} ${entrypoint}: ${same}/${order.length} identical`, { failures });
  engineOptions.onEngine?.(engine);
  return expected;
}

/**
 * The corpus with every input's grants replaced by one of `poolSize` sealed sets, so each set
 * comes back many times: the path where the engine keeps a set parsed in wasm memory. Most
 * inputs also carry a sealed subject and route (as the gateway builds them), linked in the same way.
 */
function sealedCorpus(size: number, poolSize: number): Record<string, unknown>[] {
  const inputs = authzCorpus(size);
  const pool = inputs.slice(0, poolSize).map((input) => sealGrants(((input.grants ?? []) as PolicyGrant[]).slice()));
  const sealedCopy = new Map<unknown, object>();
  const sealedOf = (value: unknown): unknown => {
    if (typeof value !== 'object' || value === null) return value;
    let copy = sealedCopy.get(value);
    if (copy === undefined) sealedCopy.set(value, copy = seal(structuredClone(value)));
    return copy;
  };
  return inputs.map((input, i) => {
    const out: Record<string, unknown> = 'grants' in input ? { ...input, grants: pool[(i * 7) % poolSize] } : { ...input };
    if (i % 5 !== 0) {
      out.subject = sealedOf(input.subject);
      if ('route' in input) out.route = sealedOf(input.route);
    }
    return out;
  });
}

t.test('engine fixture: authz and elevation', async (t) => {
  const opa = await testOpa();
  const dir = join(FIXTURES, 'policy-basic');
  await compare(t, opa, dir, 'jitgate/authz', authzCorpus(2000));
  await compare(t, opa, dir, 'jitgate/elevation', elevationCorpus(500));
});

t.test('declared builtins applied to the corpus', async (t) => {
  const opa = await testOpa();
  await compare(t, opa, join(FIXTURES, 'policy-builtins'), 'corpus', authzCorpus(2000));
});

const samples = join(import.meta.dirname, '..', '..', 'policies');
t.test('sample policies (policies/)', async (t) => {
  const opa = await testOpa();
  await compare(t, opa, samples, 'jitgate/authz', authzCorpus(2000));
  const decided = (await compare(t, opa, samples, 'jitgate/authz', refundCorpus(600))).map((d) => JSON.stringify(d));
  // The corpus reaches every refund outcome, so the body-reading rules are compared too.
  for (const reason of ['refund within the limit of an active grant', 'this refund needs an active grant of a role whose refund limit covers it',
    'no role may refund this much', 'a refund needs a JSON body whose amount is a positive number',
    'refunds are decided on their amount, and this route does not show the policy request bodies']) {
    t.ok(decided.some((d) => d.includes(reason)), `the corpus reaches "${reason}"`);
  }
  await compare(t, opa, samples, 'jitgate/elevation', elevationCorpus(1000));
});

t.test('sealed members (grant sets, subjects, routes) kept parsed in the module decide as opa eval does', async (t) => {
  const opa = await testOpa();
  const inputs = sealedCorpus(2000, 150);
  // Each set is met again and again, in a different order on the second pass.
  await compare(t, opa, samples, 'jitgate/authz', inputs, { passes: 2 });
  await compare(t, opa, join(FIXTURES, 'policy-builtins'), 'corpus', inputs, { passes: 2 });
  // A cache that holds only a few sets at a time: emptied and refilled hundreds of times.
  await compare(t, opa, samples, 'jitgate/authz', inputs, {
    arenaLimitBytes: 16 * 1024,
    passes: 2,
    onEngine: (engine) => {
      t.ok(engine.grantArenaResets > 50, `the small cache was emptied ${String(engine.grantArenaResets)} times`);
    },
  });
});

t.test('decisions answered from the decision memo are the ones opa eval gives', async (t) => {
  const opa = await testOpa();
  // Grouped by millisecond, as requests arrive: inputs decided in the same one meet the memo.
  const inputs = sealedCorpus(1500, 40).sort((a, b) => (a.now_ns as number) - (b.now_ns as number));
  const expected = await opaEvalMany(opa, samples, 'data.jitgate.authz', inputs);
  const engine = await engineFor(opa, samples, ['jitgate/authz']);
  const plain = await engineFor(opa, samples, ['jitgate/authz'], { decisionMemo: false });
  const outcome = (e: PolicyEngine, input: Record<string, unknown>): string => {
    try {
      return canonical(JSON.parse(JSON.stringify(e.authorize(input as unknown as AuthzInput).result)));
    } catch (error) {
      return `error ${(error as { code?: string }).code ?? ''}`;
    }
  };
  let same = 0;
  let decided = 0;
  const failures: string[] = [];
  inputs.forEach((input, i) => {
    // Twice, and once more as a copy (a new object with the same members): the memo answers both.
    const unmemoized = outcome(plain, input);
    const refused = unmemoized.startsWith('error');
    // A refused input (invalid for the contract) is refused alike, with the same code.
    const want = refused ? unmemoized : canonical(expected[i]);
    if (!refused) decided++;
    const answers = [outcome(engine, input), outcome(engine, input), outcome(engine, { ...input }), unmemoized];
    if (answers.every((a) => a === want)) same++;
    else if (failures.length < 5) failures.push(`input ${String(i)}: ${answers.join(' | ')} | opa ${want}`);
  });
  t.equal(same, inputs.length, `${String(same)}/${String(inputs.length)} identical`, { failures });
  t.ok(decided > inputs.length / 2, `most of the corpus is a valid input (${String(decided)})`);
  t.ok(engine.memoHits >= decided * 2, `the memo answered the repeats (${String(engine.memoHits)} hits)`);
  t.equal(plain.memoHits, 0, 'an engine without the memo evaluates every time');
});
