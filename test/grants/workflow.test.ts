// The elevation workflow end to end with the repo's sample policies (real opa build, real
// opa-wasm), the real audit trail, and the same suite against SQLite and PostgreSQL.
import t from 'tap';
import { verifyChain } from '../../src/audit/index.js';
import { createWorkflow } from '../../src/grants/index.js';
import { jitgateError } from '../../src/errors.js';
import type { PolicyEvaluator } from '../../src/policy/index.js';
import { alice, auditOf, bob, carol, dave, erin, mallory, samplePolicy, samplePolicyEdited, storeWithReplica, user, type Dialect } from './helpers.js';

// The policy after a change merged while requests wait: writer and admin are for `sre` only.
let sreOnly: Promise<PolicyEvaluator> | null = null;
const sreOnlyPolicy = (): Promise<PolicyEvaluator> => sreOnly ??= samplePolicyEdited((data) => {
  for (const role of ['writer', 'admin']) data.jitgate.roles[role]!.eligible_groups = ['sre'];
});

// The policy tightened during an incident while requests wait: writer for an hour at most, with a
// ticket, and no more extensions; and, apart, a writer reason of at least 40 characters (a rule only
// the policy sees: the workflow is not given min_reason_length).
let tightened: Promise<PolicyEvaluator> | null = null;
const tightenedPolicy = (): Promise<PolicyEvaluator> => tightened ??= samplePolicyEdited((data) => {
  Object.assign(data.jitgate.roles.writer!, { max_duration_seconds: 3600, require_ticket: true, max_extensions: 0 });
});
let wordy: Promise<PolicyEvaluator> | null = null;
const wordyPolicy = (): Promise<PolicyEvaluator> => wordy ??= samplePolicyEdited((data) => {
  data.jitgate.roles.writer!.min_reason_length = 40;
});

let twoApprovers: Promise<PolicyEvaluator> | null = null;
const twoApproversPolicy = (): Promise<PolicyEvaluator> => twoApprovers ??= samplePolicyEdited((data) => {
  data.jitgate.roles.writer!.approvals_required = 2;
});

/** A policy that serves whichever engine `current` holds: the hot swap a running gateway makes. */
function swappable(first: PolicyEvaluator): { policy: PolicyEvaluator; serve: (p: PolicyEvaluator) => void } {
  let current = first;
  return {
    policy: {
      get revision() { return current.revision; },
      authorize: (input) => current.authorize(input),
      elevation: (input) => current.elevation(input),
    },
    serve: (p) => { current = p; },
  };
}

for (const dialect of ['sqlite', 'postgres'] as Dialect[]) {
  t.test(dialect, async (t) => {
    const { s, clock, r } = await storeWithReplica(t, dialect, 600);
    const wf = r.workflow;

    await t.test('request → approve: the grant starts at the approval and reaches the data path at once', async (t) => {
      const req = await wf.request(alice, { role: 'writer', scope: { methods: ['POST'], paths: ['/api/refunds/*'] }, duration_seconds: 900, reason: 'refund INC-7' });
      t.equal(req.status, 'pending');
      t.equal(req.approvals_required, 1);
      t.same(req.approver_groups, ['approvers']);
      t.match(req.policy_revision, /\S/);
      t.same(r.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms), [], 'nothing before approval');

      clock.advance(60_000);
      const approvedAt = clock.ms;
      const done = await wf.approve(bob, req.id, 'ok');
      t.equal(done.status, 'approved');
      t.equal(done.decided_by, 'bob');
      t.ok(done.grant_id);
      const grant = await wf.getGrant(done.grant_id!);
      t.equal(grant!.starts_at, new Date(approvedAt).toISOString());
      t.equal(grant!.expires_at, new Date(approvedAt + 900_000).toISOString());
      t.same(grant!.scope, { methods: ['POST'], paths: ['/api/refunds/*'] }, 'the scope is the one requested');
      t.same(grant!.approved_by, ['bob']);

      const live = r.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms);
      t.equal(live.length, 1);
      t.equal(live[0]!.expires_at_ns, (approvedAt + 900_000) * 1e6);
      t.same(r.events.slice(-2).map((e) => e.type), ['request.approved', 'grant.granted'], 'notified after commit');

      const kinds = (await auditOf(s.db, { request_id: req.id })).map((a) => a.kind);
      t.same(kinds, ['request.created', 'approval.added', 'request.approved', 'grant.granted'], 'every step is in the audit trail');
      const granted = (await auditOf(s.db, { request_id: req.id })).find((a) => a.kind === 'grant.granted')!;
      t.equal(granted.actor, 'bob');
      t.equal(granted.subject, 'alice');
      t.equal(granted.grant_id, grant!.id);
      t.equal(granted.role, 'writer');
      t.equal(granted.policy_revision, req.policy_revision);
    });

    await t.test('self-approval is refused, even by an approver, and leaves no trace of approval', async (t) => {
      const req = await wf.request(bob, { role: 'writer', duration_seconds: 600, reason: 'fix' });
      await t.rejects(wf.approve(bob, req.id), { code: 'JITGATE_E_SELF_APPROVAL' });
      await t.rejects(wf.approve(user('BOB', ['approvers']), req.id), { code: 'JITGATE_E_SELF_APPROVAL' }, 'not by letter case either');
      await t.rejects(wf.deny(bob, req.id), { code: 'JITGATE_E_SELF_APPROVAL' });
      const after = await wf.getRequest(req.id);
      t.equal(after!.status, 'pending');
      t.same(after!.approvals, []);
    });

    await t.test('an id that differs only by invisible or reordering characters is the same person to the checks that forbid', async (t) => {
      // Stored before the identity part refused such ids (the workflow takes subjects as given):
      // every table shows `bob\u200b` as bob, who must not approve or deny it.
      for (const id of ['bob\u200b', 'b\u00adob', '\u2066bob\u2069', 'bo\u200db', 'bob\ufe0f', '\ufeffBOB', 'bob\u{e0100}', 'bob\u3164']) {
        const req = await wf.request(user(id, ['eng']), { role: 'writer', duration_seconds: 600, reason: 'fix' });
        const shown = id.replace(/[^\x20-\x7e]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
        await t.rejects(wf.approve(bob, req.id), { code: 'JITGATE_E_SELF_APPROVAL' }, `bob does not approve ${shown}'s request`);
        await t.rejects(wf.deny(bob, req.id), { code: 'JITGATE_E_SELF_APPROVAL' }, `nor deny it`);
        const after = await wf.getRequest(req.id);
        t.equal(after!.status, 'pending');
        t.same(after!.approvals, []);
        t.same(r.cache.activeGrants({ id, kind: 'user' }, clock.ms), [], 'and no grant starts');
        t.equal((await wf.approve(carol, req.id)).status, 'approved', 'someone else still may');
      }
      // Nor does one approver count twice, once under each spelling.
      const two = await wf.request(alice, { role: 'admin', duration_seconds: 600, reason: 'rotate', ticket: 'INC-77' });
      await wf.approve(user('carol\u2060', ['approvers']), two.id);
      await t.rejects(wf.approve(carol, two.id), { code: 'JITGATE_E_ALREADY_APPROVED' });
      t.equal((await wf.getRequest(two.id))!.status, 'pending');
    });

    await t.test('a Latin name spelt with letters of another script is the same person to the checks that forbid', async (t) => {
      // `bоb` with a Cyrillic о (U+043E) reads as bob in every table: bob must not decide its request.
      for (const id of ['b\u043eb', '\u0432ob', 'bo\u13cf']) {
        const req = await wf.request(user(id, ['eng']), { role: 'writer', duration_seconds: 600, reason: 'fix' });
        await t.rejects(wf.approve(bob, req.id), { code: 'JITGATE_E_SELF_APPROVAL' }, `bob does not approve ${JSON.stringify(id)}'s request`);
        await t.rejects(wf.deny(bob, req.id), { code: 'JITGATE_E_SELF_APPROVAL' }, 'nor deny it');
        const after = await wf.getRequest(req.id);
        t.same([after!.status, after!.approvals], ['pending', []]);
        t.same(r.cache.activeGrants({ id, kind: 'user' }, clock.ms), [], 'and no grant starts');
        t.equal((await wf.approve(carol, req.id)).status, 'approved', 'someone else still may');
      }
      // Nor does one approver count twice, once in each script.
      const two = await wf.request(alice, { role: 'admin', duration_seconds: 600, reason: 'rotate', ticket: 'INC-78' });
      await wf.approve(user('c\u0430rol', ['approvers']), two.id);
      await t.rejects(wf.approve(carol, two.id), { code: 'JITGATE_E_ALREADY_APPROVED' });
      t.equal((await wf.getRequest(two.id))!.status, 'pending');
    });

    await t.test('only approvers the policy names may approve; each approver counts once', async (t) => {
      const req = await wf.request(alice, { role: 'admin', duration_seconds: 1800, reason: 'rotate the leaked key', ticket: 'INC-42' });
      t.equal(req.approvals_required, 2);
      await t.rejects(wf.approve(erin, req.id), { code: 'JITGATE_E_NOT_FOUND' }, 'one who may not see the request is told there is none');
      await t.rejects(wf.approve(user('frank', ['admins']), req.id), { code: 'JITGATE_E_ELEVATION_DENIED', message: /only members of approvers/ }, 'an administrator sees it, and is no approver');
      await t.rejects(wf.approve(mallory, req.id), { code: 'JITGATE_E_NOT_FOUND' });
      const one = await wf.approve(bob, req.id);
      t.equal(one.status, 'pending', 'one of two approvals');
      t.same(r.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).filter((g) => g.role === 'admin'), []);
      await t.rejects(wf.approve(bob, req.id), { code: 'JITGATE_E_ALREADY_APPROVED' });
      await t.rejects(wf.approve(user('Bob', ['approvers']), req.id), { code: 'JITGATE_E_ALREADY_APPROVED' });
      const two = await wf.approve(carol, req.id);
      t.equal(two.status, 'approved');
      t.same(two.approvals.map((a) => a.by), ['bob', 'carol']);
      await t.rejects(wf.approve(dave, req.id), { code: 'JITGATE_E_REQUEST_NOT_PENDING' }, 'no approval after the decision');
      t.ok(r.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).some((g) => g.role === 'admin'));
    });

    await t.test('the policy decides whether one may ask at all', async (t) => {
      await t.rejects(wf.request(alice, { role: 'admin', duration_seconds: 600, reason: 'x' }), { code: 'JITGATE_E_TICKET_REQUIRED', message: /requires a ticket/ });
      await t.rejects(wf.request(alice, { role: 'writer', duration_seconds: 28801, reason: 'x' }), { code: 'JITGATE_E_DURATION_TOO_LONG' });
      await t.rejects(wf.request(alice, { role: 'writer', duration_seconds: 60, reason: '  ' }), { code: 'JITGATE_E_REASON_REQUIRED' });
      await t.rejects(wf.request(dave, { role: 'writer', duration_seconds: 60, reason: 'x' }), { code: 'JITGATE_E_ELEVATION_DENIED', message: /not in a group eligible/ });
      await t.rejects(wf.request(alice, { role: 'root', duration_seconds: 60, reason: 'x' }), { code: 'JITGATE_E_ELEVATION_DENIED', message: /unknown role/ });
      const svc = { id: 'svc-reporting', kind: 'service' as const, groups: ['eng'], claims: {} };
      await t.rejects(wf.request(svc, { role: 'writer', duration_seconds: 60, reason: 'x' }), { code: 'JITGATE_E_ELEVATION_DENIED' });
      await t.rejects(wf.request(alice, { role: 'writer', duration_seconds: 0, reason: 'x' }), { code: 'JITGATE_E_VALIDATION' });
      await t.rejects(wf.request(alice, { role: 'writer', duration_seconds: 60, reason: 'x', scope: { paths: ['no-slash'] } }), { code: 'JITGATE_E_VALIDATION' });
      t.same(await wf.listRequests({ requester: 'dave' }), [], 'a refused ask stores nothing');
    });

    await t.test('deny and withdraw end a request; nothing can approve it afterwards', async (t) => {
      const a = await wf.request(alice, { role: 'writer', duration_seconds: 600, reason: 'one' });
      await t.rejects(wf.withdraw(bob, a.id), { code: 'JITGATE_E_ELEVATION_DENIED' }, 'only the requester withdraws');
      const w = await wf.withdraw(alice, a.id);
      t.equal(w.status, 'withdrawn');
      await t.rejects(wf.approve(bob, a.id), { code: 'JITGATE_E_REQUEST_NOT_PENDING' });

      const b = await wf.request(alice, { role: 'writer', duration_seconds: 600, reason: 'two' });
      const d = await wf.deny(carol, b.id, 'not now');
      t.equal(d.status, 'denied');
      t.equal(d.decision_comment, 'not now');
      await t.rejects(wf.approve(bob, b.id), { code: 'JITGATE_E_REQUEST_NOT_PENDING' });
      await t.rejects(wf.withdraw(alice, b.id), { code: 'JITGATE_E_REQUEST_NOT_PENDING' });
      t.equal((await wf.getRequest(b.id))!.status, 'denied', 'kept for auditors');
      await t.rejects(wf.approve(bob, 'req_missing'), { code: 'JITGATE_E_NOT_FOUND' });
    });

    await t.test('revoke takes effect before the call returns; only holder, approvers or admins may revoke', async (t) => {
      const req = await wf.request(erin, { role: 'writer', duration_seconds: 3600, reason: 'task' });
      const ok = await wf.approve(bob, req.id);
      t.equal(r.cache.activeGrants({ id: 'erin', kind: 'user' }, clock.ms).length, 1);
      await t.rejects(wf.revoke(alice, ok.grant_id!), { code: 'JITGATE_E_NOT_FOUND' }, 'one who may not see the grant is told there is none');
      const g = await wf.revoke(erin, ok.grant_id!, 'task done');
      t.equal(g.status, 'revoked');
      t.equal(g.revoked_by, 'erin');
      t.same(r.cache.activeGrants({ id: 'erin', kind: 'user' }, clock.ms), [], 'gone from the data path');
      await t.rejects(wf.revoke(dave, ok.grant_id!), { code: 'JITGATE_E_GRANT_NOT_ACTIVE' });
      const history = await wf.listGrants({ subject: 'erin' });
      t.equal(history.length, 1, 'the revoked grant stays queryable');
      t.same(await wf.listGrants({ subject: 'erin', active: true }), []);
      const trail = await auditOf(s.db, { grant_id: ok.grant_id! });
      t.same(trail.map((a) => a.kind), ['request.approved', 'grant.granted', 'workflow.refused', 'grant.revoked', 'workflow.refused'], 'the refused revokes are on the record too');
      t.match(trail[2], { actor: 'alice', reason: /./, details: { action: 'revoke', error_code: 'JITGATE_E_NOT_FOUND' } });
    });

    await t.test('extend is a new request the policy decides, capped by max_extensions; revoking the grant ends its extension', async (t) => {
      const req = await wf.request(alice, { role: 'writer', duration_seconds: 1800, reason: 'long task' });
      const first = await wf.approve(bob, req.id);
      const g1 = (await wf.getGrant(first.grant_id!))!;
      await t.rejects(wf.extend(erin, g1.id, { duration_seconds: 600, reason: 'mine now' }), { code: 'JITGATE_E_NOT_FOUND' }, 'only the holder (another may not even see it)');
      await t.rejects(wf.extend(bob, g1.id, { duration_seconds: 600, reason: 'mine now' }), { code: 'JITGATE_E_ELEVATION_DENIED', message: /only the holder/ }, 'nor an approver who sees it');
      for (const id of ['ALICE', 'alice ']) {
        await t.rejects(wf.extend({ ...alice, id }, g1.id, { duration_seconds: 600, reason: 'mine now' }), { code: 'JITGATE_E_NOT_FOUND' }, `not "${id}", another account to the identity provider`);
        await t.rejects(wf.revoke({ ...alice, id }, g1.id), { code: 'JITGATE_E_NOT_FOUND' }, `"${id}" cannot revoke it either`);
      }
      const ext = await wf.extend(alice, g1.id, { duration_seconds: 600, reason: 'need more time' });
      t.equal(ext.status, 'pending');
      t.equal(ext.extends_grant_id, g1.id);
      t.equal(ext.role, 'writer');
      const ok = await wf.approve(carol, ext.id);
      const g2 = (await wf.getGrant(ok.grant_id!))!;
      t.equal(g2.extension_count, 1);
      t.equal(g2.expires_at, new Date(Date.parse(g1.expires_at) + 600_000).toISOString(), 'continues where the grant ends');

      const ext2 = await wf.extend(alice, g2.id, { duration_seconds: 600, reason: 'more' });
      const g3 = (await wf.getGrant((await wf.approve(bob, ext2.id)).grant_id!))!;
      t.equal(g3.extension_count, 2);
      await t.rejects(wf.extend(alice, g3.id, { duration_seconds: 600, reason: 'again' }), { code: 'JITGATE_E_ELEVATION_DENIED', message: /at most 2 extensions/ });

      await wf.revoke(alice, g1.id, 'done');
      for (const id of [g1.id, g2.id, g3.id]) t.equal((await wf.getGrant(id))!.status, 'revoked', `${id} revoked`);
      t.same(r.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).filter((g) => [g1.id, g2.id, g3.id].includes(g.id)), []);
    });

    await t.test('break-glass is granted at once, flagged and loud, until someone else reviews it', async (t) => {
      await t.rejects(wf.request(erin, { role: 'breakglass', duration_seconds: 1800, reason: '' }), { code: 'JITGATE_E_REASON_REQUIRED' });
      await t.rejects(wf.request(erin, { role: 'breakglass', duration_seconds: 1800, reason: 'outage' }), { code: 'JITGATE_E_ELEVATION_DENIED', message: /at least 10 characters/ });
      const before = r.events.length;
      const req = await wf.request(erin, { role: 'breakglass', duration_seconds: 1800, reason: 'production outage, INC-9' });
      t.equal(req.status, 'approved');
      t.equal(req.break_glass, true);
      const g = (await wf.getGrant(req.grant_id!))!;
      t.equal(g.break_glass, true);
      t.equal(g.reviewed_by, null);
      t.same(g.approved_by, []);
      t.ok(r.cache.activeGrants({ id: 'erin', kind: 'user' }, clock.ms).some((p) => p.id === g.id && p.break_glass));
      t.ok(r.events.slice(before).some((e) => e.type === 'grant.break_glass'), 'a break-glass event is emitted');
      await t.rejects(wf.review(erin, g.id), { code: 'JITGATE_E_SELF_APPROVAL' });
      await t.rejects(wf.review(alice, g.id), { code: 'JITGATE_E_NOT_FOUND' });
      const toReview = { break_glass: true, reviewed: false, limit: 1000 };
      await wf.revoke(erin, g.id, 'outage over');
      t.same((await wf.listGrants(toReview)).map((x) => x.id), [g.id], 'ended, it is still listed as waiting for its review, and nothing else is');
      const reviewed = await wf.review(dave, g.id, 'justified');
      t.same(await wf.listGrants(toReview), [], 'reviewed, it leaves that list');
      t.same((await wf.listGrants({ break_glass: true, reviewed: true })).map((x) => x.id), [g.id]);
      t.notOk((await wf.listGrants({ break_glass: false, limit: 1000 })).some((x) => x.break_glass), 'break_glass=false lists the others');
      t.equal(reviewed.reviewed_by, 'dave');
      await t.rejects(wf.review(bob, g.id), { code: 'JITGATE_E_CONFLICT' });
      const trail = await auditOf(s.db, { grant_id: g.id });
      t.same(trail.map((a) => a.kind), ['request.approved', 'grant.granted', 'grant.break_glass', 'workflow.refused', 'workflow.refused', 'grant.revoked', 'grant.reviewed', 'workflow.refused']);
      t.same(trail.slice(3, 5).map((a) => [a.actor, (a.details as { error_code: string }).error_code]), [['erin', 'JITGATE_E_SELF_APPROVAL'], ['alice', 'JITGATE_E_NOT_FOUND']],
        'each refused review is recorded with who tried and why');
      const refusedAsks = (await auditOf(s.db, { kind: 'workflow.refused' })).filter((a) => a.actor === 'erin' && a.role === 'breakglass' && a.details['action'] === 'request');
      t.same(refusedAsks.map((a) => (a.details as { error_code: string }).error_code), ['JITGATE_E_REASON_REQUIRED', 'JITGATE_E_ELEVATION_DENIED'], 'as are the refused asks, with nothing else stored');
      t.match(refusedAsks[1], { subject: 'erin', request_id: null, details: { action: 'request', reason_given: 'outage', duration_seconds: 1800 } });
    });

    await t.test('expiry: an ended grant is never handed to the policy; the sweeper records it once', async (t) => {
      const req = await wf.request(erin, { role: 'writer', duration_seconds: 60, reason: 'short' });
      const ok = await wf.approve(bob, req.id);
      t.equal(r.cache.activeGrants({ id: 'erin', kind: 'user' }, clock.ms).filter((g) => g.id === ok.grant_id).length, 1);
      clock.advance(60_000);
      t.same(r.cache.activeGrants({ id: 'erin', kind: 'user' }, clock.ms).filter((g) => g.id === ok.grant_id), [], 'ended at expires_at, before any sweep');
      await t.rejects(wf.revoke(erin, ok.grant_id!), { code: 'JITGATE_E_GRANT_NOT_ACTIVE' });

      const stale = await wf.request(alice, { role: 'writer', duration_seconds: 60, reason: 'forgotten' });
      clock.advance(600_000);
      await t.rejects(wf.approve(bob, stale.id), { code: 'JITGATE_E_REQUEST_NOT_PENDING', message: /expired/ }, 'no approval after the pending deadline');
      const swept = await r.sweeper.sweepOnce();
      t.ok(swept.grants >= 1);
      t.ok(swept.requests >= 1);
      t.equal((await wf.getGrant(ok.grant_id!))!.status, 'expired');
      t.equal((await wf.getRequest(stale.id))!.status, 'expired');
      t.same(await r.sweeper.sweepOnce(), { grants: 0, requests: 0 }, 'recorded once');
      t.same((await auditOf(s.db, { grant_id: ok.grant_id! })).map((a) => a.kind), ['request.approved', 'grant.granted', 'workflow.refused', 'grant.expired']);
      t.same((await auditOf(s.db, { request_id: stale.id })).map((a) => a.kind), ['request.created', 'workflow.refused', 'request.expired'], 'the late approval is on the record too');
    });

    await t.test('a request whose requester the policy in force no longer makes eligible is not approved: refused, audited, nothing changes', async (t) => {
      const sample = await samplePolicy();
      const moved = await sreOnlyPolicy();
      const { policy, serve } = swappable(sample);
      const wf2 = createWorkflow({ store: r.store, policy, audit: r.audit, cache: r.cache, clock: clock.now, config: { pending_ttl_seconds: 600, sweep_interval_ms: 60_000 } });
      const gina = user('gina', ['eng']);
      const writer = await wf2.request(gina, { role: 'writer', duration_seconds: 900, reason: 'asked while eng was eligible' });
      const admin = await wf2.request(gina, { role: 'admin', duration_seconds: 900, reason: 'rotate the key', ticket: 'INC-7' });
      t.equal((await wf2.approve(bob, admin.id)).approvals.length, 1, 'one of the two admin approvals comes before the change');
      serve(moved);

      await t.rejects(wf2.approve(carol, writer.id, 'looks fine'), {
        code: 'JITGATE_E_REQUESTER_NOT_ELIGIBLE', status: 409, message: /gina may no longer hold role writer under policy revision /,
        details: { requester: 'gina', requester_groups: ['eng'], role: 'writer', policy_revision: moved.revision },
      });
      await t.rejects(wf2.approve(carol, admin.id), { code: 'JITGATE_E_REQUESTER_NOT_ELIGIBLE' }, 'nor the last approval a half-approved request needs');
      for (const id of [writer.id, admin.id]) {
        const after = (await wf2.getRequest(id))!;
        t.match(after, { status: 'pending', grant_id: null }, `${after.role}: still pending, no grant`);
      }
      t.same((await wf2.getRequest(writer.id))!.approvals, [], 'the refused approval is not counted');
      t.same((await wf2.getRequest(admin.id))!.approvals.map((a) => a.by), ['bob'], 'nor added to the one before');
      t.same(await wf2.listGrants({ subject: 'gina' }), [], 'no grant stored');
      t.same(r.cache.activeGrants({ id: 'gina', kind: 'user' }, clock.ms), [], 'none on the data path');

      const trail = await auditOf(s.db, { request_id: writer.id });
      t.same(trail.map((a) => a.kind), ['request.created', 'workflow.refused'], 'the attempt is on the record, nothing else');
      t.match(trail[1], {
        actor: 'carol', subject: 'gina', role: 'writer', policy_revision: moved.revision, reason: /no longer eligible/,
        details: { action: 'approve', error_code: 'JITGATE_E_REQUESTER_NOT_ELIGIBLE', comment: 'looks fine' },
      });

      const denied = await wf2.deny(carol, admin.id, 'gina left the eligible groups');
      t.equal(denied.status, 'denied', 'an approver can still close it');
      serve(sample);
      const approved = await wf2.approve(carol, writer.id);
      t.equal(approved.status, 'approved', 'with the change reverted while it waits, the same request is approved');
      t.same(r.cache.activeGrants({ id: 'gina', kind: 'user' }, clock.ms).map((g) => g.id), [approved.grant_id]);
    });

    await t.test('a request that no longer meets the role\'s settings in force is not approved: refused, audited, nothing changes, nothing cut down', async (t) => {
      const sample = await samplePolicy();
      const strict = await tightenedPolicy();
      const { policy, serve } = swappable(sample);
      const wf2 = createWorkflow({ store: r.store, policy, audit: r.audit, cache: r.cache, clock: clock.now, config: { pending_ttl_seconds: 600, sweep_interval_ms: 60_000 } });
      const hana = user('hana', ['eng']);
      const held = await wf2.approve(bob, (await wf2.request(hana, { role: 'writer', duration_seconds: 900, reason: 'the import' })).id);
      const long = await wf2.request(hana, { role: 'writer', duration_seconds: 28_800, reason: 'fix' });
      const ext = await wf2.extend(hana, held.grant_id!, { duration_seconds: 1800, reason: 'more', ticket: 'INC-9' });
      const fits = await wf2.request(hana, { role: 'writer', duration_seconds: 3600, reason: 'within the new rules', ticket: 'INC-9' });
      serve(strict);

      await t.rejects(wf2.approve(bob, long.id, 'ok'), {
        code: 'JITGATE_E_REQUEST_OUTSIDE_SETTINGS', status: 409,
        message: /role writer now requires a duration of at most 3600 seconds \(it asks for 28800\), a ticket \(policy revision /,
        details: { role: 'writer', duration_seconds: 28_800, max_duration_seconds: 3600, require_ticket: true, policy_revision: strict.revision },
      });
      await t.rejects(wf2.approve(carol, ext.id), {
        code: 'JITGATE_E_REQUEST_OUTSIDE_SETTINGS', message: /at most 0 extensions \(the grant has had 0\)/,
        details: { extension_count: 0, max_extensions: 0 },
      }, 'nor an extension of a role that allows none now');
      for (const id of [long.id, ext.id]) t.match(await wf2.getRequest(id), { status: 'pending', approvals: [], grant_id: null }, 'still pending, no approval counted');
      const grants = await wf2.listGrants({ subject: 'hana' });
      t.same(grants.map((g) => g.id), [held.grant_id], 'no grant made, none cut down to fit');
      t.same(r.cache.activeGrants({ id: 'hana', kind: 'user' }, clock.ms).map((g) => g.id), [held.grant_id], 'the data path has only the grant held before');
      const trail = await auditOf(s.db, { request_id: long.id });
      t.same(trail.map((a) => a.kind), ['request.created', 'workflow.refused'], 'the attempt is on the record, nothing else');
      t.match(trail[1], { actor: 'bob', subject: 'hana', role: 'writer', policy_revision: strict.revision, details: { action: 'approve', error_code: 'JITGATE_E_REQUEST_OUTSIDE_SETTINGS', comment: 'ok' } });

      t.equal((await wf2.approve(bob, fits.id)).status, 'approved', 'a request that meets the tightened rules is approved as before');
      t.equal((await wf2.deny(carol, ext.id, 'no more extensions')).status, 'denied', 'an approver can still close one that does not');
      serve(sample);
      const later = await wf2.approve(bob, long.id);
      const grant = (await wf2.getGrant(later.grant_id!))!;
      t.equal(Date.parse(grant.expires_at) - Date.parse(grant.starts_at), 28_800_000, 'with the change reverted while it waits, it is approved as asked');

      // A rule the workflow does not see (min_reason_length): the policy's verdict alone refuses.
      const terse = await wf2.request(hana, { role: 'writer', duration_seconds: 600, reason: 'fix' });
      serve(await wordyPolicy());
      await t.rejects(wf2.approve(bob, terse.id), { code: 'JITGATE_E_REQUEST_OUTSIDE_SETTINGS', message: /the request does not meet role writer's rules/, details: { problems: [] } });
      t.match(await wf2.getRequest(terse.id), { status: 'pending', approvals: [] });
      serve(sample);
    });

    await t.test('approvals raised while a request waits: it needs the higher count; lowered, it keeps its own', async (t) => {
      const sample = await samplePolicy();
      const two = await twoApproversPolicy();
      const { policy, serve } = swappable(sample);
      const wf2 = createWorkflow({ store: r.store, policy, audit: r.audit, cache: r.cache, clock: clock.now, config: { pending_ttl_seconds: 600, sweep_interval_ms: 60_000 } });
      const ivan = user('ivan', ['eng']);
      const early = await wf2.request(ivan, { role: 'writer', duration_seconds: 600, reason: 'made under one approval' });
      t.equal(early.approvals_required, 1);
      serve(two);
      const once = await wf2.approve(bob, early.id);
      t.match(once, { status: 'pending', approvals_required: 2, grant_id: null }, 'one approval no longer opens it');
      t.match(await wf2.getRequest(early.id), { status: 'pending', approvals_required: 2 }, 'and the stored request says so');
      t.same(r.cache.activeGrants({ id: 'ivan', kind: 'user' }, clock.ms), [], 'nothing reaches the data path');
      const added = (await auditOf(s.db, { request_id: early.id })).find((a) => a.kind === 'approval.added');
      t.match(added?.details, { approvals: 1, approvals_required: 2, approvals_required_was: 1 }, 'the trail records the raise');
      t.equal((await wf2.approve(carol, early.id)).status, 'approved', 'the second approval opens it');

      const strict = await wf2.request(ivan, { role: 'writer', duration_seconds: 600, reason: 'made under two approvals' });
      t.equal(strict.approvals_required, 2);
      serve(sample);
      t.match(await wf2.approve(bob, strict.id), { status: 'pending', approvals_required: 2 }, 'a lowered count does not loosen a request made under the stricter one');
      t.equal((await wf2.approve(carol, strict.id)).status, 'approved');
    });

    await t.test('history stays queryable and the audit chain verifies', async (t) => {
      const all = await wf.listRequests({ limit: 1000 });
      t.ok(all.length >= 12);
      t.ok(all.some((x) => x.status === 'withdrawn') && all.some((x) => x.status === 'denied') && all.some((x) => x.status === 'expired'));
      const report = await verifyChain(s.db);
      t.equal(report.ok, true, JSON.stringify(report.problem));
    });
  });
}

t.test('a policy failure fails the step closed: nothing changes, nothing is granted', async (t) => {
  const { s, clock, r } = await storeWithReplica(t, 'sqlite');
  const real = await samplePolicy();
  let broken = false;
  // The real engine, made to fail the way it does on an evaluation error.
  const flaky = {
    get revision() { return real.revision; },
    authorize: real.authorize.bind(real),
    elevation: (input: Parameters<typeof real.elevation>[0]) => {
      if (broken) throw jitgateError('POLICY_EVAL', 'jitgate/elevation: out of memory');
      return real.elevation(input);
    },
  };
  const wf = createWorkflow({ store: r.store, policy: flaky, audit: r.audit, cache: r.cache, clock: clock.now, config: { pending_ttl_seconds: 600, sweep_interval_ms: 60_000 } });
  const req = await wf.request(alice, { role: 'writer', duration_seconds: 600, reason: 'fail closed' });
  broken = true;
  await t.rejects(wf.approve(bob, req.id), { code: 'JITGATE_E_POLICY_EVAL' });
  await t.rejects(wf.request(erin, { role: 'breakglass', duration_seconds: 600, reason: 'outage of everything' }), { code: 'JITGATE_E_POLICY_EVAL' });
  const after = (await wf.getRequest(req.id))!;
  t.equal(after.status, 'pending');
  t.same(after.approvals, []);
  t.same(await wf.listGrants({}), []);
  t.same(r.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms), []);
  t.same(r.cache.activeGrants({ id: 'erin', kind: 'user' }, clock.ms), []);
  t.same((await auditOf(s.db, { request_id: req.id })).map((a) => a.kind), ['request.created'], 'no approval reached the audit trail');
});
