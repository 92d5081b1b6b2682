// A person and a service never share an id. Grants and workflow rights follow a subject, so a
// token naming a configured service's id is refused, and a service given a person's id (a
// config changed after the person's grants were made) gets none of them: through a real
// `jitgate serve` on a policy that trusts `input.grants` as written, not only the samples.
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { generateApiKey } from '../../src/identity/index.js';
import { demoRun } from '../helpers/demo-run.js';
import { demoConfig, repoRoot, writeConfig } from '../helpers/gateway.js';

/** An authz policy as a user might write it: any live writer grant in the input opens writes. */
const TRUSTING_AUTHZ = `package jitgate.authz

default allow := false

allow if input.request.method == "GET"

allow if {
	input.request.method == "POST"
	some g in input.grants
	g.role == "writer"
}

reason := "writes need a writer grant"

obligations := {"credential": "writer"} if input.request.method == "POST"

obligations := {"credential": "readonly"} if input.request.method == "GET"

grant_ids := [g.id | some g in input.grants; g.role == "writer"]
`;

t.test('a service given a person\'s id is not that person, and the person\'s tokens stop working', async (t) => {
  const people = { bob: ['eng', 'approvers'], carol: ['eng', 'approvers'], dave: ['eng', 'approvers'] };
  const run = await demoRun(t, { prefix: 'jg-subject-kinds-', subjects: people });
  const before = await run.start();
  const bob = await run.token('bob');
  const bobsGrant = await run.writerGrant(before, 'bob', 'carol');
  const pending = await run.post(before, '/v1/requests', bob, { role: 'admin', duration: '30m', reason: 'rotate the key', ticket: 'INC-78' });
  await run.writerGrant(before, 'carol', 'dave');
  t.equal((await run.write(before, bob, 'bob-before')).status, 200, 'bob writes under his grant');
  await before.stop();

  // The operator adds bob's deploy bot as a service whose id is "bob" (and drops bob from the
  // dev issuer's people, without which the config is refused), and the policy trusts input.grants.
  const policies = join(run.dir, 'trusting-policies');
  cpSync(join(repoRoot, 'policies'), policies, { recursive: true });
  writeFileSync(join(policies, 'jitgate', 'authz.rego'), TRUSTING_AUTHZ);
  rmSync(join(policies, 'jitgate', 'authz_test.rego'));
  const bot = generateApiKey('deploy-bot');
  writeConfig(run.dir, demoConfig({
    dir: run.dir, upstreamUrl: run.upstream.url, subjects: { carol: people.carol, dave: people.dave },
    apiKeys: [{ id: 'deploy-bot', subject: 'bob', groups: ['deploy'], sha256: bot.sha256 }],
    jitgate: { policy: { dir: policies, bundles_dir: join(run.dir, 'bundles'), watch: false } },
  }));
  const gw = await run.start();
  const carol = await run.token('carol');
  t.equal((await run.write(gw, carol, 'carol-after')).status, 200, 'the trusting policy opens writes to a person holding a writer grant');

  const botWrite = await fetch(`${gw.proxyUrl}/api/items/bot-after`, { method: 'POST', headers: { 'x-api-key': bot.key, 'content-type': 'application/json' }, body: '{"name":"x"}' });
  t.equal(botWrite.status, 403, 'the service named "bob" is not handed bob\'s writer grant');
  const oldToken = await fetch(`${gw.proxyUrl}/api/items/bob-after`, { method: 'POST', headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json' }, body: '{"name":"x"}' });
  const refused = (await oldToken.json()) as { error?: { code?: string; message?: string } };
  t.equal(oldToken.status, 401, 'bob\'s token, valid before, is refused now that "bob" is a service');
  t.equal(refused.error?.code, 'JITGATE_E_TOKEN_INVALID');
  t.match(refused.error?.message, /configured service/, 'saying why');
  t.same(run.upstream.seen.filter((s) => s.method === 'POST').map((s) => s.url), ['/api/items/bob-before', '/api/items/carol-after'],
    'the upstream saw neither the bot\'s write nor the refused token\'s');

  const control = async (auth: Record<string, string>, method: string, path: string, body?: unknown): Promise<{ status: number; body: { status?: string; items?: unknown[] } }> => {
    const res = await fetch(`${gw.controlUrl}${path}`, {
      method, headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as never };
  };
  const asBot = { 'x-api-key': bot.key };
  t.equal((await control({ authorization: `Bearer ${bob}` }, 'GET', '/v1/grants')).status, 401, 'bob\'s token opens no control API call either');
  t.equal((await control(asBot, 'GET', `/v1/grants/${bobsGrant}`)).status, 404, 'the bot does not see bob\'s grant');
  t.same((await control(asBot, 'GET', '/v1/grants')).body.items, [], 'nor list it');
  t.equal((await control(asBot, 'GET', `/v1/requests/${String(pending.body.id)}`)).status, 404, 'nor see his pending request');
  t.equal((await control(asBot, 'POST', `/v1/requests/${String(pending.body.id)}/withdraw`)).status, 404, 'nor withdraw it');
  t.equal((await control(asBot, 'POST', `/v1/grants/${bobsGrant}/revoke`, { reason: 'done early' })).status, 404, 'nor revoke his grant');
  t.equal((await control(asBot, 'POST', `/v1/requests/${String(pending.body.id)}/approve`, {})).status, 404, 'nor approve his request');
});
