// The gateway runs git (the bundle revision) and opa (compiling) in a policies folder whose
// .git/config another person may be able to write. Neither child may run a program that config
// names, and neither gets the gateway's environment, where the upstream secrets are.
import t from 'tap';
import { execFile } from 'node:child_process';
import { chmod, cp, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildBundle } from '../../src/policy/index.js';
import { FIXTURES, testOpa } from './helpers.js';

const run = promisify(execFile);
const SECRET_VAR = 'JITGATE_TEST_UPSTREAM_SECRET';
const SECRET = 'sk-live-must-not-reach-children';

async function temp(t: { teardown: (f: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jitgate-git-programs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A script that records that it ran, and with which environment, then does what git expects of `then`. */
async function spy(path: string, marker: string, then: string): Promise<void> {
  await writeFile(path, `#!/bin/sh\nenv > '${marker}'\n${then}\n`);
  await chmod(path, 0o755);
}

function withSecret(t: { teardown: (f: () => void) => void }): void {
  process.env.JITGATE_TEST_UPSTREAM_SECRET = SECRET;
  t.teardown(() => { delete process.env.JITGATE_TEST_UPSTREAM_SECRET; });
}

t.test('programs named by the policies repository config never run, and the revision stays the commit', async (t) => {
  const opa = await testOpa();
  withSecret(t);
  const dir = await temp(t);
  const src = join(dir, 'policies');
  await cp(join(FIXTURES, 'policy-basic'), src, { recursive: true });
  const git = (...args: string[]): Promise<{ stdout: string }> => run('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd: dir });
  await git('init', '-q');
  await writeFile(join(dir, '.gitattributes'), '*.rego filter=evil\n');
  await git('add', '-A');
  await git('commit', '-q', '-m', 'policies');
  // A signed-looking commit, so that log.showSignature hands it to gpg.program.
  const raw = (await git('cat-file', 'commit', 'HEAD')).stdout.replace(/^(committer .*)$/m, '$1\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n -----END PGP SIGNATURE-----');
  const rawFile = join(dir, 'signed-commit');
  await writeFile(rawFile, raw);
  const signed = (await git('hash-object', '-t', 'commit', '-w', rawFile)).stdout.trim();
  await rm(rawFile);
  await git('update-ref', 'HEAD', signed);

  const markers = { fsmonitor: join(dir, 'ran-fsmonitor'), gpg: join(dir, 'ran-gpg'), filter: join(dir, 'ran-filter'), hook: join(dir, 'ran-hook') };
  await spy(join(dir, 'fsmonitor.sh'), markers.fsmonitor, 'echo 0');
  await spy(join(dir, 'gpg.sh'), markers.gpg, 'exit 1');
  await spy(join(dir, 'filter.sh'), markers.filter, 'cat');
  const hooks = join(dir, 'hooks');
  await run('mkdir', [hooks]);
  await spy(join(hooks, 'post-index-change'), markers.hook, 'exit 0');
  await git('config', 'core.fsmonitor', join(dir, 'fsmonitor.sh'));
  await git('config', 'gpg.program', join(dir, 'gpg.sh'));
  await git('config', 'log.showSignature', 'true');
  await git('config', 'filter.evil.clean', join(dir, 'filter.sh'));
  await git('config', 'filter.evil.required', 'true');
  await git('config', 'core.hooksPath', hooks);

  // Each program does run when git is asked plainly (so the set-up above is a real one).
  const later = new Date(Date.now() + 5_000);
  await utimes(join(src, 'authz.rego'), later, later);
  await git('status', '--porcelain');
  await git('log', '-1', '--format=%H');
  t.ok(existsSync(markers.fsmonitor) && existsSync(markers.gpg) && existsSync(markers.filter) && existsSync(markers.hook), 'plain git runs all four');
  t.match(await readFile(markers.fsmonitor, 'utf8'), SECRET, 'with the secret in its environment');
  for (const m of Object.values(markers)) await rm(m);

  const touched = new Date(Date.now() + 10_000);
  await utimes(join(src, 'authz.rego'), touched, touched);
  const built = await buildBundle({ dir: src, opaPath: opa });
  for (const [name, marker] of Object.entries(markers)) t.notOk(existsSync(marker), `the gateway's git ran no ${name} program`);
  t.equal(built.revision, signed, 'the files are as committed: the revision is the commit');

  await writeFile(join(src, 'authz.rego'), `${await readFile(join(src, 'authz.rego'), 'utf8')}\n# changed\n`);
  const changed = await buildBundle({ dir: src, opaPath: opa });
  t.match(changed.revision, new RegExp(`^${signed}-dirty-[0-9a-f]{12}$`), 'a changed file still reads as uncommitted');
  t.notOk(existsSync(markers.filter), 'without running the filter');
});

t.test('opa and git start without the gateway\'s environment', async (t) => {
  const opa = await testOpa();
  withSecret(t);
  const dir = await temp(t);
  const src = join(dir, 'policies');
  await cp(join(FIXTURES, 'policy-basic'), src, { recursive: true });
  const seen = join(dir, 'opa-env');
  const wrapper = join(dir, 'opa');
  await spy(wrapper, seen, `exec '${opa}' "$@"`);
  const built = await buildBundle({ dir: src, opaPath: wrapper });
  t.ok(built.bundle.wasm.length > 0, 'opa compiled through the wrapper');
  const env = await readFile(seen, 'utf8');
  t.notMatch(env, SECRET, 'opa never saw the secret');
  t.notMatch(env, SECRET_VAR, 'nor the variable holding it');
  t.match(env, /^PATH=/m, 'it still has PATH');
});

t.test('a compiled source inside a submodule is named by its content, as a link is', async (t) => {
  const opa = await testOpa();
  const dir = await temp(t);
  const git = (cwd: string, ...args: string[]): Promise<{ stdout: string }> =>
    run('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', '-c', 'protocol.file.allow=always', ...args], { cwd });
  const lib = join(dir, 'lib');
  await run('mkdir', [lib]);
  await cp(join(FIXTURES, 'policy-basic', 'elevation.rego'), join(lib, 'elevation.rego'));
  await git(lib, 'init', '-q');
  await git(lib, 'add', '-A');
  await git(lib, 'commit', '-q', '-m', 'lib');
  const src = join(dir, 'policies');
  await run('mkdir', [src]);
  await cp(join(FIXTURES, 'policy-basic', 'authz.rego'), join(src, 'authz.rego'));
  await cp(join(FIXTURES, 'policy-basic', 'data.json'), join(src, 'data.json'));
  await git(src, 'init', '-q');
  await git(src, 'submodule', '-q', 'add', lib, 'shared');
  await git(src, 'add', '-A');
  await git(src, 'commit', '-q', '-m', 'with the shared rules');
  const first = await buildBundle({ dir: src, opaPath: opa });
  t.ok(first.sources.includes('shared/elevation.rego'), 'the submodule\'s file is compiled');
  t.match(first.revision, /^[0-9a-f]{40}-linked-[0-9a-f]{12}$/, 'a source the commit names only by the submodule\'s commit: named by its content too, as a link is');
  await writeFile(join(src, 'shared', 'elevation.rego'), `${await readFile(join(src, 'shared', 'elevation.rego'), 'utf8')}\n# changed\n`);
  const second = await buildBundle({ dir: src, opaPath: opa });
  t.not(second.revision, first.revision, 'another text inside the submodule is another revision');
});
