// The sample policies under the target the gateway really runs: `opa build -t wasm`
// evaluated with opa-wasm. `opa test` only exercises OPA's Go interpreter, so this file
// checks that the WebAssembly build decides the demo's key cases the same way, and
// that it agrees with `opa eval` (the interpreter) on every case, field by field.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { x as untar } from 'tar';
import t from 'tap';
import type { AuthzInput, ElevationInput, GrantScope, PolicyGrant, Subject } from '../../src/policy/index.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const policiesDir = join(repoRoot, 'policies');
const opa = process.env.JITGATE_OPA ?? join(repoRoot, '.tools/bin/opa');

// A realistic clock: nanoseconds since the epoch are beyond 2^53, as in the gateway.
const NOW = Date.UTC(2027, 0, 15, 8, 30) * 1e6;
const HOUR_NS = 3600 * 1e9;

const user = (id: string, groups: string[]): Subject => ({ id, kind: 'user', groups, claims: {} });
const alice = user('alice', ['eng']);
const erin = user('erin', ['eng']);
const bob = user('bob', ['eng', 'approvers']);
const dave = user('dave', ['admins', 'approvers']);
const svc: Subject = { id: 'svc-reporting', kind: 'service', groups: ['services', 'reporting'], claims: {} };

function grant(id: string, role: string, scope: GrantScope | null = null, expiresAtNs = NOW + HOUR_NS): PolicyGrant {
  return {
    id, role, scope,
    starts_at: '2027-01-15T08:00:00Z', expires_at: '2027-01-15T09:30:00Z', expires_at_ns: expiresAtNs,
    approved_by: ['bob'], reason: 'fix the import', ticket: null, break_glass: role === 'breakglass', request_id: `req-${id}`,
  };
}

function authz(subject: Subject, method: string, path: string, grants: PolicyGrant[] = []): AuthzInput {
  return {
    request: { method, path, segments: path.split('/').filter((s) => s !== ''), query: {}, headers: { accept: 'application/json' }, host: '127.0.0.1:8080' },
    subject, grants,
    route: { name: 'demo', upstream: 'http://127.0.0.1:9001', credentials: ['readonly', 'writer', 'admin'] },
    now_ns: NOW,
  };
}

function step(action: ElevationInput['action'], role: string, actor: Subject, requester: Subject, over: Partial<ElevationInput['request']> = {}, g: PolicyGrant | null = null): ElevationInput {
  return {
    action, actor, requester, grant: g, now_ns: NOW,
    request: {
      id: 'req-1', role, scope: null, duration_seconds: 3600, reason: 'fix the item import', ticket: 'INC-42',
      status: 'pending', requested_at: '2027-01-15T08:00:00Z', approvals: [], extends_grant_id: null, extension_count: 0, ...over,
    },
  };
}

interface Expect { allow: boolean; [field: string]: unknown }
type Case<I> = [name: string, input: I, expected: Expect];

const authzCases: Case<AuthzInput>[] = [
  ['employee reads', authz(alice, 'GET', '/api/items'), { allow: true, obligations: { credential: 'readonly' } }],
  ['write without grant: hint', authz(alice, 'POST', '/api/items'), { allow: false, elevation: { role: 'writer', max_duration_seconds: 28800 } }],
  ['write with writer grant', authz(alice, 'POST', '/api/items', [grant('g1', 'writer')]), { allow: true, obligations: { credential: 'writer' }, grant_ids: ['g1'] }],
  ['expired grant ignored', authz(alice, 'PUT', '/api/items/1', [grant('g1', 'writer', null, NOW - 1e9)]), { allow: false }],
  ['grant expiring now ignored', authz(alice, 'PUT', '/api/items/1', [grant('g1', 'writer', null, NOW)]), { allow: false }],
  ['grant ids sorted', authz(alice, 'DELETE', '/api/items/1', [grant('g9', 'writer'), grant('g2', 'admin')]), { allow: true, grant_ids: ['g2', 'g9'] }],
  ['scope * one segment', authz(alice, 'PUT', '/api/items/7', [grant('g1', 'writer', { paths: ['/api/items/*'] })]), { allow: true }],
  ['scope * not deeper', authz(alice, 'PUT', '/api/items/7/tags', [grant('g1', 'writer', { paths: ['/api/items/*'] })]), { allow: false }],
  ['scope ** any depth', authz(alice, 'PUT', '/api/items/7/tags/1', [grant('g1', 'writer', { paths: ['/api/items/**'] })]), { allow: true }],
  ['scope other route', authz(alice, 'POST', '/api/items', [grant('g1', 'writer', { route: 'billing' })]), { allow: false }],
  ['scope other method', authz(alice, 'DELETE', '/api/items/1', [grant('g1', 'writer', { methods: ['POST'] })]), { allow: false }],
  ['admin without grant: hint', authz(dave, 'GET', '/admin/users'), { allow: false, elevation: { role: 'admin', max_duration_seconds: 3600, require_ticket: true } }],
  ['writer grant does not open admin', authz(alice, 'POST', '/admin/rotate-keys', [grant('g1', 'writer')]), { allow: false }],
  ['admin grant opens admin', authz(alice, 'POST', '/admin/rotate-keys', [grant('g1', 'admin')]), { allow: true, obligations: { credential: 'admin' } }],
  ['breakglass opens admin', authz(bob, 'GET', '/admin/users', [grant('bg', 'breakglass')]), { allow: true, grant_ids: ['bg'] }],
  ['dot segments refused', authz(alice, 'GET', '/api/../admin/users', [grant('g1', 'admin')]), { allow: false }],
  ['encoded dots refused', authz(alice, 'GET', '/api/%2E%2E/admin/users', [grant('g1', 'admin')]), { allow: false }],
  ['unknown path: no hint', authz(alice, 'GET', '/metrics'), { allow: false }],
  ['service reads reports', authz(svc, 'GET', '/api/reports/daily'), { allow: true, obligations: { credential: 'readonly' } }],
  ['service outside its permission', authz(svc, 'GET', '/api/items'), { allow: false }],
  ['service ignores grants', authz(svc, 'POST', '/api/items', [grant('g1', 'writer')]), { allow: false }],
];

const elevationCases: Case<ElevationInput>[] = [
  ['writer request', step('request', 'writer', alice, alice, { status: 'new', ticket: null }), { allow: true, approvals_required: 1, max_extensions: 2 }],
  ['admin request without ticket', step('request', 'admin', alice, alice, { status: 'new', ticket: null }), { allow: false, reason: 'role admin requires a ticket' }],
  ['duration over the maximum', step('request', 'writer', alice, alice, { duration_seconds: 28801 }), { allow: false, reason: 'the duration must be between 1 and 28800 seconds' }],
  ['breakglass short reason', step('request', 'breakglass', erin, erin, { reason: 'outage' }), { allow: false, reason: 'a reason of at least 10 characters is required' }],
  ['breakglass auto-approved', step('request', 'breakglass', erin, erin, { reason: 'prod outage INC-9' }), { allow: true, auto_approve: true, break_glass: true, approvals_required: 0 }],
  ['service cannot request', step('request', 'writer', svc, svc), { allow: false }],
  ['approver approves', step('approve', 'writer', bob, alice), { allow: true }],
  ['admin self-approval refused', step('approve', 'admin', dave, dave), { allow: false, reason: 'nobody approves or denies their own request' }],
  ['case trick self-approval refused', step('approve', 'writer', { ...bob, id: 'BOB' }, bob), { allow: false }],
  ['second approval by same approver', step('approve', 'admin', bob, alice, { approvals: [{ by: 'bob', at: '2027-01-15T08:05:00Z' }] }), { allow: false }],
  ['not pending', step('approve', 'writer', bob, alice, { status: 'approved' }), { allow: false }],
  ['withdraw by requester', step('withdraw', 'writer', alice, alice), { allow: true }],
  ['revoke by admin', step('revoke', 'writer', dave, alice, {}, grant('g1', 'writer')), { allow: true }],
  ['revoke by bystander', step('revoke', 'writer', erin, alice, {}, grant('g1', 'writer')), { allow: false }],
  ['extend writer', step('extend', 'writer', alice, alice, { extension_count: 1 }, grant('g1', 'writer')), { allow: true }],
  ['extend past the limit', step('extend', 'writer', alice, alice, { extension_count: 2 }, grant('g1', 'writer')), { allow: false, reason: 'role writer allows at most 2 extensions' }],
  ['extend expired grant', step('extend', 'writer', alice, alice, {}, grant('g1', 'writer', null, NOW - 1e9)), { allow: false }],
  ['review own break glass', step('review', 'breakglass', dave, dave, {}, grant('bg', 'breakglass')), { allow: false }],
  ['review by approver', step('review', 'breakglass', bob, erin, {}, grant('bg', 'breakglass')), { allow: true }],
];

t.test('sample policies compiled to wasm', async (t) => {
  if (!existsSync(opa)) {
    t.fail(`opa not found at ${opa} (set JITGATE_OPA or run scripts/ensure-opa.sh)`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'jg-sample-policies-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });

  const bundle = join(dir, 'bundle.tar.gz');
  await run(opa, ['build', '-t', 'wasm', '-e', 'jitgate/authz', '-e', 'jitgate/elevation', '--ignore', '*_test.rego', '-o', bundle, policiesDir], { cwd: dir });
  await untar({ file: bundle, cwd: dir });
  const policy = await loadPolicy(readFileSync(join(dir, 'policy.wasm')));
  policy.setData(JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8')) as object);

  // An undefined decision comes back as an empty set; the test then fails on its fields.
  const wasm = (input: unknown, entrypoint: string): Record<string, unknown> => {
    const set = policy.evaluate(input, entrypoint) as { result: Record<string, unknown> }[];
    return set[0]?.result ?? {};
  };

  // The interpreter's answers for every case, in one `opa eval`.
  writeFileSync(join(dir, 'input.json'), JSON.stringify({ authz: authzCases.map((c) => c[1]), elevation: elevationCases.map((c) => c[1]) }));
  const query = '{"authz": [d | some c in input.authz; d := data.jitgate.authz with input as c], '
    + '"elevation": [d | some c in input.elevation; d := data.jitgate.elevation with input as c]}';
  const { stdout } = await run(opa, ['eval', '--format', 'json', '--ignore', '*_test.rego', '-d', policiesDir, '-i', join(dir, 'input.json'), query], { maxBuffer: 16 << 20 });
  const interpreted = (JSON.parse(stdout) as { result: { expressions: { value: { authz: unknown[]; elevation: unknown[] } }[] }[] })
    .result[0]!.expressions[0]!.value;

  t.test('authz', (t) => {
    authzCases.forEach(([name, input, expected], i) => {
      const result = wasm(input, 'jitgate/authz');
      t.match(result, expected, name);
      t.type(result.reason, 'string', `${name}: reason is a string`);
      if (expected.allow) t.notOk('elevation' in result, `${name}: no hint on allow`);
      t.same(result, interpreted.authz[i], `${name}: wasm and interpreter agree`);
    });
    t.end();
  });

  t.test('elevation', (t) => {
    elevationCases.forEach(([name, input, expected], i) => {
      const result = wasm(input, 'jitgate/elevation');
      t.match(result, expected, name);
      t.type(result.reason, 'string', `${name}: reason is a string`);
      t.same(result, interpreted.elevation[i], `${name}: wasm and interpreter agree`);
    });
    t.end();
  });

  t.test('hostile or empty input still yields a defined deny', (t) => {
    for (const input of [{}, { request: { path: 7 } }, { subject: { kind: 'user' } }, 'garbage']) {
      for (const entrypoint of ['jitgate/authz', 'jitgate/elevation']) {
        const result = wasm(input, entrypoint);
        t.equal(result.allow, false, `${entrypoint} ${JSON.stringify(input)}`);
        t.type(result.reason, 'string');
      }
    }
    t.end();
  });
});
