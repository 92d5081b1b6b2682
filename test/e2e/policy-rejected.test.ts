// A policy change the gateway refuses says why with a stable code, in its log line and in the
// audit trail's policy.rejected record, as every other refusal does: a compile error
// (POLICY_COMPILE) and a change that fails the serving policy's latest decisions (BUNDLE_INVALID)
// are told apart without reading opa's or the vetting's words.
import { randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startDemoUpstream } from '../../src/demo/index.js';
import { demoConfig, demoEnv, readStatus, repoRoot, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';
import { within } from '../helpers/poll.js';

interface Rejected { msg?: string; code?: string; error?: string }
interface Record { kind: string; reason: string | null; details: { error_code?: string; source?: string } }

t.test('a refused policy change carries its code in the log and the audit trail', async (t) => {
  const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-policy-rejected-');
  const policies = join(dir, 'policies');
  cpSync(join(repoRoot, 'policies'), policies, { recursive: true });
  const file = writeConfig(dir, demoConfig({
    dir,
    upstreamUrl: upstream.url,
    subjects: { alice: ['eng'] },
    jitgate: { policy: { dir: policies, bundles_dir: join(dir, 'bundles'), watch: true } },
  }));
  const gw = await startGatewayProcess(file, demoEnv(keys));
  t.teardown(() => gw.stop());
  const token = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  const read = (): Promise<number> => readStatus(gw, token);
  t.equal(await read(), 200, 'alice reads under the sample policy');
  const rejections = (): Rejected[] => gw.output
    .map((l) => { try { return JSON.parse(l) as Rejected; } catch { return {}; } })
    .filter((e) => e.msg === 'policy change rejected; the last good policy keeps serving');

  const access = join(policies, 'jitgate', 'lib', 'access.rego');
  const good = readFileSync(access, 'utf8');
  appendFileSync(access, '\nbroken if {\n');
  t.ok(await within(() => rejections().length === 1, 30_000), 'the compile error is refused');
  t.match(rejections()[0], { code: 'JITGATE_E_POLICY_COMPILE', error: /rego_parse_error/ });

  // Compiles, but every decision alice just got now fails (two values for one complete rule).
  writeFileSync(access, `${good}\nconflict := "a" if input.subject.id == "alice"\n\nconflict := "b" if input.subject.id == "alice"\n`
    .replace('user_decision := deny("the method is not one jitgate lets through") if {', 'user_decision := deny("the method is not one jitgate lets through") if {\n\tconflict'));
  t.ok(await within(() => rejections().length === 2, 30_000), 'the change that fails the latest decisions is refused');
  t.match(rejections()[1], { code: 'JITGATE_E_BUNDLE_INVALID', error: /latest decisions/ });
  t.equal(await read(), 200, 'the sample policy still decides');

  const audit = await runCli(['audit', 'export', '--config', file, '--kind', 'policy.rejected']);
  const records = audit.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record);
  t.same(records.map((r) => [r.details.source, r.details.error_code]), [['policies', 'JITGATE_E_POLICY_COMPILE'], ['policies', 'JITGATE_E_BUNDLE_INVALID']],
    'each policy.rejected record names its code');
});
