// Hot reload under load: decisions keep flowing while the policies folder changes 50 times
// (good and broken changes alternating). No decision may fail or mix policies, and the
// revision decisions report changes exactly when a good change lands.
import t from 'tap';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyManager, type AuthzInput, type PolicyEvent } from '../../src/policy/index.js';
import { FIXTURES, testOpa } from './helpers.js';

function versionRule(v: number): string {
  return `package jitgate.authz\n\nversion := ${v}\n`;
}

const input: AuthzInput = {
  request: { method: 'GET', path: '/api/v1/items', segments: ['api', 'v1', 'items'], query: {}, headers: {}, host: 'h' },
  subject: { id: 'alice', kind: 'user', groups: ['eng'], claims: {} },
  grants: [],
  route: { name: 'items', upstream: 'http://127.0.0.1:1', credentials: [] },
  now_ns: 1_795_919_481_000_000_000,
};

t.test('50 reloads under continuous decisions', async (t) => {
  const opa = await testOpa();
  const root = await mkdtemp(join(tmpdir(), 'jitgate-reload-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'policies');
  await cp(join(FIXTURES, 'policy-basic'), dir, { recursive: true });
  await writeFile(join(dir, 'version.rego'), versionRule(0));
  const manager = new PolicyManager({ config: { dir, bundles_dir: join(root, 'bundles'), watch: true, opa_path: opa, debounce_ms: 30 } });
  const events: PolicyEvent[] = [];
  manager.onEvent((e) => events.push(e));
  await manager.start();
  t.teardown(() => manager.stop());

  // Which version each revision serves; a decision must always match its revision.
  const versionOf = new Map<string, number>([[manager.revision!, 0]]);
  let decisions = 0;
  let failures = 0;
  let wrong = 0;
  let running = true;
  const loop = (): void => {
    for (let i = 0; i < 50; i++) {
      try {
        const d = manager.authorize(input);
        const r = d.result as unknown as { allow: boolean; version: number };
        if (!r.allow || versionOf.get(d.revision) !== r.version) wrong++;
        decisions++;
      } catch {
        failures++;
      }
    }
    if (running) setImmediate(loop);
  };
  setImmediate(loop);

  const nextEvent = (): Promise<PolicyEvent> =>
    new Promise((resolve) => {
      const off = manager.onEvent((e) => {
        off();
        resolve(e);
      });
    });

  let expectedRevision = manager.revision;
  let revisionChanges = 0;
  for (let i = 1; i <= 50; i++) {
    const good = i % 2 === 0;
    const event = nextEvent();
    // Broken changes alternate between a syntax error and a builtin jitgate cannot run.
    const text = good ? versionRule(i) : i % 4 === 1 ? 'package jitgate.authz\n\nversion := {\n' : 'package jitgate.authz\n\nversion := http.send({"method": "get", "url": "http://x"}).status_code\n';
    await writeFile(join(dir, 'version.rego'), text);
    // Editor noise next to the change must not matter.
    await writeFile(join(dir, '.version.rego.swp'), 'garbage');
    const e = await event;
    if (good) {
      t.equal(e.type, 'loaded', `change ${i} (good) loaded`);
      t.not(manager.revision, expectedRevision, `change ${i} gives a new revision`);
      versionOf.set(manager.revision!, i);
      expectedRevision = manager.revision;
      revisionChanges++;
    } else {
      t.equal(e.type, 'rejected', `change ${i} (broken) rejected`);
      t.equal(manager.revision, expectedRevision, `change ${i} leaves the revision as it was`);
    }
  }
  running = false;
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(revisionChanges, 25, '25 good changes, 25 new revisions');
  t.equal(failures, 0, 'no decision failed');
  t.equal(wrong, 0, 'no decision was wrong or mixed policies');
  t.ok(decisions > 1000, `decisions kept flowing (${decisions})`);
  t.equal(events.filter((e) => e.type === 'loaded').length, 26, 'initial load + 25 good changes reported');
  t.equal(events.filter((e) => e.type === 'rejected').length, 25, '25 broken changes reported');
  t.match(events.find((e) => e.type === 'rejected'), { error: /version\.rego:\d+/ }, 'a rejection says file:line');
});

t.test('the same sources rebuilt: nothing to report; a reverted break clears the error', async (t) => {
  const opa = await testOpa();
  const root = await mkdtemp(join(tmpdir(), 'jitgate-reload-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'policies');
  await cp(join(FIXTURES, 'policy-basic'), dir, { recursive: true });
  const manager = new PolicyManager({ config: { dir, bundles_dir: join(root, 'bundles'), watch: false, opa_path: opa, debounce_ms: 10 } });
  await manager.start();
  t.teardown(() => manager.stop());
  const events: PolicyEvent[] = [];
  manager.onEvent((e) => events.push(e));
  const serving = manager.revision;

  await manager.rebuild();
  t.same(events, [], 'unchanged sources: no event');
  const good = await readFile(join(dir, 'authz.rego'), 'utf8');
  await writeFile(join(dir, 'authz.rego'), `${good}\nbroken := {\n`);
  await manager.rebuild();
  await manager.rebuild();
  t.same(events.map((e) => e.type), ['rejected'], 'a broken change saved twice is reported once');
  t.ok(manager.status.last_error);
  await writeFile(join(dir, 'authz.rego'), good);
  await manager.rebuild();
  t.equal(manager.revision, serving, 'reverted: the same policy serves');
  t.equal(manager.status.last_error, null, 'and the error is cleared');
  t.equal(events.length, 1);
});
