// The elevation workflow. Every step runs in one transaction that also appends its audit
// record (AUDIT_CHAIN_LOCK serializes steps across replicas, and each state change is a
// conditional UPDATE on top), asks the elevation policy at that moment, and fails
// closed: a policy error aborts the step with that error.
import { randomUUID } from 'node:crypto';
import type { AuditEntry, AuditKind, AuditWriter } from '../audit/index.js';
import { AUDIT_CHAIN_LOCK } from '../audit/index.js';
import { isJitgateError, jitgateError, type JitgateError } from '../errors.js';
import { maybeSameId } from '../identity/index.js';
import type {
  Decision, ElevationAction, ElevationRequestView, ElevationResult, GrantScope, PolicyEvaluator, PolicyGrant, Subject,
} from '../policy/index.js';
import type { Db, Sql } from '../store/index.js';
import { GRANTS_CHANNEL } from './cache.js';
import { iso, systemClock, type Clock } from './clock.js';
import { DEFAULT_MAX_OPEN_PER_REQUESTER, type GrantsConfig } from './config.js';
import type { AccessRequest, Approval, Grant, GrantEventType, SubjectRef } from './model.js';
import { toPolicyGrant } from './policy-grant.js';
import { publicGrant, type StoredGrant } from './rows.js';
import { createGrantStore, type GrantStore } from './store.js';
import type { ControlCall, GrantFilter, NewRequest, RequestFilter, Workflow, WorkflowEvent } from './types.js';
import { checkActor, checkAsk, checkNewRequest, type CheckedAsk } from './validate.js';

/** Receives events after their step committed (notifications). Must not throw or block. */
export interface WorkflowEventSink {
  notify(event: WorkflowEvent): void;
}

/** What must see a grant change before the call returns (the local grant cache). */
export interface GrantSink {
  apply(grant: Grant): void;
}

export interface WorkflowLogger {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface WorkflowDeps {
  /** The grant store, or the Db to build one on (its migrations must have been applied). */
  store?: GrantStore;
  db?: Db;
  policy: PolicyEvaluator;
  audit: AuditWriter;
  config: GrantsConfig;
  cache?: GrantSink;
  notifier?: WorkflowEventSink;
  clock?: Clock;
  logger?: WorkflowLogger;
  /**
   * The data path's route names now (they change with a reload): a scope naming another is
   * refused. Without it (tools, tests of the workflow alone) any name is taken.
   */
  routeNames?: () => readonly string[];
}

interface Step<T> {
  value: T;
  audit: AuditEntry[];
  events: WorkflowEvent[];
  grants: StoredGrant[];
}

// What forbids (approving or reviewing one's own access, approving twice) takes two ids that may
// name the same person as one (maybeSameId: `alice\u200b` or `аlice` with a Cyrillic а is alice
// to whoever reads the request; the identity part refuses the first kind now, but requests
// stored before it hold them). What grants a power (extending or withdrawing one's own) takes
// the id exactly, as the identity provider issued it (the data path matches grants exactly).

function refOf(s: Subject): SubjectRef {
  return { id: s.id, kind: s.kind, groups: [...s.groups] };
}

function subjectOf(r: SubjectRef): Subject {
  return { id: r.id, kind: r.kind, groups: r.groups, claims: {} };
}

function viewOf(r: AccessRequest, extensionCount: number): ElevationRequestView {
  return {
    id: r.id,
    role: r.role,
    scope: r.scope,
    duration_seconds: r.duration_seconds,
    reason: r.reason,
    ticket: r.ticket,
    status: r.status,
    requested_at: r.created_at,
    approvals: r.approvals.map((a) => ({ by: a.by, at: a.at })),
    extends_grant_id: r.extends_grant_id,
    extension_count: extensionCount,
  };
}

function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}

function isLive(g: Grant, nowMs: number): boolean {
  return g.status === 'active' && Date.parse(g.expires_at) > nowMs;
}

/** Why the policy refused an ask, with the most specific code the result supports. */
function askRefusal(r: ElevationResult, ask: CheckedAsk, revision: string): JitgateError {
  const details = { policy_reason: r.reason ?? null, policy_revision: revision };
  const reason = r.reason ?? 'refused';
  if (r.max_duration_seconds !== undefined && ask.duration_seconds > r.max_duration_seconds) {
    return jitgateError('DURATION_TOO_LONG', reason, { ...details, max_duration_seconds: r.max_duration_seconds });
  }
  if (r.require_reason === true && ask.reason.trim() === '') return jitgateError('REASON_REQUIRED', reason, details);
  if (r.require_ticket === true && ask.ticket === null) return jitgateError('TICKET_REQUIRED', reason, details);
  return jitgateError('ELEVATION_DENIED', reason, details);
}

/** The policy allowed; its own settings are still enforced here (a policy bug must not widen access). */
function checkAgainstSettings(r: ElevationResult, ask: CheckedAsk, breakGlass: boolean): void {
  if (r.max_duration_seconds !== undefined && ask.duration_seconds > r.max_duration_seconds) {
    throw jitgateError('DURATION_TOO_LONG', `at most ${r.max_duration_seconds} seconds`, { max_duration_seconds: r.max_duration_seconds });
  }
  if ((r.require_reason === true || breakGlass) && ask.reason.trim() === '') throw jitgateError('REASON_REQUIRED');
  if (r.require_ticket === true && ask.ticket === null) throw jitgateError('TICKET_REQUIRED');
}

/**
 * The approver may decide, but the policy in force says the requester may no longer hold the role
 * (it changed since they asked): the grant would open nothing on the data path, so the approval is
 * refused and the request left pending, as every refusal leaves what it was aimed at. It may still
 * be denied, or approved once the requester is eligible again; else it expires.
 */
function checkRequesterEligible(decision: Decision<ElevationResult>, req: AccessRequest): void {
  if (decision.result.requester_eligible !== false) return;
  throw jitgateError('REQUESTER_NOT_ELIGIBLE', `${req.requester.id} may no longer hold role ${req.role} under policy revision ${decision.revision}`, {
    requester: req.requester.id,
    requester_groups: req.requester.groups,
    role: req.role,
    policy_revision: decision.revision,
  });
}

/**
 * The settings a request was checked against when it was made may have tightened since (a shorter
 * maximum, a ticket now required, no more extensions): the policy in force at the approval decides,
 * so the grant is never longer or less justified than it now allows. The workflow checks the
 * settings the policy publishes itself, as at the request (a policy bug must not widen access), and
 * honours the policy's own verdict (`request_within_settings`) for rules it cannot see, such as a
 * minimum reason length. A refusal leaves the request pending; it is never cut down to fit.
 */
function checkWithinSettings(decision: Decision<ElevationResult>, req: AccessRequest, extended: StoredGrant | null): void {
  const r = decision.result;
  const problems: string[] = [];
  if (r.max_duration_seconds !== undefined && req.duration_seconds > r.max_duration_seconds) {
    problems.push(`a duration of at most ${r.max_duration_seconds} seconds (it asks for ${req.duration_seconds})`);
  }
  if (r.require_reason === true && req.reason.trim() === '') problems.push('a reason');
  if (r.require_ticket === true && req.ticket === null) problems.push('a ticket');
  if (extended && r.max_extensions !== undefined && extended.extension_count >= r.max_extensions) {
    problems.push(`at most ${r.max_extensions} extensions (the grant has had ${extended.extension_count})`);
  }
  if (problems.length === 0 && r.request_within_settings !== false) return;
  const why = problems.length > 0 ? `role ${req.role} now requires ${problems.join(', ')}` : `the request does not meet role ${req.role}'s rules`;
  throw jitgateError('REQUEST_OUTSIDE_SETTINGS', `${why} (policy revision ${decision.revision})`, {
    role: req.role,
    problems,
    duration_seconds: req.duration_seconds,
    ...(r.max_duration_seconds !== undefined ? { max_duration_seconds: r.max_duration_seconds } : {}),
    ...(r.require_reason !== undefined ? { require_reason: r.require_reason } : {}),
    ...(r.require_ticket !== undefined ? { require_ticket: r.require_ticket } : {}),
    ...(extended ? { extension_count: extended.extension_count, ...(r.max_extensions !== undefined ? { max_extensions: r.max_extensions } : {}) } : {}),
    policy_revision: decision.revision,
  });
}

/**
 * How many approvals the request needs now: what it was made with, or more if the policy in
 * force asks for more (raised during an incident while it waited). Never fewer: a request made
 * under a stricter rule keeps it, and a loosened policy applies to requests made under it.
 */
function approvalsRequiredNow(decision: Decision<ElevationResult>, req: AccessRequest): number {
  const now = decision.result.approvals_required;
  if (typeof now !== 'number' || decision.result.auto_approve === true) return req.approvals_required;
  return Math.max(req.approvals_required, Math.max(1, Math.trunc(now)));
}

/**
 * The statuses of a refused action (bad input, not allowed, not visible, no longer in a state to
 * take it): nothing changed, and the attempt is audited. Others (a store or policy failure) are
 * failures, not refusals.
 */
const REFUSAL_STATUSES: ReadonlySet<number> = new Set([400, 403, 404, 409]);

/** What an action was, for the audit record of its refusal; `call` goes into every record it writes. */
interface Attempt {
  action: ElevationAction;
  actor: Subject;
  requestId?: string;
  grantId?: string;
  role?: string;
  route?: string | null;
  /** The comment or reason the actor gave. */
  reason?: string | undefined;
  details?: Record<string, unknown>;
  call?: ControlCall | undefined;
}

/** The entry as written for the control API call that caused it (ControlCall). */
function fromCall(entry: AuditEntry, call: ControlCall | undefined): AuditEntry {
  return call ? { ...entry, details: { ...entry.details, http_request_id: call.httpRequestId } } : entry;
}

function askDetails(ask: CheckedAsk): Record<string, unknown> {
  return { duration_seconds: ask.duration_seconds, reason_given: ask.reason, ticket: ask.ticket };
}

export class StoreWorkflow implements Workflow {
  readonly #store: GrantStore;
  readonly #policy: PolicyEvaluator;
  readonly #audit: AuditWriter;
  readonly #config: GrantsConfig;
  readonly #cache: GrantSink | undefined;
  readonly #notifier: WorkflowEventSink | undefined;
  readonly #clock: Clock;
  readonly #logger: WorkflowLogger | undefined;
  readonly #routeNames: (() => readonly string[]) | undefined;
  #listingKey: Promise<Buffer> | null = null;

  constructor(deps: WorkflowDeps) {
    if (deps.store) this.#store = deps.store;
    else if (deps.db) this.#store = createGrantStore(deps.db);
    else throw new Error('createWorkflow: a store or a db is required');
    this.#policy = deps.policy;
    this.#audit = deps.audit;
    this.#config = deps.config;
    this.#cache = deps.cache;
    this.#notifier = deps.notifier;
    this.#clock = deps.clock ?? systemClock;
    this.#logger = deps.logger;
    this.#routeNames = deps.routeNames;
  }

  // --- steps -----------------------------------------------------------------------

  async request(actor: Subject, req: NewRequest, call?: ControlCall): Promise<AccessRequest> {
    checkActor(actor);
    const ask = checkNewRequest(req);
    this.#checkPendingTtl(ask);
    this.#checkScopeRoute(ask.scope);
    return this.#commit((sql) => this.#ask(sql, actor, ask.role, ask.scope, ask, null),
      { action: 'request', actor, role: ask.role, route: ask.scope?.route ?? null, details: askDetails(ask), call });
  }

  /**
   * A scope's route must be one the data path has: a grant for `demoo` unlocks nothing, and
   * would be asked for, approved and audited before its holder found out.
   */
  #checkScopeRoute(scope: GrantScope | null): void {
    const route = scope?.route;
    if (route === undefined || this.#routeNames === undefined) return;
    const names = this.#routeNames();
    if (!names.includes(route)) {
      throw jitgateError('VALIDATION', `scope.route: no route is named ${JSON.stringify(route)} (routes: ${names.join(', ') || 'none'})`, { in: 'body', field: 'scope' });
    }
  }

  async extend(actor: Subject, grantId: string, req: Omit<NewRequest, 'role' | 'scope'>, call?: ControlCall): Promise<AccessRequest> {
    checkActor(actor);
    const ask = checkAsk(req);
    this.#checkPendingTtl(ask);
    return this.#commit(async (sql) => {
      const grant = await this.#visibleGrant(sql, grantId, actor);
      if (grant.subject.id !== actor.id) {
        throw jitgateError('ELEVATION_DENIED', 'only the holder can extend a grant');
      }
      if (!isLive(grant, this.#clock())) throw jitgateError('GRANT_NOT_ACTIVE', grant.status);
      return this.#ask(sql, actor, grant.role, grant.scope, ask, grant);
    }, { action: 'extend', actor, grantId, details: askDetails(ask), call });
  }

  async approve(actor: Subject, requestId: string, comment?: string, call?: ControlCall): Promise<AccessRequest> {
    checkActor(actor);
    return this.#commit(async (sql) => {
      const now = this.#clock();
      const req = await this.#pendingRequest(sql, requestId, actor, now, true);
      if (req.approvals.some((a) => maybeSameId(a.by, actor.id))) throw jitgateError('ALREADY_APPROVED');
      const extended = await this.#extendedGrant(sql, req);
      const decision = this.#decide('approve', req, extended, actor, now);
      this.#checkApprover(req, actor);
      checkRequesterEligible(decision, req);
      checkWithinSettings(decision, req, extended);
      const required = approvalsRequiredNow(decision, req);
      if (required > req.approvals_required) await this.#store.raiseApprovalsRequired(sql, req.id, required);
      const approval: Approval = { by: actor.id, at: iso(now), comment: comment ?? null };
      if (!(await this.#store.addApproval(sql, req.id, approval))) throw jitgateError('ALREADY_APPROVED');
      const approved: AccessRequest = { ...req, approvals_required: required, approvals: [...req.approvals, approval] };
      const step = this.#step(approved, decision.revision);
      step.audit.push(this.#entry('approval.added', actor.id, approved, null, decision.revision, comment ?? null, {
        approvals: approved.approvals.length,
        approvals_required: required,
        ...(required > req.approvals_required ? { approvals_required_was: req.approvals_required } : {}),
      }));
      if (approved.approvals.length < required) {
        step.events.push(this.#event('approval.added', actor.id, approved, null, decision.revision, now));
        return step;
      }
      if (extended && !isLive(extended, now)) throw jitgateError('GRANT_NOT_ACTIVE', 'the grant being extended has ended');
      const grant = this.#newGrant(approved, approved.approvals.map((a) => a.by), now, extended);
      await this.#store.insertGrants(sql, [grant]);
      if (!(await this.#store.decideRequest(sql, req.id, { status: 'approved', at: iso(now), by: actor.id, comment: comment ?? null, grantId: grant.id }))) {
        throw jitgateError('CONFLICT', 'the request changed concurrently');
      }
      const final: AccessRequest = { ...approved, status: 'approved', decided_at: iso(now), decided_by: actor.id, decision_comment: comment ?? null, grant_id: grant.id };
      step.value = final;
      this.#granted(step, final, grant, actor.id, decision.revision, now, 'request.approved');
      return step;
    }, { action: 'approve', actor, requestId, reason: comment, call });
  }

  async deny(actor: Subject, requestId: string, comment?: string, call?: ControlCall): Promise<AccessRequest> {
    checkActor(actor);
    return this.#commit(async (sql) => {
      const now = this.#clock();
      const req = await this.#pendingRequest(sql, requestId, actor, now, true);
      const extended = await this.#extendedGrant(sql, req);
      const decision = this.#decide('deny', req, extended, actor, now);
      this.#checkApprover(req, actor);
      return this.#close(sql, req, 'denied', 'request.denied', actor.id, comment ?? null, decision.revision, now);
    }, { action: 'deny', actor, requestId, reason: comment, call });
  }

  async withdraw(actor: Subject, requestId: string, call?: ControlCall): Promise<AccessRequest> {
    checkActor(actor);
    return this.#commit(async (sql) => {
      const now = this.#clock();
      const req = await this.#pendingRequest(sql, requestId, actor, now, false);
      if (req.requester.id !== actor.id) throw jitgateError('ELEVATION_DENIED', 'only the requester can withdraw a request');
      const extended = await this.#extendedGrant(sql, req);
      const decision = this.#decide('withdraw', req, extended, actor, now);
      return this.#close(sql, req, 'withdrawn', 'request.withdrawn', actor.id, null, decision.revision, now);
    }, { action: 'withdraw', actor, requestId, call });
  }

  async revoke(actor: Subject, grantId: string, reason?: string, call?: ControlCall): Promise<Grant> {
    checkActor(actor);
    return this.#commit(async (sql) => {
      const now = this.#clock();
      const grant = await this.#visibleGrant(sql, grantId, actor);
      if (!isLive(grant, now)) throw jitgateError('GRANT_NOT_ACTIVE', grant.status);
      const req = await this.#requestOf(sql, grant);
      const decision = this.#decide('revoke', req, grant, actor, now, subjectOf(grant.subject));
      const at = iso(now);
      const step = this.#step<Grant>(grant, decision.revision);
      // Extensions end with the grant they extend: revoking "my grant" must end the access.
      const queue: { grant: StoredGrant; cascadeFrom: string | null }[] = [{ grant, cascadeFrom: null }];
      for (let item = queue.shift(); item; item = queue.shift()) {
        const g = item.grant;
        if (!(await this.#store.revokeGrant(sql, g.id, at, actor.id, reason ?? null))) {
          if (item.cascadeFrom === null) throw jitgateError('CONFLICT', 'the grant changed concurrently');
          continue;
        }
        const revoked: StoredGrant = { ...g, status: 'revoked', revoked_at: at, revoked_by: actor.id, revoke_reason: reason ?? null };
        if (item.cascadeFrom === null) step.value = publicGrant(revoked);
        step.grants.push(revoked);
        const owner = item.cascadeFrom === null ? req : await this.#requestOf(sql, g);
        step.audit.push(this.#entry('grant.revoked', actor.id, owner, revoked, decision.revision, reason ?? null,
          item.cascadeFrom === null ? {} : { cascade_from: item.cascadeFrom }));
        step.events.push(this.#event('grant.revoked', actor.id, owner, revoked, decision.revision, now));
        for (const ext of await this.#store.extensionsOf(sql, g.id)) queue.push({ grant: ext, cascadeFrom: g.id });
      }
      return step;
    }, { action: 'revoke', actor, grantId, reason, call });
  }

  async review(actor: Subject, grantId: string, comment?: string, call?: ControlCall): Promise<Grant> {
    checkActor(actor);
    return this.#commit(async (sql) => {
      const now = this.#clock();
      const grant = await this.#visibleGrant(sql, grantId, actor);
      if (maybeSameId(grant.subject.id, actor.id)) throw jitgateError('SELF_APPROVAL', 'nobody reviews their own break-glass access');
      const req = await this.#requestOf(sql, grant);
      const decision = this.#decide('review', req, grant, actor, now, subjectOf(grant.subject));
      if (!grant.break_glass) throw jitgateError('ELEVATION_DENIED', 'only break-glass grants are reviewed');
      const at = iso(now);
      if (!(await this.#store.reviewGrant(sql, grant.id, at, actor.id))) throw jitgateError('CONFLICT', 'the grant was already reviewed');
      const reviewed: StoredGrant = { ...grant, reviewed_by: actor.id, reviewed_at: at };
      const step = this.#step<Grant>(publicGrant(reviewed), decision.revision);
      step.grants.push(reviewed);
      step.audit.push(this.#entry('grant.reviewed', actor.id, req, reviewed, decision.revision, comment ?? null, {}));
      step.events.push(this.#event('grant.reviewed', actor.id, req, reviewed, decision.revision, now));
      return step;
    }, { action: 'review', actor, grantId, reason: comment, call });
  }

  // --- reads -----------------------------------------------------------------------

  async getRequest(id: string): Promise<AccessRequest | null> {
    return this.#read(() => this.#store.getRequest(this.#store.db, id));
  }

  async listRequests(filter: RequestFilter): Promise<AccessRequest[]> {
    return this.#read(() => this.#store.listRequests(this.#store.db, filter));
  }

  async getGrant(id: string): Promise<Grant | null> {
    const g = await this.#read(() => this.#store.getGrant(this.#store.db, id));
    return g ? publicGrant(g) : null;
  }

  async listGrants(filter: GrantFilter): Promise<Grant[]> {
    const rows = await this.#read(() => this.#store.listGrants(this.#store.db, filter, iso(this.#clock())));
    return rows.map(publicGrant);
  }

  listingKey(): Promise<Buffer> {
    // Kept once read: it never changes. A failed read is not kept, so the next listing asks again.
    this.#listingKey ??= this.#read(() => this.#store.listingKey(this.#store.db)).catch((err: unknown) => {
      this.#listingKey = null;
      throw err;
    });
    return this.#listingKey;
  }

  canViewRequest(actor: Subject, request: AccessRequest): boolean {
    return this.#allows('view', viewOf(request, 0), actor, subjectOf(request.requester), null);
  }

  canViewGrant(actor: Subject, grant: Grant): boolean {
    // The grant stands for its request here: the policy sees the role, scope, reason and holder.
    const view: ElevationRequestView = {
      id: grant.request_id, role: grant.role, scope: grant.scope,
      duration_seconds: Math.round((Date.parse(grant.expires_at) - Date.parse(grant.starts_at)) / 1000),
      reason: grant.reason, ticket: grant.ticket, status: 'approved', requested_at: null,
      approvals: grant.approved_by.map((by) => ({ by, at: grant.starts_at })),
      extends_grant_id: null, extension_count: grant.extension_count,
    };
    return this.#allows('view', view, actor, subjectOf(grant.subject), toPolicyGrant(grant));
  }

  auditReadDecision(actor: Subject): { allow: boolean; reason: string | undefined } {
    const { result } = this.#policy.elevation({ action: 'audit_read', request: null, actor, requester: null, grant: null, now_ns: this.#clock() * 1e6 });
    return { allow: result.allow, reason: result.reason };
  }

  // --- internals -------------------------------------------------------------------

  /** A request may ask to wait less than the configured time (the default), never longer. Checked before anything is decided or stored. */
  #checkPendingTtl(ask: CheckedAsk): void {
    const most = this.#config.pending_ttl_seconds;
    if (ask.pending_ttl_seconds !== null && ask.pending_ttl_seconds > most) {
      throw jitgateError('VALIDATION', `pending_ttl: at most ${String(most)} seconds here (jitgate.workflow.pending_ttl_seconds)`, { field: 'pending_ttl' });
    }
  }

  #allows(action: ElevationAction, request: ElevationRequestView, actor: Subject, requester: Subject, grant: PolicyGrant | null): boolean {
    return this.#policy.elevation({ action, request, actor, requester, grant, now_ns: this.#clock() * 1e6 }).result.allow;
  }

  async #read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw isJitgateError(err) ? err : jitgateError('STORE_UNAVAILABLE', undefined, undefined, err);
    }
  }

  /**
   * Runs a step in one transaction with its audit records and change notifications; then updates
   * the cache and notifies. An action refused (by the policy or the workflow's own rules, on a
   * request or grant the actor may not see, or one that is no longer in a state to take it: a 400,
   * 403, 404 or 409, so nothing changed) is audited all the same, as `workflow.refused`: probing
   * for access one is not entitled to, or pushing a decided request, leaves a trace. A refusal
   * that cannot be recorded answers 503.
   */
  async #commit<T>(fn: (sql: Sql) => Promise<Step<T>>, attempt: Attempt): Promise<T> {
    const db = this.#store.db;
    let step: Step<T>;
    try {
      step = await db.tx(async (sql) => {
        const s = await fn(sql);
        if (s.audit.length > 0) await this.#audit.appendWithin(sql, s.audit.map((e) => fromCall(e, attempt.call)));
        for (const g of s.grants) await db.notify(GRANTS_CHANNEL, g.id, sql);
        return s;
      }, { lockKey: AUDIT_CHAIN_LOCK });
    } catch (err) {
      const failure = isJitgateError(err) ? err : jitgateError('STORE_UNAVAILABLE', undefined, undefined, err);
      if (REFUSAL_STATUSES.has(failure.status)) await this.#auditRefusal(attempt, failure);
      throw failure;
    }
    for (const g of step.grants) this.#cache?.apply(g);
    for (const e of step.events) {
      if (e.type === 'grant.break_glass') this.#logger?.warn({ grant_id: e.grant?.id, actor: e.actor, role: e.request.role }, 'BREAK-GLASS access granted');
      try {
        this.#notifier?.notify(e);
      } catch (err) {
        this.#logger?.error({ err }, 'notifier failed');
      }
    }
    return step.value;
  }

  async #auditRefusal(attempt: Attempt, refusal: JitgateError): Promise<void> {
    try {
      const target = await this.#refusalTarget(attempt);
      await this.#audit.append(fromCall({
        kind: 'workflow.refused',
        actor: attempt.actor.id,
        subject: target?.subject ?? (attempt.action === 'request' || attempt.action === 'extend' ? attempt.actor.id : null),
        request_id: attempt.requestId ?? null,
        grant_id: attempt.grantId ?? null,
        role: attempt.role ?? target?.role ?? null,
        route: attempt.route ?? null,
        decision_id: null,
        policy_revision: this.#policy.revision,
        reason: refusal.message,
        details: { action: attempt.action, error_code: refusal.code, ...(attempt.reason ? { comment: attempt.reason } : {}), ...attempt.details },
      }, attempt.call));
    } catch (err) {
      this.#logger?.error({ err, action: attempt.action, actor: attempt.actor.id }, 'a refused workflow action could not be audited');
      throw jitgateError('AUDIT_UNAVAILABLE', undefined, undefined, err);
    }
  }

  /**
   * Whose request or grant a refused action was aimed at, so that `audit query --subject` finds the
   * attempt. Read even when the actor may not see the target (a 404): the refusal it got says
   * nothing of it, and the trail is read only by those the policy lets read all of it (audit_read),
   * who find the same subject on the target's own records.
   */
  async #refusalTarget(attempt: Attempt): Promise<{ subject: string; role: string } | null> {
    const db = this.#store.db;
    if (attempt.grantId !== undefined) {
      const g = await this.#store.getGrant(db, attempt.grantId);
      return g ? { subject: g.subject.id, role: g.role } : null;
    }
    if (attempt.requestId !== undefined) {
      const r = await this.#store.getRequest(db, attempt.requestId);
      return r ? { subject: r.requester.id, role: r.role } : null;
    }
    return null;
  }

  #step<T>(value: T, _revision: string): Step<T> {
    return { value, audit: [], events: [], grants: [] };
  }

  #decide(
    action: ElevationAction,
    req: AccessRequest,
    grant: StoredGrant | null,
    actor: Subject,
    nowMs: number,
    requester: Subject = subjectOf(req.requester),
  ): Decision<ElevationResult> {
    const extensionCount = grant && action !== 'revoke' && action !== 'review' ? grant.extension_count : 0;
    const decision = this.#policy.elevation({
      action,
      request: viewOf(req, extensionCount),
      actor,
      requester,
      grant: grant ? toPolicyGrant(grant) : null,
      now_ns: nowMs * 1e6,
    });
    if (!decision.result.allow) {
      throw jitgateError('ELEVATION_DENIED', decision.result.reason ?? 'refused', {
        policy_reason: decision.result.reason ?? null,
        policy_revision: decision.revision,
      });
    }
    return decision;
  }

  /** The approver groups were fixed on the request when it was made; the policy is asked as well, both must agree. */
  #checkApprover(req: AccessRequest, actor: Subject): void {
    if (req.approver_groups.length > 0 && !actor.groups.some((g) => req.approver_groups.includes(g))) {
      throw jitgateError('ELEVATION_DENIED', `only members of ${req.approver_groups.join(', ')} can decide on this request`);
    }
  }

  /**
   * A grant the actor may see (the policy's `view`), for an action on it. One it may not see is
   * answered as absent before anything else is checked: whether it is live, break-glass or the
   * actor's own would tell a caller who holds only its id that it exists.
   */
  async #visibleGrant(sql: Sql, id: string, actor: Subject): Promise<StoredGrant> {
    const g = await this.#store.getGrant(sql, id);
    if (!g || !this.canViewGrant(actor, publicGrant(g))) throw jitgateError('NOT_FOUND', `no grant ${id}`, { grant_id: id });
    return g;
  }

  /** The grant an extension request extends; null for a plain request. */
  async #extendedGrant(sql: Sql, req: AccessRequest): Promise<StoredGrant | null> {
    return req.extends_grant_id === null ? null : this.#store.getGrant(sql, req.extends_grant_id);
  }

  async #requestOf(sql: Sql, grant: Grant): Promise<AccessRequest> {
    const r = await this.#store.getRequest(sql, grant.request_id);
    if (!r) throw jitgateError('INTERNAL', `grant ${grant.id} has no request`);
    return r;
  }

  async #pendingRequest(sql: Sql, id: string, actor: Subject, nowMs: number, deciding: boolean): Promise<AccessRequest> {
    const req = await this.#store.getRequest(sql, id);
    // As #visibleGrant: one the actor may not see is absent, whatever its status or requester.
    if (!req || !this.canViewRequest(actor, req)) throw jitgateError('NOT_FOUND', `no request ${id}`, { request_id: id });
    // Separation of duties, whatever the policy says.
    if (deciding && maybeSameId(req.requester.id, actor.id)) throw jitgateError('SELF_APPROVAL');
    if (req.status !== 'pending') throw jitgateError('REQUEST_NOT_PENDING', req.status, { status: req.status });
    if (iso(nowMs) >= req.pending_expires_at) throw jitgateError('REQUEST_NOT_PENDING', 'expired', { status: 'expired' });
    return req;
  }

  async #ask(sql: Sql, actor: Subject, role: string, scope: GrantScope | null, ask: CheckedAsk, extended: StoredGrant | null): Promise<Step<AccessRequest>> {
    const now = this.#clock();
    const view: ElevationRequestView = {
      id: null, role, scope, duration_seconds: ask.duration_seconds, reason: ask.reason, ticket: ask.ticket,
      status: 'new', requested_at: null, approvals: [], extends_grant_id: extended?.id ?? null,
      extension_count: extended?.extension_count ?? 0,
    };
    const decision = this.#policy.elevation({
      action: extended ? 'extend' : 'request', request: view, actor, requester: actor,
      grant: extended ? toPolicyGrant(extended) : null, now_ns: now * 1e6,
    });
    const r = decision.result;
    if (!r.allow) throw askRefusal(r, ask, decision.revision);
    const breakGlass = r.break_glass === true;
    checkAgainstSettings(r, ask, breakGlass);
    if (extended && r.max_extensions !== undefined && extended.extension_count >= r.max_extensions) {
      throw jitgateError('ELEVATION_DENIED', `at most ${r.max_extensions} extensions`);
    }
    // Counted in this step's transaction, which holds the audit chain's lock (#commit): steps
    // running side by side, on any replica, count one after another, so the bound is exact.
    const most = this.#config.max_open_per_requester ?? DEFAULT_MAX_OPEN_PER_REQUESTER;
    const open = await this.#store.countOpen(sql, actor.id, iso(now));
    if (open >= most) {
      throw jitgateError('TOO_MANY_OPEN', `${String(open)} open, at most ${String(most)}`, { open, max_open_per_requester: most });
    }
    const auto = r.auto_approve === true || breakGlass;
    const request: AccessRequest = {
      id: newId('req'),
      requester: refOf(actor),
      role, scope,
      duration_seconds: ask.duration_seconds,
      reason: ask.reason,
      ticket: ask.ticket,
      status: 'pending',
      // A request that is not auto-approved always needs at least one approval.
      approvals_required: auto ? 0 : Math.max(1, Math.trunc(r.approvals_required ?? 1)),
      approver_groups: r.approver_groups ?? [],
      break_glass: breakGlass,
      extends_grant_id: extended?.id ?? null,
      extends_grant_expires_at: extended?.expires_at ?? null,
      approvals: [],
      created_at: iso(now),
      pending_expires_at: iso(now + (ask.pending_ttl_seconds ?? this.#config.pending_ttl_seconds) * 1000),
      decided_at: null, decided_by: null, decision_comment: null, grant_id: null,
      policy_revision: decision.revision,
    };
    const step = this.#step(request, decision.revision);
    step.audit.push(this.#entry('request.created', actor.id, request, null, decision.revision, request.reason, {
      duration_seconds: request.duration_seconds, scope: request.scope, ticket: request.ticket,
      approvals_required: request.approvals_required, approver_groups: request.approver_groups,
      extends_grant_id: request.extends_grant_id, break_glass: breakGlass,
    }));
    step.events.push(this.#event('request.created', actor.id, request, null, decision.revision, now));
    if (!auto) {
      await this.#store.insertRequest(sql, request);
      return step;
    }
    const grant = this.#newGrant(request, [], now, extended);
    const approved: AccessRequest = {
      ...request, status: 'approved', decided_at: iso(now), decided_by: 'policy',
      decision_comment: breakGlass ? 'break-glass' : 'auto-approved', grant_id: grant.id,
    };
    await this.#store.insertRequest(sql, approved);
    await this.#store.insertGrants(sql, [grant]);
    step.value = approved;
    this.#granted(step, approved, grant, 'policy', decision.revision, now, 'request.approved');
    if (breakGlass) {
      step.audit.push(this.#entry('grant.break_glass', actor.id, approved, grant, decision.revision, request.reason, { review_required: true }));
      step.events.push(this.#event('grant.break_glass', actor.id, approved, grant, decision.revision, now));
    }
    return step;
  }

  #newGrant(req: AccessRequest, approvers: string[], nowMs: number, extended: StoredGrant | null): StoredGrant {
    // An extension continues where the extended grant ends; any other grant starts now.
    const base = extended ? Math.max(nowMs, Date.parse(extended.expires_at)) : nowMs;
    return {
      id: newId('grt'),
      request_id: req.id,
      subject: req.requester,
      role: req.role,
      scope: req.scope,
      reason: req.reason,
      ticket: req.ticket,
      approved_by: approvers,
      break_glass: req.break_glass,
      reviewed_by: null,
      reviewed_at: null,
      starts_at: iso(nowMs),
      expires_at: iso(base + req.duration_seconds * 1000),
      status: 'active',
      revoked_at: null, revoked_by: null, revoke_reason: null, expired_recorded_at: null,
      extension_count: extended ? extended.extension_count + 1 : 0,
      extends_grant_id: extended?.id ?? null,
    };
  }

  #granted(step: Step<AccessRequest>, req: AccessRequest, grant: StoredGrant, actor: string, revision: string, nowMs: number, kind: 'request.approved'): void {
    step.grants.push(grant);
    step.audit.push(this.#entry(kind, actor, req, grant, revision, req.decision_comment, { approvers: grant.approved_by }));
    // `reason` is the requester's, beside the approver as actor: `reason_by` says whose words they are.
    step.audit.push(this.#entry('grant.granted', actor, req, grant, revision, req.reason, {
      starts_at: grant.starts_at, expires_at: grant.expires_at, approvers: grant.approved_by, scope: grant.scope,
      extends_grant_id: grant.extends_grant_id, reason_by: req.requester.id,
    }));
    step.events.push(this.#event(kind, actor, req, grant, revision, nowMs));
    step.events.push(this.#event('grant.granted', actor, req, grant, revision, nowMs));
  }

  async #close(
    sql: Sql, req: AccessRequest, status: 'denied' | 'withdrawn', kind: GrantEventType, actor: string,
    comment: string | null, revision: string, nowMs: number,
  ): Promise<Step<AccessRequest>> {
    const at = iso(nowMs);
    if (!(await this.#store.decideRequest(sql, req.id, { status, at, by: actor, comment, grantId: null }))) {
      throw jitgateError('CONFLICT', 'the request changed concurrently');
    }
    const closed: AccessRequest = { ...req, status, decided_at: at, decided_by: actor, decision_comment: comment };
    const step = this.#step(closed, revision);
    step.audit.push(this.#entry(kind, actor, closed, null, revision, comment, {}));
    step.events.push(this.#event(kind, actor, closed, null, revision, nowMs));
    return step;
  }

  #entry(kind: AuditKind, actor: string, req: AccessRequest, grant: Grant | null, revision: string, reason: string | null, details: Record<string, unknown>): AuditEntry {
    return {
      kind,
      actor,
      subject: req.requester.id,
      request_id: req.id,
      grant_id: grant?.id ?? req.grant_id,
      role: req.role,
      route: req.scope?.route ?? null,
      decision_id: null,
      policy_revision: revision,
      reason,
      details,
    };
  }

  #event(type: GrantEventType, actor: string, req: AccessRequest, grant: StoredGrant | null, revision: string, nowMs: number): WorkflowEvent {
    return { type, at: iso(nowMs), actor, request: req, grant: grant ? publicGrant(grant) : null, policy_revision: revision };
  }
}

export function createWorkflow(deps: WorkflowDeps): StoreWorkflow {
  return new StoreWorkflow(deps);
}
