// A gateway that starts while its token issuer is down cannot verify any token: every caller
// with one gets 503 JITGATE_E_KEYS_UNAVAILABLE (the gateway's trouble: a 401 would tell the
// client its good token is bad), nothing forwarded, the refusal decision-logged. Its /readyz must say so, so that a load balancer sends those callers to a
// replica that can, and must come back once the issuer does, with no token reaching it meanwhile
// (the load balancer sends none). A real `jitgate serve` in front of a recording upstream.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import t from 'tap';
import { demoRun } from '../helpers/demo-run.js';
import { within } from '../helpers/poll.js';

t.test('a replica whose JWKS never loaded is not ready, and is ready again once the issuer answers', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
  let issuerUp = false;
  const issuer = createServer((_req, res) => {
    if (!issuerUp) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
  });
  await new Promise<void>((resolve) => issuer.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { issuer.close(); });
  const jwksUrl = `http://127.0.0.1:${String((issuer.address() as AddressInfo).port)}/keys`;

  const run = await demoRun(t, {
    prefix: 'jg-identity-ready-', subjects: {},
    jitgate: { identity: { jwt: { issuer: 'https://idp.test', audience: 'jitgate', algorithms: ['RS256'], jwks_url: jwksUrl, jwks_refresh_min_interval_seconds: 0 } } },
  });
  const gw = await run.start();
  const token = await new SignJWT({ groups: ['eng'] }).setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer('https://idp.test').setAudience('jitgate').setSubject('alice').setExpirationTime('10m').sign(privateKey);
  const read = (tag: string): Promise<Response> => fetch(`${gw.proxyUrl}/api/items/${tag}`, { headers: { authorization: `Bearer ${token}` } });
  const readiness = async (): Promise<{ status: number; identity?: { ok: boolean; detail?: string } }> => {
    const res = await fetch(`${gw.controlUrl}/readyz`);
    const body = (await res.json()) as { checks: Record<string, { ok: boolean; detail?: string }> };
    return { status: res.status, ...(body.checks.identity ? { identity: body.checks.identity } : {}) };
  };

  const refused = await read('while-down');
  const body = (await refused.json()) as { error?: { code?: string; decision_id?: string } };
  t.equal(refused.status, 503, 'the issuer is down: a good token is refused as the gateway\'s trouble, not 401');
  t.equal(body.error?.code, 'JITGATE_E_KEYS_UNAVAILABLE', 'with its stable code');
  t.notOk(run.upstream.seen.some((s) => s.url === '/api/items/while-down'), 'and nothing is forwarded');
  const control = await fetch(`${gw.controlUrl}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
  t.equal(control.status, 503, 'the control API answers the same');
  t.equal(((await control.json()) as { error?: { code?: string } }).error?.code, 'JITGATE_E_KEYS_UNAVAILABLE');
  const expired = await new SignJWT({ groups: ['eng'] }).setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer('https://idp.test').setAudience('jitgate').setSubject('alice').setExpirationTime(Math.floor(Date.now() / 1000) - 300).sign(privateKey);
  const stale = await fetch(`${gw.proxyUrl}/api/items/expired`, { headers: { authorization: `Bearer ${expired}` } });
  t.equal(stale.status, 401, 'a token past its exp is the caller\'s to renew, keys or not');
  t.equal(((await stale.json()) as { error?: { code?: string } }).error?.code, 'JITGATE_E_TOKEN_EXPIRED');
  t.notOk(run.upstream.seen.some((s) => s.url === '/api/items/expired'), 'and nothing is forwarded');
  const logged = (): { decision_id: string; jitgate: { error_code?: string } }[] => {
    try {
      return readFileSync(join(run.dir, 'decisions.jsonl'), 'utf8').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as never);
    } catch {
      return [];
    }
  };
  t.ok(await within(() => logged().some((e) => e.decision_id === body.error?.decision_id), 10_000, 100), 'the refusal is decision-logged');
  t.equal(logged().find((e) => e.decision_id === body.error?.decision_id)?.jitgate.error_code, 'JITGATE_E_KEYS_UNAVAILABLE', 'with why');
  const down = await readiness();
  t.equal(down.status, 503, '/readyz fails while no token can be verified');
  t.equal(down.identity?.ok, false);
  t.match(down.identity?.detail, `${jwksUrl}: no keys loaded yet`, `and says why: ${JSON.stringify(down.identity)}`);

  issuerUp = true;
  t.ok(await within(async () => (await readiness()).status === 200, 10_000, 200), 'ready again once the issuer answers, with no token sent meanwhile');
  t.equal((await readiness()).identity?.ok, true);
  t.equal((await read('after')).status, 200, 'and the token is accepted');
  t.ok(run.upstream.seen.some((s) => s.url === '/api/items/after'), 'and forwarded');
});

t.test('a replica whose issuer goes down after its keys loaded stays ready on them: degraded in /readyz, counted in /metrics, logged once', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
  let issuerUp = true;
  let askedWhileDown = 0;
  const idp = createServer((req, res) => {
    if (!issuerUp) {
      askedWhileDown++;
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(req.url === '/keys' ? jwks : JSON.stringify({ issuer: iss, jwks_uri: `${iss}/keys` }));
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { idp.close(); });
  const iss = `http://127.0.0.1:${String((idp.address() as AddressInfo).port)}`;

  // Every unknown kid asks the issuer (interval 0): the storm below is as many failed refreshes.
  const run = await demoRun(t, {
    prefix: 'jg-identity-degraded-', subjects: {},
    jitgate: { identity: { jwt: { issuer: iss, audience: 'jitgate', algorithms: ['RS256'], discovery: true, jwks_refresh_min_interval_seconds: 0, jwks_max_age_seconds: 0 } } },
  });
  const gw = await run.start();
  const sign = (kid: string, sub = 'alice'): Promise<string> => new SignJWT({ groups: ['eng'] }).setProtectedHeader({ alg: 'RS256', kid })
    .setIssuer(iss).setAudience('jitgate').setSubject(sub).setExpirationTime('10m').sign(privateKey);
  type Check = { ok: boolean; status?: string; detail?: string };
  const readiness = async (): Promise<{ status: number; ok: boolean; identity?: Check }> => {
    const res = await fetch(`${gw.controlUrl}/readyz`);
    const body = (await res.json()) as { ok: boolean; checks: Record<string, Check> };
    return { status: res.status, ok: body.ok, ...(body.checks.identity ? { identity: body.checks.identity } : {}) };
  };
  const metric = async (name: string): Promise<number | undefined> => {
    const text = await (await fetch(`${gw.controlUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{issuer="${iss}"}`));
    return line === undefined ? undefined : Number(line.split(' ').pop());
  };
  const warnings = (): number => gw.output.filter((l) => l.includes('JWKS refresh failed')).length;

  t.same((await readiness()).identity, { ok: true }, 'all well: no status');
  t.equal(await metric('jitgate_jwks_refresh_failures_total'), 0, 'the failure counter is there from the start, at 0');
  const loadedAt = (await metric('jitgate_jwks_last_success_timestamp_seconds')) ?? 0;
  t.ok(loadedAt > 0, 'the last good refresh is a time');

  issuerUp = false;
  const storm = 40;
  for (let i = 0; i < storm; i++) {
    const res = await fetch(`${gw.proxyUrl}/api/items/storm`, { headers: { authorization: `Bearer ${await sign(`garbage-${String(i)}`)}` } });
    await res.arrayBuffer();
    t.equal(res.status, 401, `unknown kid ${String(i)}: refused`);
  }
  const known = await fetch(`${gw.proxyUrl}/api/items/held`, { headers: { authorization: `Bearer ${await sign('k1', 'bob')}` } });
  await known.arrayBuffer();
  t.equal(known.status, 200, 'a token under a key held is still verified and forwarded');

  const degraded = await readiness();
  t.equal(degraded.status, 200, 'still ready: an issuer outage must not take every replica out');
  t.equal(degraded.ok, true);
  t.equal(degraded.identity?.ok, true);
  t.equal(degraded.identity?.status, 'degraded', `the identity check says it is degraded: ${JSON.stringify(degraded.identity)}`);
  t.match(degraded.identity?.detail, `${iss}: key refreshes failing since `, 'naming the issuer');
  t.match(degraded.identity?.detail, 'HTTP 503', 'the last error');
  t.match(degraded.identity?.detail, `last good refresh, at ${new Date(Math.round(loadedAt * 1000)).toISOString()}`, 'and when the keys held were fetched');
  const failures = (await metric('jitgate_jwks_refresh_failures_total')) ?? 0;
  t.ok(failures >= storm, `each failed refresh is counted (${String(failures)})`);
  t.equal(failures, askedWhileDown, 'once: as often as the issuer was asked');
  t.equal(await metric('jitgate_jwks_last_success_timestamp_seconds'), loadedAt, 'the last good refresh stays where it was');
  t.ok(warnings() >= 1 && warnings() <= 2, `the log warns, without a line per failure (${String(warnings())} for ${String(failures)})`);

  issuerUp = true;
  const next = await fetch(`${gw.proxyUrl}/api/items/recovered`, { headers: { authorization: `Bearer ${await sign('garbage-after')}` } });
  await next.arrayBuffer();
  t.same((await readiness()).identity, { ok: true }, 'a good refresh clears it');
  t.ok(((await metric('jitgate_jwks_last_success_timestamp_seconds')) ?? 0) > loadedAt, 'and moves the last good refresh');
  t.ok(gw.output.some((l) => l.includes('JWKS refresh succeeded again')), 'the recovery is logged');
});
