// Who may read the audit trail is the elevation policy's decision (action audit_read): with
// the sample policies, the groups in data.jitgate.audit_reader_groups. Changing them is a
// policy change like any other, picked up by a running gateway; the old configuration key
// is refused with where it went.
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startDemoUpstream } from '../../src/demo/index.js';
import { demoConfig, demoEnv, repoRoot, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';

const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
t.teardown(() => upstream.close());
const subjects = { alice: ['eng'], fiona: ['compliance'], dave: ['admins'] };

/** The sample policies in a folder of their own, with these audit reader groups. */
function policiesWithReaders(dir: string, groups: string[]): string {
  const policies = join(dir, 'policies');
  cpSync(join(repoRoot, 'policies'), policies, { recursive: true });
  setReaders(policies, groups);
  return policies;
}

function setReaders(policies: string, groups: string[]): void {
  const file = join(policies, 'data.json');
  const data = JSON.parse(readFileSync(file, 'utf8')) as { jitgate: Record<string, unknown> };
  data.jitgate.audit_reader_groups = groups;
  writeFileSync(file, JSON.stringify(data, null, 2));
}

t.test('the policy data decides who reads GET /v1/audit, and a change applies without a restart', async (t) => {
  const dir = tempDir('jg-audit-readers-');
  // Only the compliance group; administrators, readers in the sample data, are not in it.
  const policies = policiesWithReaders(dir, ['compliance']);
  const file = writeConfig(dir, demoConfig({
    dir,
    upstreamUrl: upstream.url,
    subjects,
    jitgate: { policy: { dir: policies, bundles_dir: join(dir, 'bundles'), watch: true } },
  }));
  const gw = await startGatewayProcess(file, demoEnv(keys));
  t.teardown(() => gw.stop());
  const token = async (sub: string): Promise<string> => (await runCli(['token', '--sub', sub, '--config', file])).stdout.trim();
  const whoCanRead = async (sub: string): Promise<boolean> =>
    ((await (await fetch(`${gw.controlUrl}/v1/whoami`, { headers: { authorization: `Bearer ${await token(sub)}` } })).json()) as { can_read_audit: boolean }).can_read_audit;

  for (const [sub, allowed] of [['fiona', true], ['dave', false], ['alice', false]] as const) {
    const res = await fetch(`${gw.controlUrl}/v1/audit`, { headers: { authorization: `Bearer ${await token(sub)}` } });
    const body = await res.json() as { items?: unknown[]; error?: { code: string; message: string } };
    if (allowed) {
      t.equal(res.status, 200, `${sub} (in a reader group of the policy data) reads the trail`);
      t.ok(Array.isArray(body.items), 'and gets its records');
    } else {
      t.equal(res.status, 403, `${sub} is refused`);
      t.equal(body.error?.code, 'JITGATE_E_AUDIT_READ_DENIED', 'with the stable error code');
      t.match(body.error?.message, /only members of compliance read the audit trail/, 'and the policy\'s reason');
    }
    t.equal(await whoCanRead(sub), allowed, `whoami tells ${sub} whether they may read it`);
  }

  // A policy change: administrators join. The watcher rebuilds the bundle and swaps it in.
  setReaders(policies, ['compliance', 'admins']);
  let dave = false;
  for (let i = 0; i < 150 && !dave; i++) {
    await new Promise((r) => setTimeout(r, 200));
    dave = await whoCanRead('dave');
  }
  t.ok(dave, 'after the policy change, dave may read the trail, without a restart');
  t.equal((await fetch(`${gw.controlUrl}/v1/audit`, { headers: { authorization: `Bearer ${await token('dave')}` } })).status, 200, 'and does');
  t.equal(await whoCanRead('alice'), false, 'alice still may not');
});

t.test('the old configuration key is refused, saying where it went', async (t) => {
  const dir = tempDir('jg-audit-readers-old-');
  const file = writeConfig(dir, demoConfig({
    dir,
    upstreamUrl: upstream.url,
    subjects,
    jitgate: { control: { audit_reader_groups: ['compliance'] } },
  }));
  const started = await startGatewayProcess(file, demoEnv(keys)).then(() => 'started', (err: unknown) => (err instanceof Error ? err.message : String(err)));
  t.match(started, /jitgate\.control\.audit_reader_groups: moved to the policy/, 'the gateway does not start, and says why');
  t.match(started, /data\.jitgate\.audit_reader_groups/, 'naming the policy data that replaces it');
});
