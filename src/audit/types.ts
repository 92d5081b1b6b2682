// What the audit part offers: a hash-chained trail (durable before the response) and OPA-format decision logs.

export type AuditKind =
  | 'request.created' | 'request.approved' | 'request.denied' | 'request.withdrawn' | 'request.expired' | 'workflow.refused'
  | 'approval.added' | 'grant.granted' | 'grant.revoked' | 'grant.expired' | 'grant.break_glass' | 'grant.reviewed'
  | 'policy.loaded' | 'policy.rejected' | 'config.reloaded' | 'config.rejected'
  | 'proxy.denied' | 'proxy.allowed_with_grant' | 'proxy.allowed_standing' | 'proxy.not_forwarded';

export interface AuditEntry {
  kind: AuditKind;
  /** Who acted (subject id, or 'system'). */
  actor: string;
  /** Whom it concerns (requester / grant holder / caller). */
  subject: string | null;
  request_id: string | null;
  grant_id: string | null;
  role: string | null;
  route: string | null;
  decision_id: string | null;
  policy_revision: string | null;
  reason: string | null;
  /** Anything else worth keeping; never secrets. */
  details: Record<string, unknown>;
}

export interface AuditRecord extends AuditEntry {
  seq: number;
  at: string;
  prev_hash: string;
  hash: string;
}

import type { Sql } from '../store/index.js';

/** Transactions that append to the trail take this lock key (Db.tx lockKey): the chain has one head. */
export const AUDIT_CHAIN_LOCK = 'jitgate_audit_chain';

export interface AuditWriter {
  /** Appends on its own; resolves only once the record is committed (group commit batches concurrent calls). */
  append(entry: AuditEntry): Promise<AuditRecord>;
  /**
   * Appends inside the caller's transaction, so a state change and its audit record commit
   * together or not at all. The transaction must have been opened with lockKey AUDIT_CHAIN_LOCK.
   */
  appendWithin(sql: Sql, entries: readonly AuditEntry[]): Promise<AuditRecord[]>;
}

/** One OPA decision-log event (docs: management-decision-logs) plus jitgate's fields. */
export interface DecisionLogEvent {
  decision_id: string;
  timestamp: string;
  path: string;
  input: unknown;
  result: unknown;
  bundles: Record<string, { revision: string }>;
  labels: Record<string, string>;
  metrics: Record<string, number>;
  erased?: string[];
  masked?: string[];
  jitgate: {
    route?: string;
    subject?: string;
    grant_ids?: string[];
    upstream_status?: number;
    latency_ns?: number;
    error_code?: string;
    /** A request decided again while its WebSocket or response is open: still allowed, or closed. */
    session?: 'rechecked' | 'closed';
    /** The decision this one replaces: the request's allow under it was recorded, then its grants moved. */
    supersedes?: string;
    /** The decision whose result this one repeats (the same input in the same millisecond; no evaluation ran). */
    answered_from?: string;
    /** When a shadow policy decided otherwise: its revision, how it differed, and its decision. */
    shadow?: { revision: string; change: string; allow?: boolean; reason?: string | null; credential?: string | null; error?: string };
  };
}

/** Never blocks: buffers and drops (counted) when full. */
export interface DecisionLogger {
  /**
   * `inputJson`, when given, is `JSON.stringify(event.input)` already made (the policy engine's):
   * used as is when masking leaves the input unchanged, so the input is not serialized twice.
   * The event is encoded later (at the end of the event-loop turn): it must not change after this call.
   */
  log(event: Omit<DecisionLogEvent, 'labels' | 'erased' | 'masked'>, inputJson?: string): void;
}
