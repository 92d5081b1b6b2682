// Who may read the audit trail comes from the configuration file
// (jitgate.control.audit_reader_groups), not only from the defaults.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { startDemoUpstream } from '../../src/demo/index.js';
import { demoConfig, demoEnv, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';

t.test('control.audit_reader_groups in the config decides who reads GET /v1/audit', async (t) => {
  const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-audit-readers-');
  // Only the compliance group; administrators, readers by default, are not in it.
  const file = writeConfig(dir, demoConfig({
    dir,
    upstreamUrl: upstream.url,
    subjects: { alice: ['eng'], fiona: ['compliance'], dave: ['admins'] },
    jitgate: { control: { audit_reader_groups: ['compliance'] } },
  }));
  const gw = await startGatewayProcess(file, demoEnv(keys));
  t.teardown(() => gw.stop());
  const token = async (sub: string): Promise<string> => (await runCli(['token', '--sub', sub, '--config', file])).stdout.trim();

  for (const [sub, allowed] of [['fiona', true], ['dave', false], ['alice', false]] as const) {
    const auth = { authorization: `Bearer ${await token(sub)}` };
    const res = await fetch(`${gw.controlUrl}/v1/audit`, { headers: auth });
    const body = await res.json() as { items?: unknown[]; error?: { code: string } };
    if (allowed) {
      t.equal(res.status, 200, `${sub} (a configured reader group) reads the trail`);
      t.ok(Array.isArray(body.items), 'and gets its records');
    } else {
      t.equal(res.status, 403, `${sub} is refused`);
      t.equal(body.error?.code, 'JITGATE_E_AUDIT_READ_DENIED', 'with the stable error code');
    }
    const who = await (await fetch(`${gw.controlUrl}/v1/whoami`, { headers: auth })).json() as { can_read_audit: boolean };
    t.equal(who.can_read_audit, allowed, `whoami tells ${sub} whether they may read it`);
  }
});
