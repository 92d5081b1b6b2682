// The sample policies (policies/) against requests that once slipped past them, through a real
// `jitgate serve` in front of a recording upstream: what the caller gets and what the upstream sees.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { demoRun } from '../helpers/demo-run.js';
import { repoRoot, runCli, tempDir } from '../helpers/gateway.js';

const SUBJECTS = { alice: ['eng'], bob: ['eng', 'approvers'], carol: ['eng', 'approvers'] };

/**
 * A gateway on its own watched copy of the sample policies, with dave (admins) to read grants and
 * the trail: `editRoles` changes data.json's roles the way a merged change would, and waits until
 * the gateway serves the result.
 */
async function watchedPolicies(t: Test, prefix: string) {
  const own = tempDir(`${prefix}policies-`);
  const policies = join(own, 'policies');
  cpSync(join(repoRoot, 'policies'), policies, { recursive: true });
  const run = await demoRun(t, {
    prefix, subjects: { ...SUBJECTS, dave: ['admins'] },
    jitgate: { policy: { dir: policies, bundles_dir: join(own, 'bundles'), watch: true } },
  });
  const gw = await run.start();
  const [alice, bob, dave] = await Promise.all(['alice', 'bob', 'dave'].map((sub) => run.token(sub))) as [string, string, string];
  const get = async (path: string, token?: string): Promise<Record<string, unknown>> =>
    (await (await fetch(`${gw.controlUrl}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {})).json()) as Record<string, unknown>;
  const revision = async (): Promise<string> => JSON.stringify((await get('/readyz')).checks);
  const editRoles = async (edit: (roles: Record<string, Record<string, unknown>>) => void): Promise<void> => {
    const before = await revision();
    const file = join(policies, 'data.json');
    const data = JSON.parse(readFileSync(file, 'utf8')) as { jitgate: { roles: Record<string, Record<string, unknown>> } };
    edit(data.jitgate.roles);
    writeFileSync(file, JSON.stringify(data, null, 2));
    for (let i = 0; i < 150 && (await revision()) === before; i++) await sleep(200);
    t.not(await revision(), before, 'the gateway serves the changed policy');
  };
  return { run, gw, alice, bob, dave, get, editRoles };
}

t.test('a refund is judged on its amount however its path is spelled', async (t) => {
  // As docs/configuration.md advises for an upstream that routes without regard to case (Express).
  const run = await demoRun(t, { prefix: 'jg-refund-spelling-', subjects: SUBJECTS, match: { path_prefix: '/api', case_sensitive: false } });
  const gw = await run.start();
  await run.writerGrant(gw, 'alice', 'bob');
  const alice = await run.token('alice');
  const refund = async (path: string, amount: number): Promise<{ status: number; body: { error?: { code?: string; elevation?: { role?: string } } } }> => {
    const res = await fetch(`${gw.proxyUrl}${path}`, {
      method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: JSON.stringify({ order: 'o-7', amount }),
    });
    return { status: res.status, body: (await res.json()) as never };
  };

  for (const path of ['/api/refunds', '/api/refunds/', '/api/Refunds', '/API/REFUNDS/', '/api/refunds.json']) {
    const large = await refund(path, 4000);
    t.equal(large.status, 403, `POST ${path} of 4000 under a writer grant (limit 100) is refused`);
    t.equal(large.body.error?.code, 'JITGATE_E_FORBIDDEN');
    t.equal(large.body.error?.elevation?.role, 'admin', 'and names the role whose limit covers it');
  }
  t.notOk(run.upstream.seen.some((s) => s.method === 'POST'), 'the upstream never saw one of them');

  const small = await refund('/api/Refunds/', 40);
  t.equal(small.status, 200, 'a refund within the writer limit still goes through, however spelled');
  t.same(run.upstream.seen.filter((s) => s.method === 'POST').map((s) => [s.url, s.headers['x-api-key']]), [['/api/Refunds/', run.keys.writer]],
    'with the writer credential');
});

t.test('a grant stops opening anything once its holder is no longer eligible for its role', async (t) => {
  const run = await demoRun(t, { prefix: 'jg-eligibility-gone-', subjects: SUBJECTS });
  const gw = await run.start();
  const alice = await run.token('alice');
  // The same alice after her identity provider moved her out of `eng`.
  const moved = (await runCli(['token', '--sub', 'alice', '--groups', 'sales', '--config', run.configFile])).stdout.trim();
  const later = await run.post(gw, '/v1/requests', alice, { role: 'writer', duration: '1h', reason: 'asked while in eng' });
  await run.writerGrant(gw, 'alice', 'bob');
  t.equal((await run.write(gw, alice, 'in-eng')).status, 200, 'the writer grant opens writes while the token says eng');

  const after = await run.write(gw, moved, 'moved-out');
  t.equal(after.status, 403, 'and not once it no longer does');
  t.equal(after.code, 'JITGATE_E_FORBIDDEN');
  // The workflow still lets an approver approve what she asked for while in eng (its input holds
  // the groups of then): the grant it makes is as dead on the data path.
  const approved = await run.post(gw, `/v1/requests/${String(later.body.id)}/approve`, await run.token('carol'), {});
  t.equal(approved.status, 200, 'a request made while eligible is still approved');
  t.equal((await run.write(gw, moved, 'approved-late')).status, 403, 'its grant opens nothing either');
  t.same(run.upstream.seen.filter((s) => s.method === 'POST').map((s) => s.url), ['/api/items/in-eng'], 'the upstream saw only the write made while eligible');
});

t.test('a policy change that leaves a waiting requester ineligible makes the approval fail, not a grant that opens nothing', async (t) => {
  // The sample policies in a folder of their own, watched: the change below is hot-reloaded.
  const { run, gw, alice, bob, dave, get, editRoles } = await watchedPolicies(t, 'jg-eligibility-changed-');
  const asked = await run.post(gw, '/v1/requests', alice, { role: 'writer', duration: '1h', reason: 'asked while eng was eligible' });
  t.equal(asked.status, 201);
  const id = String(asked.body.id);

  // The merged change: writer is for sre only. alice's token (and the groups stored with her request) still say eng.
  await editRoles((roles) => { roles.writer!.eligible_groups = ['sre']; });

  const approved = await run.post(gw, `/v1/requests/${id}/approve`, bob, { comment: 'ok' });
  t.equal(approved.status, 409, 'the approver is refused');
  t.equal(approved.body.error?.code, 'JITGATE_E_REQUESTER_NOT_ELIGIBLE');
  const cli = await runCli(['approve', id, '--url', gw.controlUrl], { JITGATE_TOKEN: bob });
  t.equal(cli.code, 5, 'the CLI exits as for any conflict');
  t.match(cli.stderr, /^jitgate: JITGATE_E_REQUESTER_NOT_ELIGIBLE: .*alice may no longer hold role writer/, 'and says why');

  t.match(await get(`/v1/requests/${id}`, alice), { status: 'pending', approvals: [], grant_id: null }, 'the request waits as it was');
  t.same((await get('/v1/grants?subject=alice', dave)).items, [], 'no grant was made');
  const write = await run.write(gw, alice, 'after-refused-approval');
  t.equal(write.status, 403, 'alice still may not write');
  t.equal(write.code, 'JITGATE_E_FORBIDDEN');
  t.notOk(run.upstream.seen.some((s) => s.method === 'POST'), 'and the upstream never saw her write');

  const trail = (await get(`/v1/audit?request_id=${id}`, dave)).items as { kind: string; actor: string; details: Record<string, unknown> }[];
  t.same(trail.map((r) => r.kind).sort(), ['request.created', 'workflow.refused', 'workflow.refused'], 'both attempts are on the record, and nothing else');
  t.same(trail.filter((r) => r.kind === 'workflow.refused').map((r) => [r.actor, r.details.action, r.details.error_code]),
    [['bob', 'approve', 'JITGATE_E_REQUESTER_NOT_ELIGIBLE'], ['bob', 'approve', 'JITGATE_E_REQUESTER_NOT_ELIGIBLE']]);
});

t.test('a role tightened while requests wait (shorter maximum, ticket required, no extensions) refuses their approval, not a grant longer than it allows', async (t) => {
  const { run, gw, alice, bob, dave, get, editRoles } = await watchedPolicies(t, 'jg-settings-changed-');
  const held = await run.writerGrant(gw, 'alice', 'carol', '1h');
  const heldUntil = (await get(`/v1/grants/${held}`, dave)).expires_at;
  const long = await run.post(gw, '/v1/requests', alice, { role: 'writer', duration: '8h', reason: 'asked before the incident' });
  const more = await run.post(gw, '/v1/requests', alice, { extends_grant_id: held, duration: '8h', reason: 'and then some' });
  t.same([long.status, more.status], [201, 201]);

  // The incident change: writer for an hour at most, with a ticket, and no extensions.
  await editRoles((roles) => { Object.assign(roles.writer!, { max_duration_seconds: 3600, require_ticket: true, max_extensions: 0 }); });

  const approved = await run.post(gw, `/v1/requests/${String(long.body.id)}/approve`, bob, { comment: 'ok' });
  t.equal(approved.status, 409, 'the approver is refused');
  t.equal(approved.body.error?.code, 'JITGATE_E_REQUEST_OUTSIDE_SETTINGS');
  const cli = await runCli(['approve', String(more.body.id), '--url', gw.controlUrl], { JITGATE_TOKEN: bob });
  t.equal(cli.code, 5, 'the CLI exits as for any conflict');
  t.match(cli.stderr, /^jitgate: JITGATE_E_REQUEST_OUTSIDE_SETTINGS: .*role writer now requires .*a ticket, at most 0 extensions/, 'and says why');

  for (const id of [long.body.id, more.body.id]) {
    t.match(await get(`/v1/requests/${String(id)}`, alice), { status: 'pending', approvals: [], grant_id: null }, 'the request waits as it was');
  }
  const grants = (await get('/v1/grants?subject=alice', dave)).items as { id: string; expires_at: string }[];
  t.same(grants.map((g) => [g.id, g.expires_at]), [[held, heldUntil]], 'alice holds only the hour approved before: no 8-hour grant, no extension');

  const trail = (await get('/v1/audit?role=writer&kind=workflow.refused', dave)).items as { request_id: string; actor: string; details: Record<string, unknown> }[];
  t.same(trail.map((r) => [r.request_id, r.actor, r.details.action, r.details.error_code]).sort(),
    [[long.body.id, 'bob', 'approve', 'JITGATE_E_REQUEST_OUTSIDE_SETTINGS'], [more.body.id, 'bob', 'approve', 'JITGATE_E_REQUEST_OUTSIDE_SETTINGS']].sort(), 'both attempts are on the record');
  for (const id of [long.body.id, more.body.id]) {
    const kinds = ((await get(`/v1/audit?request_id=${String(id)}`, dave)).items as { kind: string }[]).map((r) => r.kind).sort();
    t.same(kinds, ['request.created', 'workflow.refused'], 'and nothing else');
  }
});
