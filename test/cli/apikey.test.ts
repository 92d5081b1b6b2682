// A minted key must work as printed: its hash in the config, the key in x-api-key.
import t from 'tap';
import { createAuthenticator } from '../../src/identity/index.js';
import { createLogger } from '../../src/observability/index.js';
import { runCli } from '../helpers/gateway.js';

t.test('jitgate apikey prints a key whose config entry authenticates it, and nothing else', async (t) => {
  const out = await runCli(['apikey', '--id', 'billing', '--subject', 'svc-billing', '--groups', 'services,billing']);
  t.equal(out.code, 0, out.stderr);
  const key = /x-api-key header\): (\S+)/.exec(out.stdout)?.[1] ?? '';
  const sha256 = /sha256: ([0-9a-f]{64})/.exec(out.stdout)?.[1] ?? '';
  t.match(key, /^jg_billing\./);
  t.notOk(out.stdout.split('sha256:')[1]?.includes(key), 'the config entry holds the hash, not the key');
  const auth = createAuthenticator(
    { api_keys: [{ id: 'billing', subject: 'svc-billing', groups: ['services', 'billing'], sha256 }], client_certificates: [], dev_issuer: { enabled: false, token_ttl_seconds: 3600, subjects: {} } },
    { logger: createLogger({ log_level: 'silent' }) },
  );
  const subject = await auth.authenticate({ 'x-api-key': key });
  t.same({ id: subject.id, kind: subject.kind, groups: subject.groups }, { id: 'svc-billing', kind: 'service', groups: ['services', 'billing'] });
  await t.rejects(auth.authenticate({ 'x-api-key': `${key}x` }), { code: 'JITGATE_E_API_KEY_INVALID' }, 'a changed key is refused');
  const bad = await runCli(['apikey', '--id', 'Bad Id', '--subject', 's']);
  t.not(bad.code, 0, 'an invalid id is refused');
});
