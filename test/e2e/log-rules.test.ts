// OPA's own decision-log rules in a running gateway: a `package system.log` next to the
// policies is compiled in, and its drop and mask rules shape what the decision log holds.
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startDemoUpstream } from '../../src/demo/index.js';
import { buildBundle, defaultCapabilitiesPath, findOpa, runOpa } from '../../src/policy/index.js';
import { demoConfig, demoEnv, repoRoot, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';
import { within } from '../helpers/poll.js';

const LOG_RULES = `package system.log

drop if input.input.request.path == "/api/items/probe"

mask contains "/input/subject/claims"

# A body the policy read is in the decision's input; what must not be kept is masked.
mask contains "/input/request/body/card" if input.input.request.body.card
`;

// The same rules as OPA also reads them in `package system`, their heads references: `opa eval`
// and `opa test` find data.system.log.mask either way, and so must the gateway's build, or the
// decision log keeps what the author masked.
const LOG_RULES_IN_PACKAGE_SYSTEM = `package system

log.drop if input.input.request.path == "/api/items/probe"

log.mask contains "/input/subject/claims"

log.mask contains "/input/request/body/card" if input.input.request.body.card
`;

const CARD = '4111111111111111';

for (const [form, rules] of [['package system.log', LOG_RULES], ['package system, rules log.drop and log.mask', LOG_RULES_IN_PACKAGE_SYSTEM]] as const) {
  t.test(`system.log rules in the policies folder drop and mask decision-log events (${form})`, async (t) => {
    const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
    const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
    t.teardown(() => upstream.close());
    const dir = tempDir('jg-log-rules-');
    const policies = join(dir, 'policies');
    cpSync(join(repoRoot, 'policies'), policies, { recursive: true });
    writeFileSync(join(policies, 'log.rego'), rules);
    const file = writeConfig(dir, demoConfig({
      dir,
      upstreamUrl: upstream.url,
      subjects: { alice: ['eng'] },
      jitgate: { policy: { dir: policies, bundles_dir: join(dir, 'bundles'), watch: false } },
    }));
    const gw = await startGatewayProcess(file, demoEnv(keys));
    let stopped = false;
    t.teardown(async () => { if (!stopped) await gw.stop(); });
    const token = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
    const ids: Record<string, string | null> = {};
    for (const path of ['/api/items', '/api/items/probe']) {
      const res = await fetch(`${gw.proxyUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      ids[path] = res.headers.get('x-jitgate-decision-id');
    }
    // A refund with a card number in its body: decided (denied: alice holds no grant) and logged, the card erased.
    const refund = await fetch(`${gw.proxyUrl}/api/refunds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ order: 'o-7', amount: 40, card: CARD }),
    });
    await refund.arrayBuffer();
    t.equal(refund.status, 403);
    ids.refund = refund.headers.get('x-jitgate-decision-id');
    await gw.stop();
    stopped = true;
    const text = readFileSync(join(dir, 'decisions.jsonl'), 'utf8');
    const events = text.trim().split('\n')
      .map((l) => JSON.parse(l) as { decision_id: string; erased?: string[]; input: { subject: Record<string, unknown>; request: { body?: unknown; body_status?: string } } });
    const logged = events.find((e) => e.decision_id === ids['/api/items']);
    t.ok(logged, 'the ordinary read is logged');
    t.notOk(logged && 'claims' in logged.input.subject, 'the claims the rule names are erased');
    t.same(logged?.erased, ['/input/subject/claims']);
    t.ok(ids['/api/items/probe'], 'the probe was decided (it has a decision id)');
    t.notOk(events.some((e) => e.decision_id === ids['/api/items/probe']), 'but the drop rule kept it out of the log');
    const refundEvent = events.find((e) => e.decision_id === ids.refund);
    t.same(refundEvent?.input.request.body, { order: 'o-7', amount: 40 }, 'the refund is logged with the body the policy read, the card erased');
    t.equal(refundEvent?.input.request.body_status, 'parsed');
    t.ok(refundEvent?.erased?.includes('/input/request/body/card'), 'and the event says so');
    t.notOk(text.includes(CARD), 'the card number is nowhere in the decision log');
  });
}

// A bundle built in CI with the plain `opa build` line (the two jitgate entrypoints only) holds
// the system.log sources but not their rules: served, it would log what they mask. It is refused,
// saying which -e it lacks, and the bundle that has them keeps serving.
t.test('a prebuilt bundle whose sources define system.log rules it was built without is refused', async (t) => {
  const opa = await findOpa();
  if (!opa) throw new Error('opa is not installed: run scripts/ensure-opa.sh');
  const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-log-rules-bundle-');
  const policies = join(dir, 'policies');
  cpSync(join(repoRoot, 'policies'), policies, { recursive: true });
  writeFileSync(join(policies, 'log.rego'), LOG_RULES);
  const bundles = join(dir, 'bundles');
  await buildBundle({ dir: policies, opaPath: opa, outFile: join(bundles, 'jitgate.tar.gz'), revision: 'built-by-jitgate' });
  const plain = await runOpa(opa, ['build', '-t', 'wasm', '-e', 'jitgate/authz', '-e', 'jitgate/elevation', '--capabilities', defaultCapabilitiesPath(),
    '--ignore', '*_test.rego', '--revision', 'plain-opa-build', '-o', join(dir, 'plain.tar.gz'), 'policies'], { cwd: dir });
  t.equal(plain.code, 0, plain.stderr);
  const empty = join(dir, 'no-sources');
  mkdirSync(empty);
  const file = writeConfig(dir, demoConfig({
    dir,
    upstreamUrl: upstream.url,
    subjects: { alice: ['eng'] },
    jitgate: { policy: { dir: empty, bundles_dir: bundles, watch: true } },
  }));
  const gw = await startGatewayProcess(file, demoEnv(keys));
  let stopped = false;
  t.teardown(async () => { if (!stopped) await gw.stop(); });
  renameSync(join(dir, 'plain.tar.gz'), join(bundles, 'ci.tar.gz'));
  const settled = (): boolean => gw.output.some((l) => l.includes('plain-opa-build'));
  t.ok(await within(settled, 15_000), 'the dropped bundle was looked at');
  const token = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  const refund = await fetch(`${gw.proxyUrl}/api/refunds`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ order: 'o-7', amount: 40, card: CARD }),
  });
  const answer = await refund.json() as { error: { policy_revision?: string } };
  t.equal(refund.status, 403);
  t.equal(answer.error.policy_revision, 'built-by-jitgate', 'the bundle with the rules still decides');
  await gw.stop();
  stopped = true;
  const refusal = gw.output.find((l) => l.includes('policy change rejected'));
  t.match(refusal, /system\/log\/drop, system\/log\/mask, but policy\.wasm was built without them: build with -e system\/log\/drop -e system\/log\/mask/, 'the refusal says what to add');
  t.notOk(readFileSync(join(dir, 'decisions.jsonl'), 'utf8').includes(CARD), 'the card number is nowhere in the decision log');
});
