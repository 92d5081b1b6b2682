// `jitgate build` and the capabilities file: clear compile errors with file:line, builtins
// the engine lacks refused at compile time, tests and editor files never compiled, the
// committed opa/capabilities.json what the generator produces, and a gateway without opa
// serving the prebuilt bundle.
import t from 'tap';
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { cp, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { buildBundle, defaultCapabilitiesPath, generateCapabilities, PolicyManager, serializeCapabilities } from '../../src/policy/index.js';
import { untar } from '../../src/policy/bundle.js';
import { FIXTURES, testOpa } from './helpers.js';
import { nullDevice } from '../helpers/null-device.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');

async function temp(t: { teardown: (f: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jitgate-build-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('opa/capabilities.json is what the generator produces', async (t) => {
  const opa = await testOpa();
  const committed = await readFile(defaultCapabilitiesPath(), 'utf8');
  t.equal(serializeCapabilities(await generateCapabilities(opa)), committed, 'regenerate with: node --import tsx scripts/gen-capabilities.ts');
  const caps = JSON.parse(committed) as { features: string[]; builtins: { name: string }[] };
  t.ok(caps.features.includes('rego_v1'));
  t.ok(caps.features.includes('template_strings'), 'template strings: the wasm module renders them itself (probed)');
  const names = caps.builtins.map((b) => b.name);
  for (const name of ['time.now_ns', 'time.parse_rfc3339_ns', 'glob.match', 'sprintf']) t.ok(names.includes(name), `${name} declared`);
  for (const name of ['http.send', 'io.jwt.decode', 'uuid.rfc4122', 'rand.intn', 'time.format']) t.notOk(names.includes(name), `${name} not declared`);
  for (const name of ['regex.split', 'yaml.unmarshal', 'yaml.marshal', 'yaml.is_valid', 'json.is_valid', 'to_number']) t.notOk(names.includes(name), `${name} not declared: it runs, but not as opa eval decides`);
});

t.test('jitgate build: errors with file:line and a non-zero exit', async (t) => {
  const opa = await testOpa();
  const dir = await temp(t);
  await writeFile(join(dir, 'authz.rego'), 'package jitgate.authz\n\nallow if {\n\tinput.x ==\n}\n');
  const cli = ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'build', '--opa', opa, '-d', dir, '-o', join(dir, 'out.tar.gz')];
  const failed = await run(process.execPath, cli, { cwd: ROOT }).then(() => null, (e: unknown) => e as { code: number; stderr: string });
  t.ok(failed, 'exit status is non-zero');
  t.equal(failed?.code, 1);
  t.match(failed?.stderr, /authz\.rego:5: rego_parse_error/, 'opa\'s file:line reaches the user');
  t.notMatch(failed?.stderr, /jitgate-staging-/, 'no staging paths in messages');

  await writeFile(join(dir, 'authz.rego'), 'package jitgate.authz\n\nallow if http.send({"method": "get", "url": input.u}).status_code == 200\n');
  await t.rejects(buildBundle({ dir, opaPath: opa }), {
    code: 'JITGATE_E_POLICY_COMPILE',
    message: /authz\.rego:3: rego_type_error: undefined function http\.send.*not available to jitgate policies/,
  }, 'an unsupported builtin fails at build time, not at request time');

  await writeFile(join(dir, 'authz.rego'), 'package jitgate.authz\n\nallow if "admin" in regex.split("[[:space:]]+", input.roles)\n');
  await t.rejects(buildBundle({ dir, opaPath: opa }), {
    code: 'JITGATE_E_POLICY_COMPILE',
    message: /undefined function regex\.split.*JavaScript regular expressions, not RE2.*would not decide as opa eval does/,
  }, 'a builtin that would decide otherwise than opa eval is refused, saying why');

  // "-1e400" from a caller: the wasm module makes it an infinity, which is <= 100; OPA gives no number.
  await writeFile(join(dir, 'authz.rego'), 'package jitgate.authz\n\nallow if to_number(input.request.query.limit[0]) <= 100\n');
  await t.rejects(buildBundle({ dir, opaPath: opa }), {
    code: 'JITGATE_E_POLICY_COMPILE',
    message: /undefined function to_number.*infinity where OPA gives no number.*units\.parse/,
  }, 'to_number is refused too, with what to use instead');
});

t.test('replace() with a pattern a caller could make empty is refused at build (the wasm engine would never return)', async (t) => {
  const opa = await testOpa();
  const dir = await temp(t);
  await writeFile(join(dir, 'elevation.rego'), 'package jitgate.elevation\n\ndefault allow := false\n');
  const authz = (body: string): string => `package jitgate.authz\n\ndefault allow := false\n\nallow if ${body}\n`;
  await writeFile(join(dir, 'authz.rego'), authz('replace(input.request.path, input.request.headers["x-tenant"], "") == "/"'));
  await t.rejects(buildBundle({ dir, opaPath: opa }), {
    code: 'JITGATE_E_POLICY_COMPILE',
    message: /authz\.rego:5: replace\(\) with a pattern that is not a non-empty constant/,
  }, 'a pattern from the input');
  await writeFile(join(dir, 'authz.rego'), authz('replace(input.request.path, "", "x") == "/"'));
  await t.rejects(buildBundle({ dir, opaPath: opa }), { code: 'JITGATE_E_POLICY_COMPILE', message: /replace\(\) with a pattern/ }, 'an empty constant');
  await writeFile(join(dir, 'authz.rego'), authz('replace(input.request.path, "/api", "") == "/items"'));
  const built = await buildBundle({ dir, opaPath: opa });
  t.ok(built.engine, 'a non-empty constant pattern builds');
});

t.test('tests and editor files are not compiled; stable bundle name; revision', async (t) => {
  const opa = await testOpa();
  const dir = await temp(t);
  const src = join(dir, 'policies');
  await cp(join(FIXTURES, 'policy-basic'), src, { recursive: true });
  await writeFile(join(src, 'broken_test.rego'), 'this is not rego');
  await writeFile(join(src, '.authz.rego.swp'), 'binary swap junk');
  await writeFile(join(src, 'authz.rego~'), 'package broken {');
  const out = join(dir, 'bundles', 'jitgate.tar.gz');
  const result = await buildBundle({ dir: src, opaPath: opa, outFile: out });
  t.same(result.sources, ['authz.rego', 'data.json', 'elevation.rego']);
  t.match(result.revision, /^nogit-[0-9a-f]{12}$/, 'outside git: a content revision');
  const files = [...untar(gunzipSync(await readFile(out))).keys()];
  t.ok(files.includes('policy.wasm') && files.includes('data.json') && files.includes('.manifest'), 'an OPA bundle at bundles/jitgate.tar.gz');
  t.notOk(files.some((f) => f.includes('_test') || f.includes('swp') || f.endsWith('~')), 'no tests or editor files inside');

  // `jitgate build -o /dev/null` to check that the policies compile, run as root: the bundle
  // must not be renamed onto the device.
  const device = nullDevice(t);
  if (device !== null) {
    await t.rejects(buildBundle({ dir: src, opaPath: opa, outFile: device }), { code: 'JITGATE_E_VALIDATION', message: /is a device: not replacing it/ });
    t.ok(statSync(device).isCharacterDevice(), 'an output path naming a device is refused, and the device stays');
  } else {
    t.comment('device case skipped: no device can be made here (needs root; CI runs as root)');
  }
  t.equal(result.bundle.manifest.revision, result.revision, 'revision in .manifest');
});

t.test('a linked file is compiled as opa reads it (ConfigMap mounts); a compiled file git ignores makes the revision dirty', async (t) => {
  const opa = await testOpa();
  const dir = await temp(t);
  const src = join(dir, 'policies');
  await cp(join(FIXTURES, 'policy-basic'), src, { recursive: true });
  const shared = join(dir, 'shared-data.json');
  await rename(join(src, 'data.json'), shared);
  await symlink(shared, join(src, 'data.json'));
  const linked = await buildBundle({ dir: src, opaPath: opa });
  t.same(linked.sources, ['authz.rego', 'data.json', 'elevation.rego'], 'the linked data.json is among the sources');
  t.match(Buffer.from(linked.bundle.data).toString('utf8'), /"elevatable"/, 'and its data in the bundle');

  const git = (...args: string[]): Promise<unknown> => run('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd: dir });
  await git('init', '-q');
  await rm(join(src, 'data.json'));
  await rename(shared, join(src, 'data.json'));
  await writeFile(join(dir, '.gitignore'), 'data.json\n');
  await git('add', '-A');
  await git('commit', '-q', '-m', 'policies');
  const built = await buildBundle({ dir: src, opaPath: opa });
  t.match(built.revision, /^[0-9a-f]{40}-dirty-[0-9a-f]{12}$/, 'data.json is compiled but not in the commit: the revision says so');
  await writeFile(join(src, 'data.json'), '{"changed": true}\n');
  const again = await buildBundle({ dir: src, opaPath: opa });
  t.not(again.revision, built.revision, 'and another data.json is another revision');
});

t.test('the repository policies build with a git revision', async (t) => {
  const opa = await testOpa();
  const result = await buildBundle({ dir: join(ROOT, 'policies'), opaPath: opa });
  t.match(result.revision, /^[0-9a-f]{40}(-dirty-[0-9a-f]{12})?$/);
});

t.test('no policies folder: the prebuilt bundle in bundles/ serves', async (t) => {
  const opa = await testOpa();
  const dir = await temp(t);
  await buildBundle({ dir: join(FIXTURES, 'policy-basic'), opaPath: opa, outFile: join(dir, 'bundles', 'jitgate.tar.gz'), revision: 'prebuilt-1' });
  const manager = new PolicyManager({ config: { dir: join(dir, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false, debounce_ms: 10 } });
  t.teardown(() => manager.stop());
  const status = await manager.start();
  t.equal(manager.revision, 'prebuilt-1');
  t.equal(status.source, 'bundle');
});

t.test('nothing to load: start refuses (the gateway would deny everything)', async (t) => {
  const dir = await temp(t);
  const manager = new PolicyManager({ config: { dir: join(dir, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false, debounce_ms: 10 } });
  await t.rejects(manager.start(), { code: 'JITGATE_E_POLICY_NOT_LOADED' });
  t.throws(() => manager.authorize({} as never), { code: 'JITGATE_E_POLICY_NOT_LOADED' });
});

t.test('a broken policies folder at start: the prebuilt bundle serves and the failure is reported', async (t) => {
  const opa = await testOpa();
  const dir = await temp(t);
  await buildBundle({ dir: join(FIXTURES, 'policy-basic'), opaPath: opa, outFile: join(dir, 'bundles', 'jitgate.tar.gz'), revision: 'last-good' });
  await cp(join(FIXTURES, 'policy-basic'), join(dir, 'policies'), { recursive: true });
  await writeFile(join(dir, 'policies', 'authz.rego'), 'package jitgate.authz\n\nallow if {\n');
  const manager = new PolicyManager({ config: { dir: join(dir, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false, opa_path: opa, debounce_ms: 10 } });
  const events: string[] = [];
  manager.onEvent((e) => events.push(`${e.type}:${e.source}`));
  t.teardown(() => manager.stop());
  const status = await manager.start();
  t.equal(manager.revision, 'last-good');
  t.same(events, ['rejected:policies', 'loaded:bundle']);
  t.match(status.last_error, { source: 'policies', message: /authz\.rego:\d+/ });
});

t.test('the bundle the gateway writes, and its folder, are not left to the umask', async (t) => {
  // Under umask 0 they were 0777 and 0666: any local account could swap the policy in.
  const opa = await testOpa();
  const dir = await temp(t);
  const before = process.umask(0);
  try {
    await buildBundle({ dir: join(FIXTURES, 'policy-basic'), opaPath: opa, outFile: join(dir, 'made', 'jitgate.tar.gz'), revision: 'r' });
  } finally {
    process.umask(before);
  }
  t.equal((await stat(join(dir, 'made'))).mode & 0o777, 0o750);
  t.equal((await stat(join(dir, 'made', 'jitgate.tar.gz'))).mode & 0o777, 0o640);
});
