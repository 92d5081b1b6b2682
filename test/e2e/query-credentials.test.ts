// A URL's query carries credentials under names the general key rule does not know: presigned
// URLs' signatures (S3, GCS, Azure SAS), API keys (`key`), OAuth2 authorization codes. Sent
// through a real gateway, they reach the upstream as sent (the policy and the upstream see the
// request unchanged) but neither the decision log nor the audit trail, which agree name by name.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { demoRun } from '../helpers/demo-run.js';
import { demoEnv, runCli } from '../helpers/gateway.js';
import { within } from '../helpers/poll.js';

/** Each credential-carrying name, with a value unique to it. */
const CREDENTIALS: Record<string, string> = {
  'X-Amz-Signature': 'amzsig-0a1b2c', 'x-amz-credential': 'amzcred-3d4e5f', Signature: 'v2sig-6a7b8c',
  'X-Goog-Signature': 'googsig-9d0e1f', 'X-Goog-Credential': 'googcred-2a3b4c', sig: 'azuresig-5d6e7f',
  key: 'apikey-8a9b0c', KEY: 'apikey-upper-1d2e', code: 'oauthcode-3f4a5b', api_key: 'apikey-6c7d8e',
  'api-key': 'apikey-dash-9f0a', apikey: 'apikey-bare-1b2c', access_token: 'accesstoken-3d4e', token: 'token-5f6a',
  client_secret: 'clientsecret-7b8c', password: 'password-9d0e', 'subscription-key': 'subkey-1f2a',
};

interface DecisionEvent { decision_id: string; input: { request: { query?: Record<string, unknown> } }; masked?: string[] }

t.test('credential query values reach the upstream, never the decision log or the audit trail', async (t) => {
  const run = await demoRun(t, { subjects: { alice: ['eng'] }, prefix: 'jg-query-creds-' });
  const gw = await run.start();
  const alice = await run.token('alice');
  const search = `${new URLSearchParams(Object.entries(CREDENTIALS)).toString()}&page=2`;
  const allowed = await fetch(`${gw.proxyUrl}/api/items?${search}`, { headers: { authorization: `Bearer ${alice}` } });
  await allowed.arrayBuffer();
  t.equal(allowed.status, 200);
  t.equal(run.upstream.seen.at(-1)?.url, `/api/items?${search}`, 'the upstream got the query as sent');
  // Denied: a proxy.denied record on the trail, with the query as the policy saw it.
  const denied = await fetch(`${gw.proxyUrl}/api/items?${search}`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: '{"name":"x"}' });
  await denied.arrayBuffer();
  t.equal(denied.status, 403);
  const ids = [allowed, denied].map((r) => r.headers.get('x-jitgate-decision-id'));

  const file = join(run.dir, 'decisions.jsonl');
  const events = (): DecisionEvent[] => {
    try {
      return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as DecisionEvent);
    } catch {
      return [];
    }
  };
  t.ok(await within(() => ids.every((id) => events().some((e) => e.decision_id === id)), 10_000, 100), 'both decisions are logged');
  const decisionLog = readFileSync(file, 'utf8');
  const trail = await runCli(['audit', 'export', '--config', run.configFile], demoEnv(run.keys));
  t.equal(trail.code, 0, trail.stderr);
  const record = trail.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; decision_id: string; details: { query?: Record<string, unknown> } })
    .find((r) => r.decision_id === ids[1]);
  t.equal(record?.kind, 'proxy.denied');

  for (const [name, value] of Object.entries(CREDENTIALS)) {
    t.notOk(decisionLog.includes(value), `${name}: its value is not in the decision log`);
    t.notOk(trail.stdout.includes(value), `${name}: nor in the audit trail`);
  }
  for (const id of ids) {
    const event = events().find((e) => e.decision_id === id);
    t.same(event?.input.request.query?.page, ['2'], 'the rest of the query stays readable');
    t.same(Object.keys(CREDENTIALS).map((n) => event?.input.request.query?.[n]), Object.keys(CREDENTIALS).map(() => '[REDACTED]'), 'each name is kept, its value masked');
    t.ok(Object.keys(CREDENTIALS).every((n) => event?.masked?.includes(`/input/request/query/${n}`)), 'and listed as masked');
  }
  t.same(record?.details.query, events().find((e) => e.decision_id === ids[1])?.input.request.query, 'the trail records the query exactly as the decision log does');
});
