// The engine's contract: decisions carry revision, id and timing; every failure denies
// with its own error code (fail closed); bundles that cannot serve are refused at load.
import t from 'tap';
import { mkdtemp, rm, writeFile, readFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isJitgateError } from '../../src/errors.js';
import { buildBundle, parseBundle, PolicyEngine, runOpa, sealGrants, type AuthzInput, type ElevationInput, type PolicyGrant } from '../../src/policy/index.js';
import { FIXTURES, testOpa } from './helpers.js';

const NOW = 1_795_919_481_000_000_000;
const base: AuthzInput = {
  request: { method: 'POST', path: '/api/v1/items/7', segments: ['api', 'v1', 'items', '7'], query: {}, headers: {}, host: 'h' },
  subject: { id: 'alice', kind: 'user', groups: ['eng'], claims: {} },
  grants: [],
  route: { name: 'items', upstream: 'http://127.0.0.1:1', credentials: ['items-token'] },
  now_ns: NOW,
};
const grant = {
  id: 'g1', role: 'writer', scope: { route: 'items', methods: ['POST'], paths: ['/api/v1/items/*'] },
  starts_at: '2026-11-29T00:00:00Z', expires_at: '2026-11-29T03:00:00Z', expires_at_ns: NOW + 3600e9,
  approved_by: ['bob'], reason: 'INC-1', ticket: 'INC-1', break_glass: false, request_id: 'r1',
};

async function tempPolicies(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jitgate-engine-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

const elevationOk = 'package jitgate.elevation\n\ndefault allow := false\n';

t.test('decisions from the fixture bundle', async (t) => {
  const opa = await testOpa();
  const { engine, revision } = await buildBundle({ dir: join(FIXTURES, 'policy-basic'), opaPath: opa, revision: 'rev-1' });
  t.equal(revision, 'rev-1');
  const deny = engine.authorize(base);
  t.equal(deny.result.allow, false, 'no grant: denied');
  t.same(deny.result.elevation, { role: 'admin', max_duration_seconds: 3600 }, 'deny carries the elevation hint from data.json (setData works)');
  t.equal(deny.revision, 'rev-1');
  t.match(deny.decision_id, /^[0-9a-f-]{36}$/);
  t.ok(deny.eval_ns > 0);
  const allow = engine.authorize({ ...base, grants: [grant] });
  t.equal(allow.result.allow, true, 'a live matching grant allows');
  t.same(allow.result.grant_ids, ['g1']);
  t.not(allow.decision_id, deny.decision_id, 'decision ids are unique');
  const expired = engine.authorize({ ...base, grants: [{ ...grant, expires_at_ns: NOW - 1 }] });
  t.equal(expired.result.allow, false, 'an expired grant (by now_ns) does not allow');
  const later = engine.authorize({ ...base, grants: [grant], now_ns: NOW + 7200e9 });
  t.equal(later.result.allow, false, 'time.now_ns follows the input now_ns');
  const elevation: ElevationInput = {
    action: 'approve',
    request: { id: 'r1', role: 'admin', scope: null, duration_seconds: 600, reason: 'x', ticket: null, status: 'pending', requested_at: null, approvals: [], extends_grant_id: null, extension_count: 0 },
    actor: { id: 'alice', kind: 'user', groups: ['leads'], claims: {} },
    requester: { id: 'alice', kind: 'user', groups: ['eng'], claims: {} },
    grant: null,
    now_ns: NOW,
  };
  t.equal(engine.elevation(elevation).result.allow, false, 'self-approval refused by the fixture');
  t.equal(engine.elevation({ ...elevation, requester: { id: 'erin', kind: 'user', groups: ['eng'], claims: {} } }).result.allow, true);
});

t.test('malformed input is refused before evaluation', async (t) => {
  const opa = await testOpa();
  const { engine } = await buildBundle({ dir: join(FIXTURES, 'policy-basic'), opaPath: opa, revision: 'r' });
  const bad = { ...base, subject: { ...base.subject, kind: 'robot' } } as unknown as AuthzInput;
  t.throws(() => engine.authorize(bad), { code: 'JITGATE_E_POLICY_INPUT_INVALID' });
  const noNow = { ...base, now_ns: undefined } as unknown as AuthzInput;
  t.throws(() => engine.authorize(noNow), { code: 'JITGATE_E_POLICY_INPUT_INVALID' });
  const badGrant = { ...grant, role: 7 } as unknown as PolicyGrant;
  t.throws(() => engine.authorize({ ...base, grants: [badGrant] }), { code: 'JITGATE_E_POLICY_INPUT_INVALID', message: /grants\/0\/role/ });
  const sealedBad = sealGrants([badGrant]);
  for (let i = 0; i < 2; i++) {
    t.throws(() => engine.authorize({ ...base, grants: sealedBad }), { code: 'JITGATE_E_POLICY_INPUT_INVALID' }, `a sealed set with a bad grant is refused every time (${String(i + 1)})`);
  }
});

t.test('a sealed grant set decides like the same grants in a plain array, and its decision logs the whole input', async (t) => {
  const opa = await testOpa();
  const { engine } = await buildBundle({ dir: join(FIXTURES, 'policy-basic'), opaPath: opa, revision: 'r' });
  const set = sealGrants([{ ...grant }]);
  const other = sealGrants([{ ...grant, id: 'g2', expires_at_ns: NOW - 1 }]);
  for (let i = 0; i < 3; i++) {
    const a = engine.authorize({ ...base, grants: set });
    t.equal(a.result.allow, true);
    t.same(a.result.grant_ids, ['g1']);
    t.same(JSON.parse(a.input_json ?? '{}'), { ...base, grants: [grant] }, 'input_json is the whole input, grants included');
    const b = engine.authorize({ ...base, grants: other });
    t.equal(b.result.allow, false, 'another cached set in between does not leak into the next decision');
    t.equal(engine.authorize(base).result.allow, false, 'nor does an empty plain array');
  }
});

t.test('the decision memo answers only an input it has seen, in the same millisecond', async (t) => {
  const opa = await testOpa();
  const { engine } = await buildBundle({ dir: join(FIXTURES, 'policy-basic'), opaPath: opa, revision: 'r' });
  // A grant that expires exactly at the next millisecond.
  const set = sealGrants([{ ...grant, expires_at_ns: NOW + 1e6 }]);
  const first = engine.authorize({ ...base, grants: set });
  t.equal(first.result.allow, true);
  const again = engine.authorize({ ...base, grants: set });
  t.equal(engine.memoHits, 1, 'the same input in the same millisecond is answered from the memo');
  t.same(again.result, first.result, 'with the same result');
  t.not(again.decision_id, first.decision_id, 'as a decision of its own');
  t.equal(again.answered_from, first.decision_id, 'naming the decision it repeats');
  t.equal(first.answered_from, undefined, 'an evaluated decision names none');
  t.ok(Object.isFrozen(again.result), 'a result handed to several decisions cannot be changed by one of them');
  t.same(JSON.parse(again.input_json ?? '{}'), { ...base, grants: [{ ...grant, expires_at_ns: NOW + 1e6 }] }, 'and its whole input for the log');

  // What the grant cache hands over after a revoke: a new set, here without the grant.
  t.equal(engine.authorize({ ...base, grants: sealGrants([]) }).result.allow, false, 'a revoke in the same millisecond is decided afresh: denied');
  t.equal(engine.authorize({ ...base, grants: set, request: { ...base.request, path: '/api/v1/admin', segments: ['api', 'v1', 'admin'] } }).result.allow, false,
    'another path is decided afresh');
  t.equal(engine.authorize({ ...base, grants: set, now_ns: NOW + 1e6 }).result.allow, false, 'the next millisecond is decided afresh: the grant has expired');
  t.equal(engine.authorize({ ...base, grants: set }).result.allow, true, 'a request decided late (its millisecond past) is still decided on its own input');
  t.equal(engine.memoHits, 1, 'none of these came from the memo');
  engine.authorize({ ...base, grants: set });
  t.equal(engine.memoHits, 2, 'after a clock that stepped back, the memo holds that millisecond again');

  const { bundle } = await buildBundle({ dir: join(FIXTURES, 'policy-basic'), opaPath: opa, revision: 'r' });
  const plain = await PolicyEngine.load(bundle, undefined, { decisionMemo: false });
  plain.authorize({ ...base, grants: set });
  plain.authorize({ ...base, grants: set });
  t.equal(plain.memoHits, 0, 'decisionMemo: false evaluates every time');
});

t.test('every policy failure denies with its own code', async (t) => {
  const opa = await testOpa();
  const cases: [string, string, string][] = [
    ['undefined decision', 'package jitgate.authz\n\nallow if input.nope == 1\n', 'JITGATE_E_POLICY_UNDEFINED'],
    ['malformed result', 'package jitgate.authz\n\nallow := "yes"\n', 'JITGATE_E_POLICY_RESULT_INVALID'],
    ['malformed hint', 'package jitgate.authz\n\nallow := false\n\nelevation := {"role": 7}\n', 'JITGATE_E_POLICY_RESULT_INVALID'],
    ['evaluation error (conflicting values)', 'package jitgate.authz\n\nallow := false\n\nreason := "a" if input.now_ns > 0\n\nreason := "b" if input.now_ns > 1\n', 'JITGATE_E_POLICY_EVAL'],
  ];
  for (const [name, rego, code] of cases) {
    const dir = await tempPolicies({ 'authz.rego': rego, 'elevation.rego': elevationOk });
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const { engine } = await buildBundle({ dir, opaPath: opa, revision: 'r' });
    const thrown = (() => {
      try {
        engine.authorize(base);
        return null;
      } catch (error) {
        return error;
      }
    })();
    t.ok(isJitgateError(thrown), `${name}: a JitgateError, never an allow`);
    t.equal((thrown as { code?: string }).code, code, `${name}: ${code}`);
    t.equal((thrown as { status?: number }).status, 503, `${name}: maps to 503`);
    t.notMatch((thrown as Error).message, /\[object Object\]|undefined$/, `${name}: a readable message (${(thrown as Error).message})`);
  }
});

t.test('bundles that cannot serve are refused at load', async (t) => {
  const opa = await testOpa();
  const dir = await mkdtemp(join(tmpdir(), 'jitgate-bundles-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Built by plain opa (no jitgate capabilities): http.send compiles, but the engine has no such builtin.
  await mkdir(join(dir, 'src'));
  await writeFile(join(dir, 'src', 'a.rego'), 'package jitgate.authz\n\nallow if http.send({"method": "get", "url": input.u}).status_code == 200\n');
  await writeFile(join(dir, 'src', 'e.rego'), elevationOk);
  const out = join(dir, 'b.tar.gz');
  const run = await runOpa(opa, ['build', '-t', 'wasm', '-e', 'jitgate/authz', '-e', 'jitgate/elevation', '-o', out, join(dir, 'src')]);
  t.equal(run.code, 0);
  await t.rejects(PolicyEngine.load(parseBundle(await readFile(out))), { code: 'JITGATE_E_BUNDLE_INVALID', message: /http\.send/ });
  // One entrypoint missing.
  await runOpa(opa, ['build', '-t', 'wasm', '-e', 'jitgate/elevation', '-o', out, join(dir, 'src', 'e.rego')]);
  await t.rejects(PolicyEngine.load(parseBundle(await readFile(out))), { code: 'JITGATE_E_BUNDLE_INVALID', message: /jitgate\/authz/ });
  t.throws(() => parseBundle(new Uint8Array([1, 2, 3])), { code: 'JITGATE_E_BUNDLE_INVALID' });
});
