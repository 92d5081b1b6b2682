// The auditor's questions, on both stores.
import t from 'tap';
import pg from 'pg';
import type { Db } from '../../src/store/index.js';
import { createAuditTrail, queryAudit, type AuditEntry } from '../../src/audit/index.js';
import { DIALECTS, openStore } from './stores.js';
import { entry } from './entries.js';

for (const dialect of DIALECTS) {
  t.test(dialect, async (t) => {
    const s = await openStore(dialect);
    t.teardown(() => s.close());
    const trail = createAuditTrail(s.db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
    await trail.start();
    await trail.append(entry({ kind: 'request.created', actor: 'alice', subject: 'alice', request_id: 'r1', grant_id: null, role: 'writer' }));
    await trail.append(entry({ kind: 'request.approved', actor: 'bob', subject: 'alice', request_id: 'r1', grant_id: null, role: 'writer' }));
    await trail.append(entry({ kind: 'grant.granted', actor: 'system', subject: 'alice', request_id: 'r1', grant_id: 'g1', role: 'writer' }));
    await trail.append(entry({ kind: 'proxy.allowed_with_grant', actor: 'alice', subject: 'alice', request_id: null, grant_id: 'g1', role: 'writer', route: 'orders', decision_id: 'd1' }));
    await trail.append(entry({ kind: 'proxy.denied', actor: 'erin', subject: 'erin', request_id: null, grant_id: null, role: null, route: 'orders', decision_id: 'd2' }));
    await trail.append(entry({ kind: 'request.denied', actor: 'carol', subject: 'erin', request_id: 'r2', grant_id: null, role: 'admin' }));
    const midpoint = new Date(Date.now() + 5).toISOString();
    await new Promise((r) => setTimeout(r, 20));
    await trail.append(entry({ kind: 'grant.revoked', actor: 'dave', subject: 'alice', request_id: 'r1', grant_id: 'g1', role: 'writer' }));
    await trail.stop();

    const seqs = async (filter: Parameters<typeof queryAudit>[1]): Promise<number[]> =>
      (await queryAudit(s.db, filter)).records.map((r) => r.seq);

    t.same(await seqs({ subject: 'alice' }), [1, 2, 3, 4, 7], 'everything concerning alice');
    t.same(await seqs({ actor: 'bob' }), [2], 'what bob did');
    t.same(await seqs({ who: 'erin' }), [5, 6], 'erin as actor or subject');
    t.same(await seqs({ grant_id: 'g1' }), [3, 4, 7], 'the life of grant g1');
    t.same(await seqs({ request_id: 'r1' }), [1, 2, 3, 7]);
    t.same(await seqs({ role: 'admin' }), [6]);
    t.same(await seqs({ route: 'orders' }), [4, 5]);
    t.same(await seqs({ decision: 'deny' }), [5, 6]);
    t.same(await seqs({ decision: 'allow' }), [2, 4]);
    t.same(await seqs({ kinds: ['grant.*'] }), [3, 7], 'a kind family');
    t.same(await seqs({ kinds: ['proxy.denied', 'grant.revoked'] }), [5, 7]);
    // A family is its name exactly, on both stores: no LIKE wildcards, no case folding (SQLite's LIKE folds ASCII case, PostgreSQL's does not).
    t.same(await seqs({ kinds: ['gran_.*'] }), [], '_ is no wildcard');
    t.same(await seqs({ kinds: ['%.*'] }), [], '% is no wildcard');
    t.same(await seqs({ kinds: ['GRANT.*'] }), [], 'a family in another case is another family, as an exact kind is');
    t.same(await seqs({ kinds: ['GRANT.revoked'] }), []);
    t.same(await seqs({ since: midpoint }), [7], 'since is inclusive of later records only');
    t.same(await seqs({ until: midpoint }), [1, 2, 3, 4, 5, 6]);
    t.same(await seqs({ subject: 'alice', kinds: ['grant.*'], order: 'desc' }), [7, 3]);
    t.rejects(queryAudit(s.db, { since: 'not a date' }), { code: 'JITGATE_E_VALIDATION', details: { field: 'since' } });

    const page1 = await queryAudit(s.db, { limit: 3 });
    t.same(page1.records.map((r) => r.seq), [1, 2, 3]);
    t.equal(page1.next_cursor, 3);
    const page3 = await queryAudit(s.db, { limit: 3, cursor: 6 });
    t.same(page3.records.map((r) => r.seq), [7]);
    t.equal(page3.next_cursor, null, 'last page says so');
    // A page size the query cannot take is refused, not changed into one it can (0 answered 1 record, 5000 answered 1000).
    for (const limit of [0, -1, 1.5, 1001]) {
      await t.rejects(queryAudit(s.db, { limit }), { code: 'JITGATE_E_VALIDATION', details: { field: 'limit' } }, `limit ${String(limit)}`);
    }
    t.equal((await queryAudit(s.db, { limit: 1000 })).records.length, 7, 'the largest page is taken');

    // Digits past the millisecond: a record at .350 lies before .3505, so `until` takes it and `since` does not.
    // Records can share a millisecond, so the expected seqs come from the stored times.
    const all = (await queryAudit(s.db, { limit: 1000 })).records;
    const at = all[3]!.at;
    const where = (keep: (t: string) => boolean): number[] => all.filter((r) => keep(r.at)).map((r) => r.seq);
    const finer = (digits: string): string => at.replace('Z', `${digits}Z`);
    for (const digits of ['5', '0000001', '999']) {
      const until = await seqs({ until: finer(digits) });
      t.ok(until.includes(4), `until ${finer(digits)} includes the record at ${at} (cut to the millisecond, it left it out)`);
      t.same(until, where((x) => x <= at));
      const since = await seqs({ since: finer(digits) });
      t.notOk(since.includes(4), `since ${finer(digits)} leaves it out (cut to the millisecond, it took it in)`);
      t.same(since, where((x) => x > at));
    }
    t.same(await seqs({ until: finer('000') }), where((x) => x < at), 'zeros after the millisecond are the millisecond: until stays exclusive');
    t.notOk((await seqs({ until: finer('000') })).includes(4));
    t.same(await seqs({ since: finer('000') }), where((x) => x >= at), 'and since inclusive');
  });

  t.test(`${dialect}: a request allowed under two grants is found by either, and by either role`, async (t) => {
    const s = await openStore(dialect);
    t.teardown(() => s.close());
    const trail = createAuditTrail(s.db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
    await trail.start();
    const use = (seqGrants: string[], roles: Record<string, string>): ReturnType<typeof entry> => entry({
      kind: 'proxy.allowed_with_grant', actor: 'alice', subject: 'alice', request_id: null, grant_id: seqGrants[0] ?? null,
      role: roles[seqGrants[0] ?? ''] ?? null, route: 'demo', decision_id: `d-${seqGrants.join('-')}`,
      details: { method: 'POST', path: '/api/items', grant_ids: seqGrants, grant_roles: roles },
    });
    await trail.append(use(['g-writer', 'g-glass'], { 'g-writer': 'writer', 'g-glass': 'breakglass' }));
    await trail.append(use(['g-writer'], { 'g-writer': 'writer' }));
    await trail.append(entry({ kind: 'grant.granted', grant_id: 'g-glass', role: 'breakglass' }));
    await trail.stop();
    const seqs = async (filter: Parameters<typeof queryAudit>[1]): Promise<number[]> =>
      (await queryAudit(s.db, filter)).records.map((r) => r.seq);

    t.same(await seqs({ grant_id: 'g-glass' }), [1, 3], 'the break-glass grant\'s use, though another grant came first');
    t.same(await seqs({ grant_id: 'g-writer' }), [1, 2]);
    t.same(await seqs({ role: 'breakglass' }), [1, 3], 'and by its role');
    t.same(await seqs({ role: 'breakglass', kinds: ['proxy.*'] }), [1], 'its uses alone');

    // A store written before the grants were indexed: the upgrade fills the index from the records.
    await s.db.query('DROP TABLE jitgate_audit_grants');
    await s.db.query('DROP TABLE jitgate_audit_http');
    await s.db.query('DROP TABLE jitgate_audit_supersedes');
    await s.db.query('DROP INDEX jitgate_audit_decision');
    await s.db.query("DELETE FROM jitgate_migrations WHERE part = 'audit' AND version >= 2");
    const again = createAuditTrail(s.db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
    await again.start();
    await again.stop();
    t.same(await seqs({ grant_id: 'g-glass' }), [1, 3], 'after the upgrade, found by either grant');
    t.same(await seqs({ role: 'writer', kinds: ['proxy.*'] }), [1, 2], 'and by the first grant\'s role (the only one older records keep in their columns)');
  });

  t.test(`${dialect}: the records of one HTTP request, from its x-request-id`, async (t) => {
    const s = await openStore(dialect);
    t.teardown(() => s.close());
    const trail = createAuditTrail(s.db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
    await trail.start();
    const call = (kind: AuditEntry['kind'], id: unknown): ReturnType<typeof entry> => entry({ kind, details: id === undefined ? {} : { http_request_id: id } });
    await trail.append(call('request.created', 'ctl-1'));
    await trail.append(call('proxy.allowed_with_grant', 'px-2'));
    await trail.append(call('approval.added', 'ctl-3'));
    await trail.append(call('request.approved', 'ctl-3'));
    await trail.append(call('grant.expired', undefined));
    await trail.append(call('proxy.denied', { not: 'an id' }));
    await trail.append(call('proxy.not_forwarded', 'px-2'));
    await trail.stop();
    const seqs = async (filter: Parameters<typeof queryAudit>[1]): Promise<number[]> =>
      (await queryAudit(s.db, filter)).records.map((r) => r.seq);
    t.same(await seqs({ http_request_id: 'ctl-3' }), [3, 4], 'every record one control API call wrote');
    t.same(await seqs({ http_request_id: 'px-2' }), [2, 7], 'every record of one proxied request');
    t.same(await seqs({ http_request_id: 'px-2', kinds: ['proxy.not_forwarded'] }), [7], 'with the other filters');
    t.same(await seqs({ http_request_id: 'nobody' }), []);

    // A store written before the ids were indexed: the upgrade fills the index from the records.
    await s.db.query('DROP TABLE jitgate_audit_http');
    await s.db.query('DROP TABLE jitgate_audit_supersedes');
    await s.db.query('DROP INDEX jitgate_audit_decision');
    await s.db.query("DELETE FROM jitgate_migrations WHERE part = 'audit' AND version >= 3");
    const again = createAuditTrail(s.db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
    await again.start();
    await again.stop();
    t.same(await seqs({ http_request_id: 'ctl-3' }), [3, 4], 'after the upgrade, found as before');
    t.same(await seqs({ http_request_id: 'px-2' }), [2, 7]);
  });

  t.test(`${dialect}: a decision, and the decision that replaced it (details.supersedes)`, async (t) => {
    const s = await openStore(dialect);
    t.teardown(() => s.close());
    const trail = createAuditTrail(s.db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
    await trail.start();
    const decided = (kind: AuditEntry['kind'], decision_id: string, supersedes?: unknown): ReturnType<typeof entry> =>
      entry({ kind, decision_id, details: supersedes === undefined ? {} : { supersedes } });
    await trail.append(decided('proxy.allowed_with_grant', 'd-1'));
    await trail.append(entry({ kind: 'grant.revoked', decision_id: null }));
    await trail.append(decided('proxy.allowed_with_grant', 'd-2', 'd-1'));
    await trail.append(decided('proxy.denied', 'd-3', 'd-2'));
    await trail.append(decided('proxy.denied', 'd-4', { not: 'an id' }));
    await trail.append(decided('proxy.allowed_standing', 'd-5'));
    // Records the gateway does not write (each names the other): followed once each, the lookup ends.
    await trail.append(decided('proxy.denied', 'd-6', 'd-7'));
    await trail.append(decided('proxy.denied', 'd-7', 'd-6'));
    await trail.stop();
    const seqs = async (filter: Parameters<typeof queryAudit>[1]): Promise<number[]> =>
      (await queryAudit(s.db, filter)).records.map((r) => r.seq);
    t.same(await seqs({ decision_id: 'd-1' }), [1, 3, 4], 'the replaced allow, the decision that replaced it, and the one that replaced that (it found [1, 3])');
    t.same(await seqs({ decision_id: 'd-2' }), [3, 4], 'a decision both replacing and replaced');
    t.same(await seqs({ decision_id: 'd-2', kinds: ['proxy.denied'] }), [4], 'with the other filters');
    t.same(await seqs({ decision_id: 'd-3' }), [4]);
    t.same(await seqs({ decision_id: 'd-5' }), [6], 'a decision nothing replaced: its own record');
    t.same(await seqs({ decision_id: 'd-6' }), [7, 8], 'a chain that loops ends');
    const first = await queryAudit(s.db, { decision_id: 'd-1', limit: 1 });
    t.same([first.records.map((r) => r.seq), first.next_cursor], [[1], 1], 'paged like any query');

    // A store written before the superseded ids were indexed: the upgrade fills the index.
    await s.db.query('DROP TABLE jitgate_audit_supersedes');
    await s.db.query('DROP INDEX jitgate_audit_decision');
    await s.db.query("DELETE FROM jitgate_migrations WHERE part = 'audit' AND version >= 4");
    const again = createAuditTrail(s.db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
    await again.start();
    await again.stop();
    t.same(await seqs({ decision_id: 'd-1' }), [1, 3, 4], 'after the upgrade, found as before');
    t.same(await seqs({ decision_id: 'd-2' }), [3, 4]);
    t.same(await seqs({ decision_id: 'd-4' }), [5], 'a supersedes that is no id is not indexed');

  });

  t.test(`${dialect}: a lookup by decision, grant, role or HTTP request reads that one's records, not the whole trail`, async (t) => {
    // The decision log and every 403 hand out decision_ids, grants have ids: an auditor looks them
    // up on a trail of millions. Each store is asked how it would run the query queryAudit sends
    // (PostgreSQL with sequential scans off: on a small table it would scan whatever the query).
    const s = await openStore(dialect);
    t.teardown(() => s.close());
    const trail = createAuditTrail(s.db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
    await trail.start();
    await trail.stop();
    // Every query one lookup sends (a decision's chain is followed round by round first).
    let sent: { text: string; params: readonly unknown[] }[] = [];
    const spy: Db = new Proxy(s.db, {
      get: (target, prop, receiver): unknown => (prop === 'query'
        ? (text: string, params: readonly unknown[] = []) => { sent.push({ text, params }); return target.query(text, params); }
        : Reflect.get(target, prop, receiver) as unknown),
    });
    const client = s.store.type === 'postgres' ? new pg.Client({ connectionString: s.store.url }) : null;
    if (client) {
      await client.connect();
      t.teardown(() => client.end());
      await client.query('SET enable_seqscan = off');
    }
    for (const filter of [{ decision_id: 'd' }, { grant_id: 'g' }, { role: 'r' }, { http_request_id: 'h' }]) {
      sent = [];
      await queryAudit(spy, filter);
      const scans: string[] = [];
      for (const { text, params } of sent) {
        if (client) {
          const lines = (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, [...params])).rows.map((r) => r['QUERY PLAN']);
          scans.push(...lines.flatMap((l, n) => (/Scan.* on jitgate_audit( |$)/.test(l) ? [`${l.trim()} / ${lines[n + 1]?.trim() ?? ''}`] : [])));
        } else {
          const plan = (await s.db.query(`EXPLAIN QUERY PLAN ${text}`, params)).map((r) => String(r.detail));
          t.notOk(plan.some((l) => /^SCAN jitgate_audit\b(?!_)/.test(l)), `${JSON.stringify(filter)}: no scan of the trail (${plan.join('; ')})`);
        }
      }
      if (client) t.ok(scans.length > 0 && scans.every((l) => / \/ Index Cond: /.test(l)), `${JSON.stringify(filter)}: the trail is read by index (${scans.join('; ')})`);
    }
  });
}
