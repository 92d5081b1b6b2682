// A write allowed under alice's writer grant G has its proxy.allowed_with_grant record on the trail
// before it goes; when G is revoked (on another replica) while that record waits for the chain
// lock, the write is decided again on what holds now. The trail must then say what really
// happened, round by round: the next record names the decision it replaces (details.supersedes)
// whatever it decided, a deny, an allow on standing access (otherwise never audited) or an allow
// under another grant. Two real `jitgate serve` on one PostgreSQL database; the test holds the
// chain lock so that the revoke is queued ahead of the write's append, as a busy trail lets it.
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import pg from 'pg';
import { demoRun } from '../helpers/demo-run.js';
import { repoRoot, runCli, tempDir } from '../helpers/gateway.js';
import { within } from '../helpers/poll.js';

interface Row { seq: number; kind: string; grant_id: string | null; decision_id: string | null; details: { path?: string; grant_ids?: string[]; supersedes?: string } }

t.test('a write decided again after its allow was recorded: every round is on the trail, naming the one it replaced', async (t) => {
  const policies = join(tempDir('jg-redecided-'), 'policies');
  cpSync(join(repoRoot, 'policies'), policies, { recursive: true });
  // The sample policy, plus writes under /api/notes/ open to every employee on standing access
  // (readonly credential) when no grant covers them.
  writeFileSync(join(policies, 'jitgate/lib/notes.rego'), [
    'package jitgate.lib.notes', '',
    'import data.jitgate.lib.access', '',
    'decision := access.decision if {', '\taccess.decision.allow == true',
    '} else := {"allow": true, "reason": "notes are open to employees", "obligations": {"credential": "readonly"}, "grant_ids": []} if {',
    '\tstartswith(input.request.path, "/api/notes/")', '\tinput.subject.kind == "user"',
    '} else := access.decision', '',
  ].join('\n'));
  writeFileSync(join(policies, 'jitgate/authz.rego'), [
    'package jitgate.authz', '',
    'import data.jitgate.lib.notes', '',
    'default allow := false', '',
    'allow if notes.decision.allow == true', '',
    'default reason := "no authz rule matched"', '',
    'reason := notes.decision.reason', '',
    'elevation := notes.decision.elevation', '',
    'obligations := notes.decision.obligations', '',
    'grant_ids := notes.decision.grant_ids', '',
  ].join('\n'));
  const run = await demoRun(t, {
    prefix: 'jg-redecided-', subjects: { alice: ['eng'], bob: ['eng', 'approvers'] }, postgres: true,
    jitgate: { policy: { dir: policies, bundles_dir: join(policies, '..', 'bundles'), watch: false } },
  });
  const env = { DEMO_RUN_PG_URL: String(run.dbUrl) };
  const [a, b] = [await run.start(), await run.start()];
  const [alice, bob] = [await run.token('alice'), await run.token('bob')];
  const sql = new pg.Client({ connectionString: String(run.dbUrl) });
  await sql.connect();
  t.teardown(() => sql.end());

  const waiting = async (): Promise<number> => Number((await sql.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
     WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()`,
  )).rows[0]?.n);
  const post = async (path: string, tag: string): Promise<{ status: number; code?: string; decisionId: string | null }> => {
    const res = await fetch(`${a.proxyUrl}${path}/${tag}`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: '{"name":"x"}' });
    const body = (await res.json()) as { error?: { code?: string } };
    return { status: res.status, code: body.error?.code, decisionId: res.headers.get('x-jitgate-decision-id') };
  };
  /**
   * With the chain lock held: G's revoke on replica B queues for it first, then the write on
   * replica A, decided under G (not revoked yet), queues its allowed_with_grant record behind.
   */
  const revokedDuringAppend = async (grantId: string, path: string, tag: string): Promise<Awaited<ReturnType<typeof post>>> => {
    await sql.query('BEGIN');
    await sql.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['jitgate_audit_chain']);
    const revoked = run.post(b, `/v1/grants/${grantId}/revoke`, bob, { reason: 'during the append' });
    t.ok(await within(async () => (await waiting()) === 1), 'the revoke waits for the trail');
    const written = post(path, tag);
    t.ok(await within(async () => (await waiting()) === 2), 'and the write, allowed under the grant, waits behind it');
    await sql.query('COMMIT');
    t.equal((await revoked).status, 200, 'the revoke returned');
    return written;
  };
  const trail = async (): Promise<Row[]> => {
    const exported = await runCli(['audit', 'export', '--config', run.configFile], env);
    t.equal(exported.code, 0, exported.stderr);
    return exported.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
  };
  const ofPath = (rows: readonly Row[], path: string): Row[] => rows.filter((r) => r.details.path === path);
  const key = (path: string, tag: string): (string | undefined)[] => run.upstream.seen.filter((s) => s.url === `${path}/${tag}`).map((s) => s.headers['x-api-key'] as string | undefined);

  await t.test('(a) now denied: the deny names the allow it replaced; the upstream never saw the write', async (t) => {
    const g = await run.writerGrant(a, 'alice', 'bob');
    const res = await revokedDuringAppend(g, '/api/items', 'a');
    t.same([res.status, res.code], [403, 'JITGATE_E_FORBIDDEN']);
    t.same(key('/api/items', 'a'), [], 'the upstream never saw it');
    const rows = ofPath(await trail(), '/api/items/a');
    t.same(rows.map((r) => [r.kind, r.grant_id]), [['proxy.allowed_with_grant', g], ['proxy.denied', null]], 'allowed under G, then denied');
    t.equal(rows[1]?.details.supersedes, rows[0]?.decision_id, 'the deny names the decision it replaced');
    t.equal(rows[1]?.decision_id, res.decisionId, 'and is the decision the caller was told');
    // An auditor asking about the replaced decision finds the record that replaced it too.
    const asked = await runCli(['audit', 'query', '--config', run.configFile, '--decision-id', String(rows[0]?.decision_id), '--jsonl'], env);
    t.equal(asked.code, 0, asked.stderr);
    t.same(asked.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as Row).seq), rows.map((r) => r.seq),
      'jitgate audit query --decision-id <the replaced decision>: the allow and the deny that replaced it');
  });

  await t.test('(b) now allowed on standing access: recorded (proxy.allowed_standing), naming the allow it replaced', async (t) => {
    const g = await run.writerGrant(a, 'alice', 'bob');
    const res = await revokedDuringAppend(g, '/api/notes', 'b');
    t.equal(res.status, 200, 'allowed on standing access');
    t.same(key('/api/notes', 'b'), [run.keys.readonly], 'it went once, with the standing credential, never the writer one');
    const rows = ofPath(await trail(), '/api/notes/b');
    t.same(rows.map((r) => [r.kind, r.grant_id]), [['proxy.allowed_with_grant', g], ['proxy.allowed_standing', null]], 'allowed under G, then on standing access');
    t.equal(rows[1]?.details.supersedes, rows[0]?.decision_id, 'the standing allow names the decision it replaced');
    t.equal(rows[1]?.decision_id, res.decisionId, 'and is the decision the write went under');
  });

  await t.test('(c) another grant G2 allows: the second record names G2 alone and the allow it replaced', async (t) => {
    const g = await run.writerGrant(a, 'alice', 'bob');
    const g2 = await run.writerGrant(a, 'alice', 'bob');
    const res = await revokedDuringAppend(g, '/api/items', 'c');
    t.equal(res.status, 200, 'allowed under G2');
    t.same(key('/api/items', 'c'), [run.keys.writer], 'it went once, with the writer credential');
    const rows = ofPath(await trail(), '/api/items/c');
    t.same(rows.map((r) => [r.kind, [...(r.details.grant_ids ?? [])].sort()]), [['proxy.allowed_with_grant', [g, g2].sort()], ['proxy.allowed_with_grant', [g2]]],
      'allowed under G and G2, then under G2 alone');
    t.equal(rows[1]?.grant_id, g2);
    t.equal(rows[1]?.details.supersedes, rows[0]?.decision_id, 'the second allow names the decision it replaced');
    t.equal(rows[1]?.decision_id, res.decisionId);
  });

  const rows = await trail();
  t.equal(rows.filter((r) => r.kind === 'grant.revoked').length, 3, 'the three revokes are on the trail');
  await a.stop();
  await b.stop();
  const verified = await runCli(['audit', 'verify', '--config', run.configFile], env);
  t.equal(verified.code, 0, `audit verify: ${verified.stdout.trim()} ${verified.stderr.trim()}`);
});
