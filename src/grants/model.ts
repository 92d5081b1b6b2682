// The records of the elevation workflow. Nothing here is ever deleted: requests,
// approvals and grants keep their full history for auditors.
import type { GrantScope, SubjectKind } from '../policy/index.js';

export type RequestStatus = 'pending' | 'approved' | 'denied' | 'withdrawn' | 'expired';
export type GrantStatus = 'active' | 'revoked' | 'expired';

export interface SubjectRef {
  id: string;
  kind: SubjectKind;
  groups: string[];
}

export interface Approval {
  by: string;
  at: string;
  comment: string | null;
}

export interface AccessRequest {
  id: string;
  requester: SubjectRef;
  role: string;
  scope: GrantScope | null;
  duration_seconds: number;
  reason: string;
  ticket: string | null;
  status: RequestStatus;
  /** Decided by the elevation policy when the request was made; fixed afterwards. */
  approvals_required: number;
  approver_groups: string[];
  break_glass: boolean;
  extends_grant_id: string | null;
  /**
   * When the grant it extends ends (a grant's end never moves), read with the request and not
   * stored on it: approvers must see that approving adds to that end, not to now.
   */
  extends_grant_expires_at: string | null;
  approvals: Approval[];
  created_at: string;
  /** A pending request expires at this instant. */
  pending_expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  decision_comment: string | null;
  grant_id: string | null;
  policy_revision: string;
}

export interface Grant {
  id: string;
  request_id: string;
  subject: SubjectRef;
  role: string;
  scope: GrantScope | null;
  reason: string;
  ticket: string | null;
  approved_by: string[];
  break_glass: boolean;
  /** Break-glass grants stay flagged until someone reviews them. */
  reviewed_by: string | null;
  reviewed_at: string | null;
  starts_at: string;
  expires_at: string;
  status: GrantStatus;
  revoked_at: string | null;
  revoked_by: string | null;
  revoke_reason: string | null;
  /** Set once the sweeper has recorded the `expired` event. */
  expired_recorded_at: string | null;
  extension_count: number;
}

export type GrantEventType =
  | 'request.created'
  | 'request.approved'
  | 'request.denied'
  | 'request.withdrawn'
  | 'request.expired'
  | 'approval.added'
  | 'grant.granted'
  | 'grant.revoked'
  | 'grant.expired'
  | 'grant.break_glass'
  | 'grant.reviewed';
