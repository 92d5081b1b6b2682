// What the grants part offers: the data path reads active grants, the control plane runs the workflow.
import type { GrantScope, GrantSet, Subject } from '../policy/index.js';

/** Who holds a grant: an id is a person's or a service's, never both. */
export type SubjectKey = Pick<Subject, 'id' | 'kind'>;
import type { AccessRequest, Grant, GrantEventType, RequestStatus } from './model.js';

/** Data path: the caller's live grants, from the per-replica cache. Expired grants are never returned. */
export interface GrantReader {
  /**
   * A sealed set: the same array for as long as the subject's live grants stay the same. Grants
   * are the subject's by id and kind: a service is never handed a person's grants, nor the reverse.
   */
  activeGrants(subject: SubjectKey, nowMs: number): GrantSet;
  /** False while the cache cannot vouch for its content (initial load, lost change feed): the data path denies. */
  readonly ready: boolean;
  /**
   * Whether the store itself, not this cache, still holds every one of these grants active. A
   * revocation made on another replica reaches the cache from the change feed milliseconds
   * later; asked once a request's audit record is written, this closes that gap for it. Throws
   * when the store cannot answer.
   */
  stillActive(grantIds: readonly string[], nowMs: number): Promise<boolean>;
}

export interface NewRequest {
  role: string;
  scope?: GrantScope | null;
  duration_seconds: number;
  reason: string;
  ticket?: string | null;
  /** How long it may wait for approvers; null or absent: jitgate.workflow.pending_ttl_seconds, which is also the most. */
  pending_ttl_seconds?: number | null;
}

export interface RequestFilter {
  status?: RequestStatus;
  requester?: string;
  role?: string;
  limit?: number;
  /** Only rows listed after this place (newest first: older, or as old with a smaller id; without an id, at `at` or older). */
  after?: ListPosition;
}

export interface GrantFilter {
  subject?: string;
  active?: boolean;
  /** true: only break-glass grants; false: only others. */
  break_glass?: boolean;
  /** true: only grants someone reviewed; false: only grants nobody has (break-glass ones wait for a review). */
  reviewed?: boolean;
  limit?: number;
  /** Only rows listed after this place (newest first: older, or as old with a smaller id; without an id, at `at` or older). */
  after?: ListPosition;
}

/**
 * Where a row sits in a list, newest first: its time (a request's created_at, a grant's starts_at)
 * and id. Without `id`, a place between rows: rows listed after it are those at `at` or older
 * (where a listing resumes past rows the caller may not see, without naming one of them).
 */
export interface ListPosition {
  at: string;
  id?: string;
}

/**
 * The control API call an action comes from. Its request id (the answer's `x-request-id`) goes
 * into every audit record the action writes, refusals included, as `details.http_request_id`
 * like the data path's, so an operator can go from the call's log line or answer to its records.
 */
export interface ControlCall {
  httpRequestId: string;
}

/**
 * Control plane. Every method asks the elevation policy; throws JitgateError with a stable code.
 * `call` is absent for an action no control API call made (its records carry no request id).
 */
export interface Workflow {
  request(actor: Subject, req: NewRequest, call?: ControlCall): Promise<AccessRequest>;
  extend(actor: Subject, grantId: string, req: Omit<NewRequest, 'role' | 'scope'>, call?: ControlCall): Promise<AccessRequest>;
  approve(actor: Subject, requestId: string, comment?: string, call?: ControlCall): Promise<AccessRequest>;
  deny(actor: Subject, requestId: string, comment?: string, call?: ControlCall): Promise<AccessRequest>;
  withdraw(actor: Subject, requestId: string, call?: ControlCall): Promise<AccessRequest>;
  revoke(actor: Subject, grantId: string, reason?: string, call?: ControlCall): Promise<Grant>;
  review(actor: Subject, grantId: string, comment?: string, call?: ControlCall): Promise<Grant>;
  /** Reads return what is stored; who may see it is canView*'s question (the API asks it). */
  getRequest(id: string): Promise<AccessRequest | null>;
  listRequests(filter: RequestFilter): Promise<AccessRequest[]>;
  getGrant(id: string): Promise<Grant | null>;
  listGrants(filter: GrantFilter): Promise<Grant[]>;
  /** Whether the elevation policy lets `actor` see this request (action "view"). Throws on policy failure. */
  canViewRequest(actor: Subject, request: AccessRequest): boolean;
  /** Whether the elevation policy lets `actor` see this grant (action "view"). Throws on policy failure. */
  canViewGrant(actor: Subject, grant: Grant): boolean;
  /** The key listing cursors are signed with (the same on every replica). */
  listingKey(): Promise<Buffer>;
  /** Whether the elevation policy lets `actor` read the audit trail (action "audit_read"), and why. Throws on policy failure. */
  auditReadDecision(actor: Subject): { allow: boolean; reason: string | undefined };
}

/** Emitted after a workflow step commits (notifications, metrics). */
export interface WorkflowEvent {
  type: GrantEventType;
  at: string;
  actor: string;
  request: AccessRequest;
  grant: Grant | null;
  policy_revision: string | null;
}
