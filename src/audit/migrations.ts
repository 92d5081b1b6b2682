import type { Migration } from '../store/index.js';

// seq is assigned by the writer (head + 1 under the chain lock), not by the database,
// because it is part of what is hashed.
export const auditMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'hash-chained audit trail',
    sql: `CREATE TABLE jitgate_audit (
  seq BIGINT PRIMARY KEY,
  at TEXT NOT NULL,
  kind TEXT NOT NULL,
  actor TEXT NOT NULL,
  subject TEXT,
  request_id TEXT,
  grant_id TEXT,
  role TEXT,
  route TEXT,
  decision_id TEXT,
  policy_revision TEXT,
  reason TEXT,
  details TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX jitgate_audit_subject ON jitgate_audit (subject, seq);
CREATE INDEX jitgate_audit_actor ON jitgate_audit (actor, seq);
CREATE INDEX jitgate_audit_grant ON jitgate_audit (grant_id, seq);
CREATE INDEX jitgate_audit_request ON jitgate_audit (request_id, seq);
CREATE INDEX jitgate_audit_role ON jitgate_audit (role, seq);
CREATE INDEX jitgate_audit_route ON jitgate_audit (route, seq);
CREATE INDEX jitgate_audit_at ON jitgate_audit (at)`,
  },
];
