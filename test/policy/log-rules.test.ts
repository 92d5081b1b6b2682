// OPA's decision-log rules (package system.log, rules drop and mask): compiled in when the
// policies define them, evaluated by the engine with the decision-log event as input, and
// answering as `opa eval` does for the same event.
import t from 'tap';
import { join } from 'node:path';
import { buildBundle, LOG_DROP_ENTRYPOINT, LOG_MASK_ENTRYPOINT, logRuleEntrypoints } from '../../src/policy/index.js';
import { FIXTURES, opaEvalMany, testOpa } from './helpers.js';

const dir = join(FIXTURES, 'policy-log-rules');
const NOW = 1_795_919_481_000_000_000;

function event(path: string, headers: Record<string, string>, claims: Record<string, unknown>): Record<string, unknown> {
  return {
    decision_id: `d-${path}`,
    timestamp: '2026-11-29T05:00:00.000Z',
    path: 'jitgate/authz',
    input: {
      request: { method: 'GET', path, segments: path.split('/').filter(Boolean), query: {}, headers, host: 'h' },
      subject: { id: 'alice', kind: 'user', groups: ['eng'], claims },
      grants: [],
      route: { name: 'demo', upstream: 'http://127.0.0.1:1', credentials: [] },
      now_ns: NOW,
    },
    result: { allow: true },
    bundles: { jitgate: { revision: 'r' } },
    labels: { id: 'jitgate', version: 'v' },
    metrics: {},
    jitgate: { route: 'demo', subject: 'alice' },
  };
}

t.test('the rules are found in the sources and only those present become entrypoints', (t) => {
  t.same(logRuleEntrypoints(['package system.log\n\ndrop if input.x\n\nmask contains "/input/a"\n']), [LOG_DROP_ENTRYPOINT, LOG_MASK_ENTRYPOINT]);
  t.same(logRuleEntrypoints(['package system.log\n\ndefault drop := false\n']), [LOG_DROP_ENTRYPOINT]);
  t.same(logRuleEntrypoints(['package system.logging\n\ndrop if true\n']), [], 'another package');
  t.same(logRuleEntrypoints(['package jitgate.authz\n\nmask := 1\n']), [], 'a rule named mask elsewhere');
  t.same(logRuleEntrypoints(['package system\n\nlog.mask contains "/input/a"\n\ndefault log.drop := false\n']), [LOG_DROP_ENTRYPOINT, LOG_MASK_ENTRYPOINT], 'package system, rules log.drop and log.mask: the same rules to OPA');
  t.same(logRuleEntrypoints(['package system\n\nmask contains "/input/a"\n']), [], 'data.system.mask is no decision-log rule');
  t.same(logRuleEntrypoints(['package system.log\n\nlog.mask contains "/input/a"\n']), [], 'nor is data.system.log.log.mask');
  t.end();
});

t.test('a bundle with system.log rules: drop, mask and upsert, as opa eval answers them', async (t) => {
  const opa = await testOpa();
  const { engine } = await buildBundle({ dir, opaPath: opa, revision: 'log-rules' });
  const events = [
    event('/healthz', {}, {}),
    event('/api/items', { 'x-note': 'call me at 555-0100', accept: '*/*' }, { email: 'alice@example.com' }),
    event('/api/items', { accept: '*/*' }, {}),
  ];
  const drops = await opaEvalMany(opa, dir, 'data.system.log.drop', events);
  const masks = await opaEvalMany(opa, dir, 'data.system.log.mask', events);
  events.forEach((e, i) => {
    const rules = engine.decisionLogRules(() => JSON.stringify(e));
    t.equal(rules?.drop, drops[i] === true, `event ${String(i)}: drop as opa says`);
    if (!rules?.drop) {
      const sort = (xs: unknown[]): string[] => xs.map((x) => JSON.stringify(x)).sort();
      t.same(sort(rules?.mask ?? []), sort((masks[i] as unknown[] | undefined) ?? []), `event ${String(i)}: the same mask entries as opa`);
    }
  });
  t.same(engine.decisionLogRules(() => JSON.stringify(events[1]))?.mask.length, 2, 'a plain pointer and an upsert');
  t.throws(() => engine.decisionLogRules(() => JSON.stringify(event('/broken', {}, {}))), { code: 'JITGATE_E_POLICY_RESULT_INVALID' }, 'a pointer outside /input and /result is a broken rule');
});

t.test('without system.log rules the event is never even serialized', async (t) => {
  const opa = await testOpa();
  const { engine } = await buildBundle({ dir: join(FIXTURES, 'policy-basic'), opaPath: opa, revision: 'r' });
  let asked = 0;
  t.equal(engine.decisionLogRules(() => { asked++; return '{}'; }), null);
  t.equal(asked, 0);
});

t.test('an event logged after a reload is ruled by the policy that decided it, not the one serving', async (t) => {
  const { cp, mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { PolicyManager } = await import('../../src/policy/index.js');
  const root = await mkdtemp(join(tmpdir(), 'jitgate-log-rules-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const policies = join(root, 'policies');
  await cp(dir, policies, { recursive: true });
  const manager = new PolicyManager({ config: { dir: policies, bundles_dir: join(root, 'bundles'), watch: false, opa_path: await testOpa(), debounce_ms: 10 } });
  await manager.start();
  t.teardown(() => manager.stop());
  const withRules = manager.revision ?? '';
  const e = JSON.stringify(event('/api/a', { 'x-user-email': 'a@example.com' }, {}));
  const asked = manager.decisionLogRules(() => e, withRules);
  t.ok(asked && asked.mask.length > 0, 'the policy masks something in this event');

  await rm(join(policies, 'log.rego'));
  await manager.rebuild();
  t.not(manager.revision, withRules, 'a policy without rules now serves');
  t.equal(manager.decisionLogRules(() => e, manager.revision), null, 'its own decisions have no rules');
  t.same(manager.decisionLogRules(() => e, withRules), asked, 'a decision of the first policy, logged now, is masked as that policy says');
  t.throws(() => manager.decisionLogRules(() => e, 'a-revision-never-served'), { code: 'JITGATE_E_POLICY_NOT_LOADED' },
    'a revision whose rules are not held: the event is not logged unruled (the logger drops and counts it)');
});
