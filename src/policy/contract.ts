// The policy contract: what the gateway hands to Rego and what it expects back.
// Both entrypoints are compiled into one bundle. Policy authors read docs/policies.md;
// this file is the source of truth those docs describe.

/** Entrypoint names as given to `opa build -e` and to opa-wasm's evaluate(). */
export const AUTHZ_ENTRYPOINT = 'jitgate/authz';
export const ELEVATION_ENTRYPOINT = 'jitgate/elevation';
export const ENTRYPOINTS = [AUTHZ_ENTRYPOINT, ELEVATION_ENTRYPOINT] as const;
export type Entrypoint = (typeof ENTRYPOINTS)[number];

/**
 * OPA's decision-log rules, at OPA's default paths (decision_logs.drop_decision and
 * mask_decision): compiled in when the policies define them, asked about every decision
 * before it is logged. Their input is the decision-log event itself.
 */
export const LOG_DROP_ENTRYPOINT = 'system/log/drop';
export const LOG_MASK_ENTRYPOINT = 'system/log/mask';
export const LOG_RULES_PACKAGE = 'system.log';

/** One element of `system.log.mask`, as in OPA: a JSON pointer to erase, or an operation. */
export type LogMaskRule = string | { op: 'remove' | 'upsert'; path: string; value?: unknown };

/** What the policy says about one decision-log event. */
export interface DecisionLogRules {
  drop: boolean;
  mask: LogMaskRule[];
}

export type SubjectKind = 'user' | 'service';

export interface Subject {
  id: string;
  kind: SubjectKind;
  /** Groups or roles taken from verified claims (users) or the API key's mapping (services). */
  groups: string[];
  /** Verified claims only (never raw, unverified token content). Empty for services. */
  claims: Record<string, unknown>;
}

/** Narrows a grant to operations: methods and path patterns (glob, `*` = one segment, `**` = any) on a route. */
export interface GrantScope {
  route?: string;
  methods?: string[];
  paths?: string[];
}

/** An active grant as the policy sees it. Expired grants are never handed to the policy. */
export interface PolicyGrant {
  id: string;
  role: string;
  scope: GrantScope | null;
  /** RFC 3339, UTC. */
  starts_at: string;
  expires_at: string;
  /** Nanoseconds since the epoch, for comparisons against now_ns. */
  expires_at_ns: number;
  approved_by: string[];
  reason: string;
  ticket: string | null;
  break_glass: boolean;
  request_id: string;
}

/**
 * What became of the request body, on routes with `policy_body` (absent elsewhere): `none`
 * (no body), `parsed` (in `body`), `too_large`, `malformed` (not UTF-8 JSON), `unsupported`
 * (another media type or charset, or a content coding).
 */
export type BodyStatus = 'none' | 'parsed' | 'too_large' | 'malformed' | 'unsupported';

/** A caller's certificate that verified against the listener's client CA (listen.tls.proxy.client_certificates). */
export interface AuthzClientCertificate {
  /** The subject's common name, when it has one. */
  subject_cn?: string;
  /** subjectAltName URIs (SPIFFE IDs) and DNS names. */
  san_uris: string[];
  san_dns: string[];
  /** SHA-256 of the certificate, as `AB:CD:...`. */
  fingerprint_sha256: string;
}

export interface AuthzRequest {
  method: string;
  /** Normalized once; exactly the path the upstream will see. */
  path: string;
  /** Non-empty, decoded path segments. */
  segments: string[];
  /** Every query parameter as a list of values. */
  query: Record<string, string[]>;
  /** Allowlisted headers only, lower-cased names; never credentials or cookies. */
  headers: Record<string, string>;
  /**
   * The caller's IP address: the connection's peer, or behind trusted proxies the address they
   * vouch for. Always set on the data path; absent only from inputs logged before it existed.
   */
  client_ip?: string;
  /** Only on a TLS listener that asks for client certificates, and only a verified one. */
  client_certificate?: AuthzClientCertificate;
  host: string;
  /** Routes with `policy_body`: the JSON body, exactly as the upstream receives it (status `parsed` only). */
  body?: unknown;
  body_status?: BodyStatus;
}

export interface AuthzRoute {
  name: string;
  upstream: string;
  /** Names of the credentials configured for this route (never their values). */
  credentials: string[];
}

export interface AuthzInput {
  request: AuthzRequest;
  subject: Subject;
  /** Best handed in sealed (sealed.ts), like subject and route: engines then parse each once, not per request. */
  grants: readonly PolicyGrant[];
  route: AuthzRoute;
  now_ns: number;
}

/** What a denied caller could ask for to be allowed. */
export interface ElevationHint {
  role: string;
  max_duration_seconds?: number;
  scope?: GrantScope;
  /** The role asks for a ticket: the command the 403 offers then carries `--ticket`, or following it would be refused. */
  require_ticket?: boolean;
}

export interface AuthzObligations {
  /** Which of the route's credentials the upstream call uses. */
  credential?: string;
  /** Extra request headers for the upstream (never secrets; those come from credentials). */
  headers?: Record<string, string>;
}

export interface AuthzResult {
  allow: boolean;
  reason?: string;
  elevation?: ElevationHint;
  obligations?: AuthzObligations;
  /** Ids of the grants this decision relied on (audited). */
  grant_ids?: string[];
}

export type ElevationAction = 'request' | 'approve' | 'deny' | 'withdraw' | 'revoke' | 'extend' | 'review' | 'view' | 'audit_read';

export interface ElevationRequestView {
  id: string | null;
  role: string;
  scope: GrantScope | null;
  duration_seconds: number;
  reason: string;
  ticket: string | null;
  status: string;
  requested_at: string | null;
  approvals: { by: string; at: string }[];
  /** For extensions: the grant being extended and how many extensions it already had. */
  extends_grant_id: string | null;
  extension_count: number;
}

export interface ElevationInput {
  action: ElevationAction;
  /** The request the step is about; null for `audit_read` only, which is about no request. */
  request: ElevationRequestView | null;
  actor: Subject;
  /** Who asked (or holds the grant); null for `audit_read` only. */
  requester: Subject | null;
  /** The grant acted upon (revoke, extend), if any. */
  grant: PolicyGrant | null;
  now_ns: number;
}

export interface ElevationResult {
  allow: boolean;
  reason?: string;
  max_duration_seconds?: number;
  approvals_required?: number;
  approver_groups?: string[];
  auto_approve?: boolean;
  break_glass?: boolean;
  require_reason?: boolean;
  require_ticket?: boolean;
  step_up?: boolean;
  max_extensions?: number;
  /**
   * On `approve`: whether the requester, with the groups stored on the request, may still hold
   * the role. False refuses the approval (a grant the data path would not honour is no grant).
   */
  requester_eligible?: boolean;
  /**
   * On `approve`: whether the request as stored (duration, reason, ticket, and for an extension
   * the grant's extension count) still meets the role's rules in this policy. False refuses the
   * approval: a policy tightened during an incident applies to requests still waiting.
   */
  request_within_settings?: boolean;
}

export interface Decision<R> {
  result: R;
  /** Bundle revision (git commit of policies/, `-dirty` when the tree had changes). */
  revision: string;
  decision_id: string;
  /** Evaluation time in nanoseconds. */
  eval_ns: number;
  /**
   * The input exactly as the policy received it (JSON), when the evaluator has it: the
   * decision log reuses it instead of serializing the same input a second time.
   */
  input_json?: string;
  /**
   * Set when the decision memo answered: the id of the decision of the same input, in the same
   * millisecond, whose result this one repeats (decision-memo.ts). Its eval_ns is the lookup's.
   */
  answered_from?: string;
}
