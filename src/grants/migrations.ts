import type { Migration } from '../store/index.js';

// Timestamps are ISO-8601 UTC TEXT with milliseconds (fixed width, so they compare as
// strings in both dialects); JSON as TEXT; booleans as INTEGER 0/1. Nothing is ever
// deleted: rows change status and keep their history.
export const grantsMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'elevation requests, approvals and grants',
    sql: `CREATE TABLE jitgate_requests (
  id TEXT PRIMARY KEY,
  requester_id TEXT NOT NULL,
  requester TEXT NOT NULL,
  role TEXT NOT NULL,
  scope TEXT,
  duration_seconds INTEGER NOT NULL,
  reason TEXT NOT NULL,
  ticket TEXT,
  status TEXT NOT NULL,
  approvals_required INTEGER NOT NULL,
  approver_groups TEXT NOT NULL,
  break_glass INTEGER NOT NULL,
  extends_grant_id TEXT,
  created_at TEXT NOT NULL,
  pending_expires_at TEXT NOT NULL,
  decided_at TEXT,
  decided_by TEXT,
  decision_comment TEXT,
  grant_id TEXT,
  policy_revision TEXT NOT NULL
);
CREATE INDEX jitgate_requests_status ON jitgate_requests (status, pending_expires_at);
CREATE INDEX jitgate_requests_requester ON jitgate_requests (requester_id, created_at);
CREATE INDEX jitgate_requests_created ON jitgate_requests (created_at);
CREATE TABLE jitgate_approvals (
  request_id TEXT NOT NULL,
  approver_key TEXT NOT NULL,
  approver TEXT NOT NULL,
  at TEXT NOT NULL,
  comment TEXT,
  PRIMARY KEY (request_id, approver_key)
);
CREATE TABLE jitgate_grants (
  id TEXT PRIMARY KEY,
  request_id TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  role TEXT NOT NULL,
  scope TEXT,
  reason TEXT NOT NULL,
  ticket TEXT,
  approved_by TEXT NOT NULL,
  break_glass INTEGER NOT NULL,
  reviewed_by TEXT,
  reviewed_at TEXT,
  starts_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  status TEXT NOT NULL,
  revoked_at TEXT,
  revoked_by TEXT,
  revoke_reason TEXT,
  expired_recorded_at TEXT,
  extension_count INTEGER NOT NULL,
  extends_grant_id TEXT
);
CREATE INDEX jitgate_grants_subject ON jitgate_grants (subject_id, status);
CREATE INDEX jitgate_grants_expiry ON jitgate_grants (status, expires_at);
CREATE INDEX jitgate_grants_extends ON jitgate_grants (extends_grant_id);
CREATE INDEX jitgate_grants_starts ON jitgate_grants (starts_at)`,
  },
  {
    version: 2,
    description: 'index for loading active grants in id order',
    // The cache loads active grants page by page in id order; without this index a
    // planner may pick the expiry index and sort every page (minutes at 1M grants).
    sql: 'CREATE INDEX jitgate_grants_active ON jitgate_grants (status, id)',
  },
  {
    version: 3,
    description: 'index for the break-glass grants still to review',
    // Reviewers list them whatever their status (GET /v1/grants?break_glass=true&reviewed=false);
    // they are few among many grants, and this keeps that list from reading every grant.
    sql: 'CREATE INDEX jitgate_grants_unreviewed ON jitgate_grants (starts_at) WHERE break_glass = 1 AND reviewed_by IS NULL',
  },
  {
    version: 4,
    description: 'the key listing cursors are signed with',
    // One row, made by the first replica to list anything (GrantStore.listingKey): every replica
    // must accept the cursors every other gave, so the key lives where they all read.
    sql: 'CREATE TABLE jitgate_listing_key (id INTEGER PRIMARY KEY CHECK (id = 1), key TEXT NOT NULL)',
  },
];
