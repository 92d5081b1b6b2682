// Hot reload under load: decisions keep flowing while the policies folder changes 50 times
// (good and broken changes alternating). No decision may fail or mix policies, and the
// revision decisions report changes exactly when a good change lands.
import t, { type Test } from 'tap';
import { cp, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyManager, type AuthzInput, type PolicyEvent } from '../../src/policy/index.js';
import { FIXTURES, testOpa } from './helpers.js';

function versionRule(v: number): string {
  return `package jitgate.authz\n\nversion := ${v}\n`;
}

/** A folder of its own for one test, removed when the test ends. */
async function scratch(t: Test): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'jitgate-reload-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return root;
}

/** A copy of the basic policy fixture at `dir`, with `version.rego` deciding `version` when given. */
async function policyCopy(dir: string, version?: number): Promise<string> {
  await cp(join(FIXTURES, 'policy-basic'), dir, { recursive: true });
  if (version !== undefined) await writeFile(join(dir, 'version.rego'), versionRule(version));
  return dir;
}

/** A started manager on `dir` (its bundles beside it under `root`), stopped when the test ends. */
async function startManager(t: Test, root: string, dir: string, watch: boolean, debounceMs: number): Promise<PolicyManager> {
  const manager = new PolicyManager({ config: { dir, bundles_dir: join(root, 'bundles'), watch, opa_path: await testOpa(), debounce_ms: debounceMs } });
  await manager.start();
  t.teardown(() => manager.stop());
  return manager;
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
  const root = await scratch(t);
  const dir = await policyCopy(join(root, 'policies'));
  const manager = await startManager(t, root, dir, false, 10);
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

/** The version the serving policy decides with. */
function servingVersion(manager: PolicyManager): number {
  return (manager.authorize(input).result as unknown as { version: number }).version;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!check()) throw new Error(`never: ${what}`);
}

t.test('a folder replaced by a deploy (renamed over, or a release symlink swapped) is watched anew and served', async (t) => {
  const root = await scratch(t);
  const release = (name: string, v: number): Promise<string> => policyCopy(join(root, name), v);
  // policy.dir is a link to the current release, as release tools and git-sync lay it out.
  await release('r1', 1);
  const current = join(root, 'current');
  await symlink(join(root, 'r1'), current);
  const manager = await startManager(t, root, current, true, 30);
  t.equal(servingVersion(manager), 1);

  await release('r2', 2);
  await symlink(join(root, 'r2'), join(root, 'current.next'));
  await rename(join(root, 'current.next'), current);
  await until(() => servingVersion(manager) === 2, 'the swapped release serves');
  t.pass('the release the link now points at serves');
  await writeFile(join(root, 'r2', 'version.rego'), versionRule(3));
  await until(() => servingVersion(manager) === 3, 'an edit in the new release serves');
  t.pass('and an edit in it afterwards is seen');
  await writeFile(join(root, 'r1', 'version.rego'), versionRule(9));
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal(servingVersion(manager), 3, 'an edit in the old release is not');
});

t.test('a compiled file that is a link: its text changing under the same commit is a new revision', async (t) => {
  const root = await scratch(t);
  const dir = await policyCopy(join(root, 'policies'));
  await writeFile(join(root, 'shared.rego'), versionRule(1));
  await symlink('../shared.rego', join(dir, 'version.rego'));
  const git = (...args: string[]): string => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: root, encoding: 'utf8' });
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'v1');
  const manager = await startManager(t, root, dir, false, 10);
  const first = manager.revision ?? '';
  t.match(first, /^[0-9a-f]{40}-linked-[0-9a-f]{12}$/, `the commit does not name what the link holds (${first})`);
  await writeFile(join(root, 'shared.rego'), versionRule(2));
  git('commit', '-qam', 'v2 (outside the policies folder)');
  await manager.rebuild();
  t.equal(servingVersion(manager), 2, 'the new text serves');
  t.not(manager.revision, first, 'under a revision of its own');
});

t.test('a file deleted and written again a moment later: the folder without it is never served', async (t) => {
  const root = await scratch(t);
  const dir = await policyCopy(join(root, 'policies'), 1);
  const manager = await startManager(t, root, dir, true, 30);
  const events: PolicyEvent[] = [];
  manager.onEvent((e) => events.push(e));
  const seen = new Set<unknown>();
  const sampler = setInterval(() => seen.add(servingVersion(manager)), 5);
  t.teardown(() => { clearInterval(sampler); });

  await rm(join(dir, 'version.rego'));
  await new Promise((resolve) => setTimeout(resolve, 400));
  await writeFile(join(dir, 'version.rego'), versionRule(2));
  await until(() => servingVersion(manager) === 2, 'the rewritten file serves');
  t.same([...seen].filter((v) => v !== 1 && v !== 2), [], 'no decision was made without the file');
  t.same(events.filter((e) => e.type === 'loaded').length, 1, 'one swap: from the old file to the new');
});

t.test('a deploy that deletes files and copies them back one at a time: the folder without one is never served', async (t) => {
  const root = await scratch(t);
  const dir = await policyCopy(join(root, 'policies'), 1);
  await writeFile(join(dir, 'other.rego'), 'package jitgate.other\n\nx := 1\n');
  const manager = await startManager(t, root, dir, true, 30);
  const seen = new Set<unknown>();
  const sampler = setInterval(() => seen.add(servingVersion(manager)), 5);
  t.teardown(() => { clearInterval(sampler); });

  await rm(join(dir, 'version.rego'));
  await rm(join(dir, 'other.rego'));
  await new Promise((resolve) => setTimeout(resolve, 100));
  // The first file back: a change after the deletions must not cut their settle time short.
  await writeFile(join(dir, 'other.rego'), 'package jitgate.other\n\nx := 2\n');
  await new Promise((resolve) => setTimeout(resolve, 700));
  await writeFile(join(dir, 'version.rego'), versionRule(2));
  await until(() => servingVersion(manager) === 2, 'the copied-back folder serves');
  t.same([...seen].filter((v) => v !== 1 && v !== 2), [], 'no decision was made without version.rego');
});

t.test('a compiled file git is told to look away from (--assume-unchanged, --skip-worktree): its edits never serve under the commit', async (t) => {
  for (const flag of ['--assume-unchanged', '--skip-worktree']) {
    const root = await scratch(t);
    const dir = await policyCopy(join(root, 'policies'), 1);
    const git = (...args: string[]): string => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: root, encoding: 'utf8' });
    git('init', '-q');
    git('add', '.');
    git('commit', '-qm', 'v1');
    const commit = git('rev-parse', 'HEAD').trim();
    git('update-index', flag, 'policies/version.rego');
    const manager = await startManager(t, root, dir, false, 10);
    t.equal(manager.revision, commit, `${flag}, unedited: the commit names what serves`);
    await writeFile(join(dir, 'version.rego'), versionRule(2));
    t.equal(git('status', '--porcelain', '--', 'policies').trim(), '', `${flag}: git status says nothing changed`);
    await manager.rebuild();
    t.equal(servingVersion(manager), 2, `${flag}: the edit serves`);
    t.match(manager.revision, new RegExp(`^${commit}-dirty-[0-9a-f]{12}$`), `${flag}: under a revision that says it is not the commit`);
  }
});

t.test('a change that fails decisions the serving policy made (a result outside the contract, a conflict) is refused before it serves', async (t) => {
  const root = await scratch(t);
  const dir = await policyCopy(join(root, 'policies'), 1);
  const manager = await startManager(t, root, dir, true, 30);
  const events: PolicyEvent[] = [];
  manager.onEvent((e) => events.push(e));
  const serving = manager.revision;
  t.equal(servingVersion(manager), 1, 'a decision the serving policy made');
  const broken = {
    'a result outside the contract': 'package jitgate.authz\n\nversion := 2\n\nobligations := "not an object"\n',
    'a conflict': 'package jitgate.authz\n\nversion := 2\n\nversion := 3 if input.request.method == "GET"\n',
  };
  for (const [what, text] of Object.entries(broken)) {
    const rejected = new Promise<PolicyEvent>((resolve) => {
      const off = manager.onEvent((e) => { off(); resolve(e); });
    });
    await writeFile(join(dir, 'version.rego'), text);
    t.match(await rejected, { type: 'rejected', source: 'policies', error: /fails \d+ of the \d+ latest decisions the serving policy made/ }, `${what}: refused`);
    t.equal(manager.revision, serving, `${what}: the last good policy serves`);
    t.equal(servingVersion(manager), 1, `${what}: and decides`);
  }
  await writeFile(join(dir, 'version.rego'), versionRule(4));
  await until(() => servingVersion(manager) === 4, 'a good change after them serves');
  t.same(events.map((e) => e.type), ['rejected', 'rejected', 'loaded'], 'two refusals, then the good change');
});
