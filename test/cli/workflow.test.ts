// The real `jitgate` CLI as a child process against a real control server: the workflow.
import t from 'tap';
import { EXIT } from '../../src/cli/context.js';
import { api } from '../admin/stack.js';
import { startCliStack } from './jitgate.js';

const { stack, tokens, jitgate, as } = await startCliStack();
t.teardown(() => stack.close());

t.test('request, list, approve, grants, revoke: tables for people, JSON for scripts', async (t) => {
  const asked = await jitgate(['request', '--role', 'writer', '--duration', '30m', '--reason', 'refund INC-42', '--ticket', 'INC-42',
    '--route', 'demo', '--scope-method', 'post', '--scope-path', '/api/orders/**', '--json'], as('alice'));
  t.equal(asked.code, EXIT.OK, asked.stderr);
  const request = JSON.parse(asked.stdout);
  t.match(request, { status: 'pending', role: 'writer', duration_seconds: 1800, scope: { route: 'demo', methods: ['POST'], paths: ['/api/orders/**'] } });

  // Independent runs go in pairs: each CLI start costs a second or more on this two-core machine.
  const [human, mine] = await Promise.all([
    jitgate(['requests', '--status', 'pending'], as('bob')),
    jitgate(['requests', '--mine', '--json'], as('alice')),
  ]);
  t.equal(human.code, EXIT.OK);
  const lines = human.stdout.trim().split('\n');
  t.match(lines[0], /^ID\s+REQUESTER\s+ROLE\s+DURATION\s+STATUS\s+APPROVALS\s+CREATED\s+REASON$/);
  t.match(human.stdout, new RegExp(`${request.id}\\s+alice\\s+writer\\s+30m\\s+pending\\s+0/1`));

  t.same(JSON.parse(mine.stdout).items.map((r: { id: string }) => r.id), [request.id]);

  const approved = await jitgate(['approve', request.id, '--comment', 'ok'], { ...as('bob') });
  t.equal(approved.code, EXIT.OK, approved.stderr);
  t.match(approved.stdout, /status:\s+approved/);
  t.match(approved.stdout, /grant:\s+\S+/);

  const [grants, table] = await Promise.all([jitgate(['grants', '--active', '--json'], as('alice')), jitgate(['grants', '--mine'], as('alice'))]);
  const [grant] = JSON.parse(grants.stdout).items;
  t.match(grant, { role: 'writer', subject: { id: 'alice' }, status: 'active', approved_by: ['bob'] });
  t.match(table.stdout, new RegExp(`${grant.id}\\s+alice\\s+writer\\s+active\\s+in (29m[0-9]+s|30m)\\s+bob`));

  const revoked = await jitgate(['revoke', grant.id, '--reason', 'done'], as('alice'));
  t.equal(revoked.code, EXIT.OK, revoked.stderr);
  t.match(revoked.stdout, /status:\s+revoked/);
  const gone = await api(stack.base, 'GET', '/v1/grants?active=true&subject=alice', { token: tokens.alice });
  t.same(gone.body.items, [], 'the revoke reached the server');
});

t.test('whoami, review, flags over environment', async (t) => {
  const [who, svc] = await Promise.all([
    jitgate(['whoami', '--token', tokens.dave!], as('alice')),
    jitgate(['whoami', '--json'], { JITGATE_TOKEN: stack.apiKey }),
  ]);
  t.equal(who.code, EXIT.OK);
  t.match(who.stdout, /subject:\s+dave/, '--token wins over JITGATE_TOKEN');
  t.match(who.stdout, /audit reader:\s+yes/);
  t.match(JSON.parse(svc.stdout), { id: 'svc-reporting', kind: 'service' });

  const bg = JSON.parse((await jitgate(['request', '--role', 'breakglass', '--duration', '10m', '--reason', 'outage INC-7 in prod', '--json'], as('alice'))).stdout);
  t.match(bg, { status: 'approved', break_glass: true });
  const [listed, ext] = await Promise.all([
    jitgate(['grants', bg.grant_id], as('dave')),
    jitgate(['request', '--extend', bg.grant_id, '--duration', '5m', '--reason', 'more', '--json'], as('alice')),
  ]);
  t.match(listed.stdout, /break-glass:\s+NOT REVIEWED/);
  t.equal(ext.code, EXIT.DENIED, 'break-glass allows no extensions (policy)');
  const reviewed = await jitgate(['review', bg.grant_id, '--comment', 'justified'], as('dave'));
  t.equal(reviewed.code, EXIT.OK, reviewed.stderr);
  t.match(reviewed.stdout, /break-glass:\s+reviewed by dave/);
});

t.test('--pending-ttl asks for a shorter wait; a longer one than the gateway allows is a usage error', async (t) => {
  const [short, long] = await Promise.all([
    jitgate(['request', '--role', 'writer', '--duration', '10m', '--reason', 'quick fix', '--pending-ttl', '20m', '--json'], as('alice')),
    jitgate(['request', '--role', 'writer', '--duration', '10m', '--reason', 'quick fix', '--pending-ttl', '2d'], as('alice')),
  ]);
  t.equal(short.code, EXIT.OK, short.stderr);
  const r = JSON.parse(short.stdout) as { created_at: string; pending_expires_at: string };
  t.equal((Date.parse(r.pending_expires_at) - Date.parse(r.created_at)) / 1000, 1200, 'it waits 20 minutes for approvers');
  t.equal(long.code, EXIT.USAGE);
  t.match(long.stderr, /pending_ttl: at most 3600 seconds/);
});

t.test('tables blank what would break a row or reorder it: line separators, bidi overrides, isolates and marks', async (t) => {
  const reason = 'fix\u2028req_forged  mallory  admin\u2029 \u202eevil\u202c \u2066x\u2069 \u202a\u202b\u202d\u2067\u2068\u200e\u200f\u061c';
  const asked = await api(stack.base, 'POST', '/v1/requests', { token: tokens.alice, body: { role: 'writer', duration: '10m', reason } });
  t.equal(asked.status, 201);
  const shown = await jitgate(['requests', asked.body.id], as('alice'));
  t.equal(shown.code, EXIT.OK, shown.stderr);
  const listed = await jitgate(['requests', '--mine'], as('alice'));
  for (const [name, out] of [['detail', shown.stdout], ['table', listed.stdout]] as const) {
    t.notMatch(out, /[\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/, `${name}: none reaches the terminal`);
  }
  const row = listed.stdout.split('\n').find((l) => l.startsWith(String(asked.body.id)));
  t.match(row, /fix req_forged +mallory +admin +evil +x/, 'the reason stays on its own row, in the order it was typed');
});

t.test('an extension is shown to approvers as one: the grant it extends and when that ends', async (t) => {
  const asked = await api(stack.base, 'POST', '/v1/requests', { token: tokens.alice, body: { role: 'writer', duration: '1h', reason: 'migration' } });
  const ok = await api(stack.base, 'POST', `/v1/requests/${asked.body.id}/approve`, { token: tokens.bob });
  const grant = await api(stack.base, 'GET', `/v1/grants/${ok.body.grant_id}`, { token: tokens.alice });
  const ext = await api(stack.base, 'POST', '/v1/requests', { token: tokens.alice, body: { extends_grant_id: grant.body.id, duration: '1h', reason: 'slow' } });
  t.equal(ext.status, 201);
  const ends = `${String(grant.body.expires_at).slice(0, 19).replace('T', ' ')}Z`;
  const [listed, shown] = await Promise.all([jitgate(['requests', '--status', 'pending', '--requester', 'alice'], as('bob')), jitgate(['requests', ext.body.id], as('bob'))]);
  t.equal(listed.code, EXIT.OK, listed.stderr);
  const [header, ...rows] = listed.stdout.trim().split('\n');
  t.match(header, /^ID\s+REQUESTER\s+ROLE\s+DURATION\s+EXTENDS\s+STATUS/);
  t.match(rows.find((l) => l.startsWith(String(ext.body.id))), new RegExp(`writer\\s+1h\\s+${String(grant.body.id)} \\(ends ${ends}, in (59m[0-9]+s|1h)\\)\\s+pending`));
  t.match(shown.stdout, new RegExp(`extends:\\s+${String(grant.body.id)} \\(ends ${ends}, in`));
  await api(stack.base, 'POST', `/v1/requests/${ext.body.id}/withdraw`, { token: tokens.alice });
  await api(stack.base, 'POST', `/v1/grants/${grant.body.id}/revoke`, { token: tokens.alice });
});

t.test('grants --unreviewed lists break-glass grants still owed a review, ended ones too', async (t) => {
  const bg = await api(stack.base, 'POST', '/v1/requests', { token: tokens.alice, body: { role: 'breakglass', duration: '1h', reason: 'urgent key rotation' } });
  const grantId = String(bg.body.grant_id);
  await api(stack.base, 'POST', `/v1/grants/${grantId}/revoke`, { token: tokens.alice });
  const listed = await jitgate(['grants', '--unreviewed'], as('dave'));
  t.equal(listed.code, EXIT.OK, listed.stderr);
  t.match(listed.stdout, new RegExp(`${grantId}\\s+alice\\s+breakglass\\s+revoked\\s+.*break-glass,unreviewed`));
  const reviewed = await jitgate(['review', grantId, '--comment', 'justified'], as('dave'));
  t.equal(reviewed.code, EXIT.OK, reviewed.stderr);
  t.notMatch((await jitgate(['grants', '--unreviewed'], as('dave'))).stdout, grantId, 'reviewed, it is off the list');
});

t.test('a listing goes on with --cursor, as its last line says', async (t) => {
  const first = await jitgate(['requests', '--limit', '1'], as('dave'));
  t.equal(first.code, EXIT.OK, first.stderr);
  const cursor = /\(more: --cursor (\S+)\)$/.exec(first.stdout.trim())?.[1];
  t.ok(cursor, 'the page says how to go on');
  const next = await jitgate(['requests', '--limit', '1', '--cursor', cursor!, '--json'], as('dave'));
  const all = await api(stack.base, 'GET', '/v1/requests?limit=2', { token: tokens.dave });
  t.same(JSON.parse(next.stdout).items.map((r: { id: string }) => r.id), [all.body.items[1].id], 'and the next page is the next request');
});
