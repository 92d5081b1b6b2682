// What the audit part offers: a hash-chained trail (durable before the response) and OPA-format decision logs.

export type AuditKind =
  | 'request.created' | 'request.approved' | 'request.denied' | 'request.withdrawn' | 'request.expired'
  | 'approval.added' | 'grant.granted' | 'grant.revoked' | 'grant.expired' | 'grant.break_glass' | 'grant.reviewed'
  | 'policy.loaded' | 'policy.rejected' | 'config.reloaded' | 'config.rejected'
  | 'proxy.denied' | 'proxy.allowed_with_grant';

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

/** Appends to the trail. Resolves only once the record is committed (group commit). */
export interface AuditWriter {
  append(entry: AuditEntry): Promise<AuditRecord>;
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
  };
}

/** Never blocks: buffers and drops (counted) when full. */
export interface DecisionLogger {
  log(event: Omit<DecisionLogEvent, 'labels' | 'erased' | 'masked'>): void;
}
