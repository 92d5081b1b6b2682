// A PostgreSQL store whose URL variable is not set: `jitgate serve` stops with a catalogue code,
// as docs/api.md ("Errors at start-up") promises for every setting that fails when its part starts.
import t from 'tap';
import { demoConfig, runCli, tempDir, writeConfig } from '../helpers/gateway.js';

t.test('the store URL variable not set: JITGATE_E_CONFIG_INVALID, naming the variable', async (t) => {
  const dir = tempDir('jg-store-url-');
  const variable = 'JITGATE_TEST_STORE_URL_NOT_SET';
  const file = writeConfig(dir, demoConfig({ dir, upstreamUrl: 'http://127.0.0.1:9', subjects: {}, store: { type: 'postgres', postgres: { url_env: variable } } }));
  // Empty counts as not set (whatever the environment of the test run holds).
  const out = await runCli(['serve', '--config', file], { [variable]: '' });
  t.equal(out.code, 1, 'the start fails');
  t.match(out.stderr, new RegExp(`^JITGATE_E_CONFIG_INVALID: The configuration is invalid: jitgate\\.store\\.postgres: no URL: the environment variable ${variable} \\(postgres\\.url_env\\) is not set`, 'm'));
  t.notMatch(out.stderr, /jitgate failed to start/, 'not reported as a system failure without a code');
});
