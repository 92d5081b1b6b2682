// Files that decide policy (the policies folder, the bundles folder, the configuration file) are
// refused when every account on the host can write them, as ssh refuses such a key: another
// local account (a compromised low-privilege service) would otherwise choose the gateway's
// decisions by dropping a file. Once, a world-writable policies folder let such an account add
// `allow if true` and the next request it chose reached the upstream.
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startDemoUpstream } from '../../src/demo/index.js';
import { checkFileTrust } from '../../src/file-trust.js';
import { demoConfig, demoEnv, repoRoot, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';
import { within } from '../helpers/poll.js';

const keys = () => ({ readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') });
const ALLOW_ALL = 'package jitgate.authz\n\nallow if true\n';

t.test('a policy planted in a world-writable policies folder is refused; the last good policy keeps deciding', async (t) => {
  const k = keys();
  const upstream = await startDemoUpstream({ port: 0, keys: k });
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-trust-');
  const policies = join(dir, 'policies');
  cpSync(join(repoRoot, 'policies'), policies, { recursive: true });
  const doc = demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } });
  const jitgate = doc.jitgate as { policy: Record<string, unknown> };
  jitgate.policy = { ...jitgate.policy, dir: policies, watch: true };
  const file = writeConfig(dir, doc);
  const gw = await startGatewayProcess(file, demoEnv(k));
  t.teardown(() => gw.stop());
  const token = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  const remove = async () => {
    const res = await fetch(`${gw.proxyUrl}/api/items/1`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.status;
  };
  t.equal(await remove(), 403, 'alice may not delete under the sample policy');

  // The folder becomes writable by all (a checkout made under umask 0, a chmod -R a+w); another
  // account drops a rule in it.
  chmodSync(policies, 0o777);
  chmodSync(join(policies, 'jitgate'), 0o777);
  writeFileSync(join(policies, 'jitgate', 'planted.rego'), ALLOW_ALL);
  t.ok(await within(() => gw.output.some((l) => l.includes('policy change rejected') && l.includes('writable by every account')), 30_000),
    'the rebuild is refused, naming the world-writable folder');
  t.equal(await remove(), 403, 'still denied by the gateway');
  t.notOk(upstream.seen.some((r) => r.method === 'DELETE'), 'the upstream never saw the DELETE');
});

t.test('a world-writable configuration file or bundles folder stops the start', async (t) => {
  const k = keys();
  const dir = tempDir('jg-trust-');
  const file = writeConfig(dir, demoConfig({ dir, upstreamUrl: 'http://127.0.0.1:9', subjects: {} }));
  chmodSync(file, 0o666);
  const config = await runCli(['serve', '--config', file], demoEnv(k));
  t.not(config.code, 0);
  t.match(config.stderr + config.stdout, /JITGATE_E_CONFIG_READ[^\n]*writable by every account/);

  // No policies to compile, and a bundle in a folder anyone can add to: nothing is loaded.
  const dir2 = tempDir('jg-trust-');
  const bundles = join(dir2, 'bundles');
  mkdirSync(bundles);
  cpSync(join(repoRoot, 'bundles', 'jitgate.tar.gz'), join(bundles, 'jitgate.tar.gz'));
  chmodSync(bundles, 0o777);
  const doc = demoConfig({ dir: dir2, upstreamUrl: 'http://127.0.0.1:9', subjects: {} });
  const jitgate = doc.jitgate as { policy: Record<string, unknown> };
  jitgate.policy = { ...jitgate.policy, dir: join(dir2, 'no-policies') };
  const bundle = await runCli(['serve', '--config', writeConfig(dir2, doc)], demoEnv(k));
  t.not(bundle.code, 0);
  t.match(bundle.stderr + bundle.stdout, /JITGATE_E_POLICY_NOT_LOADED[^\n]*writable by every account/);
});

t.test('group-writable or sticky: a warning, not a refusal', (t) => {
  const dir = tempDir('jg-trust-');
  const file = join(dir, 'f');
  writeFileSync(file, 'x');
  chmodSync(file, 0o664);
  const group = checkFileTrust([file]);
  t.same(group.refusals, []);
  t.match(group.warnings.join('\n'), /writable by its group/);
  // A sticky world-writable folder above (like /tmp) cannot have the file renamed by others.
  const sticky = join(dir, 'sticky');
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777);
  writeFileSync(join(sticky, 'g'), 'x');
  t.same(checkFileTrust([join(sticky, 'g')]).refusals, []);
  // Without the sticky bit, anyone could rename it away and put their own in its place.
  chmodSync(sticky, 0o777);
  t.match(checkFileTrust([join(sticky, 'g')]).refusals.join('\n'), /sticky[^\n]*writable by every account/);
  // Through a link from a private folder: the folders that count are those of the file itself.
  const private_ = join(dir, 'private');
  mkdirSync(private_, { mode: 0o700 });
  symlinkSync(join(sticky, 'g'), join(private_, 'g'));
  t.match(checkFileTrust([join(private_, 'g')]).refusals.join('\n'), /sticky[^\n]*writable by every account/, 'a link to a file in a world-writable folder is refused');
  t.end();
});

t.test('a development issuer key others can read is refused: tokens minted with it get nothing', async (t) => {
  const k = keys();
  const upstream = await startDemoUpstream({ port: 0, keys: k });
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-trust-');
  const file = writeConfig(dir, demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } }));
  // The key is made (0600) and a token minted; then the key is copied about as 0644, for the
  // replicas, and any local account can read it.
  const minted = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  t.ok(minted.length > 0);
  chmodSync(join(dir, 'dev-issuer.jwk.json'), 0o644);
  const again = await runCli(['token', '--sub', 'alice', '--config', file]);
  t.not(again.code, 0);
  t.match(again.stderr, /JITGATE_E_CONFIG_INVALID|configuration is invalid[^\n]*other accounts can read/);
  const gw = await startGatewayProcess(file, demoEnv(k));
  t.teardown(() => gw.stop());
  const res = await fetch(`${gw.proxyUrl}/api/items`, { headers: { authorization: `Bearer ${minted}` } });
  await res.arrayBuffer();
  t.not(res.status, 200, `refused (${String(res.status)})`);
  t.equal(upstream.seen.length, 0, 'the upstream saw nothing');
  t.ok(gw.output.some((l) => l.includes('other accounts can read or change it')), 'the log says why');
});

t.test('a secret file every account can read, or a group-writable configuration, is warned about at start and at reload; the gateway serves on', async (t) => {
  const k = keys();
  const upstream = await startDemoUpstream({ port: 0, keys: k });
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-trust-');
  const doc = demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } });
  const route = (doc.jitgate as { routes: { credentials: Record<string, Record<string, unknown>> }[] }).routes[0]!;
  const secret = join(dir, 'read-key');
  writeFileSync(secret, k.readonly);
  // As Kubernetes mounts a secret unless told otherwise, and as a deploy group shares a config.
  chmodSync(secret, 0o644);
  route.credentials.readonly = { type: 'header', header: 'X-Api-Key', from_file: secret };
  const file = writeConfig(dir, doc);
  chmodSync(file, 0o664);
  const gw = await startGatewayProcess(file, demoEnv(k));
  t.teardown(() => gw.stop());
  const warning = (): string => gw.output.filter((l) => l.includes('open to other accounts')).join('\n');
  t.match(warning(), new RegExp(`${secret}[^"]*readable by every account on this host \\(mode 0644`), 'the readable secret is named, with its mode');
  t.match(warning(), /opa\.config\.yaml is writable by its group/, 'as is the group-writable configuration');
  const token = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  const res = await fetch(`${gw.proxyUrl}/api/items/1`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  t.equal(res.status, 200, 'the gateway serves on, with the key from the file');
  t.equal(upstream.seen.at(-1)?.headers['x-api-key'], readFileSync(secret, 'utf8'));

  // Tightened and reloaded: nothing more to say.
  const before = gw.output.length;
  chmodSync(secret, 0o600);
  chmodSync(file, 0o644);
  gw.proc.kill('SIGHUP');
  t.ok(await within(() => gw.output.slice(before).some((l) => l.includes('configuration reloaded')), 15_000), 'reloaded');
  t.notOk(gw.output.slice(before).some((l) => l.includes('open to other accounts')), 'no warning once the files are tight');
  // Loosened again: the reload warns.
  chmodSync(secret, 0o604);
  const again = gw.output.length;
  gw.proc.kill('SIGHUP');
  t.ok(await within(() => gw.output.slice(again).some((l) => l.includes('open to other accounts') && l.includes('mode 0604')), 15_000), 'a reload warns too');
});
