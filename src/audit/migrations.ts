import type { Migration } from '../store/index.js';

/**
 * A side table indexing one string member of the records' details, where no index reaches:
 * derived (not hashed), and filled from the records already there. In each store's JSON dialect.
 */
function fromDetails(table: string, column: string, member: string): { sqlite: string; postgres: string } {
  const create = `CREATE TABLE ${table} (seq BIGINT NOT NULL, ${column} TEXT NOT NULL);
CREATE INDEX ${table}_id ON ${table} (${column}, seq);
INSERT INTO ${table} (seq, ${column})`;
  return {
    sqlite: `${create}
  SELECT seq, json_extract(details, '$.${member}') FROM jitgate_audit
  WHERE json_type(details, '$.${member}') = 'text'`,
    postgres: `${create}
  SELECT seq, details::jsonb ->> '${member}' FROM jitgate_audit
  WHERE jsonb_typeof(details::jsonb -> '${member}') = 'string'`,
  };
}

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
  {
    version: 2,
    description: 'every grant a record names, for queries by grant and role',
    // A request allowed under several grants is one record whose grant_id column can name only
    // one of them; the rest are in details.grant_ids, where no index reaches. This table holds
    // them all, derived from the records (not hashed: verify reads the records), filled for the
    // records already there from their details (roles known then for the first grant only).
    sql: {
      sqlite: `CREATE TABLE jitgate_audit_grants (seq BIGINT NOT NULL, grant_id TEXT NOT NULL, role TEXT);
CREATE INDEX jitgate_audit_grants_grant ON jitgate_audit_grants (grant_id, seq);
CREATE INDEX jitgate_audit_grants_role ON jitgate_audit_grants (role, seq);
INSERT INTO jitgate_audit_grants (seq, grant_id, role)
  SELECT a.seq, j.value, CASE WHEN j.value = a.grant_id THEN a.role END
  FROM jitgate_audit a, json_each(a.details, '$.grant_ids') j
  WHERE json_type(a.details, '$.grant_ids') = 'array' AND j.type = 'text'`,
      postgres: `CREATE TABLE jitgate_audit_grants (seq BIGINT NOT NULL, grant_id TEXT NOT NULL, role TEXT);
CREATE INDEX jitgate_audit_grants_grant ON jitgate_audit_grants (grant_id, seq);
CREATE INDEX jitgate_audit_grants_role ON jitgate_audit_grants (role, seq);
INSERT INTO jitgate_audit_grants (seq, grant_id, role)
  SELECT a.seq, j.value, CASE WHEN j.value = a.grant_id THEN a.role END
  FROM jitgate_audit a CROSS JOIN LATERAL jsonb_array_elements_text(
    CASE WHEN jsonb_typeof(a.details::jsonb -> 'grant_ids') = 'array' THEN a.details::jsonb -> 'grant_ids' ELSE '[]'::jsonb END
  ) AS j(value)`,
    },
  },
  {
    version: 3,
    description: 'the HTTP request id each record names, for queries from an answer\'s x-request-id',
    // Proxied requests and control API calls put the id of the HTTP request behind a record in
    // details.http_request_id, where no index reaches. Derived like jitgate_audit_grants (not
    // hashed), and filled for the records already there.
    sql: fromDetails('jitgate_audit_http', 'http_request_id', 'http_request_id'),
  },
  {
    version: 4,
    description: 'the decision each record supersedes, for queries by decision_id',
    // A request decided again (its grants moved while its allow was recorded) has a record whose
    // decision_id is the new decision and whose details.supersedes names the one it replaced:
    // an auditor asking about the replaced decision must find both. Derived like
    // jitgate_audit_http (not hashed), and filled for the records already there.
    sql: fromDetails('jitgate_audit_supersedes', 'decision_id', 'supersedes'),
  },
  {
    version: 5,
    description: 'decision_id indexed, for queries by decision',
    // The decision log and every 403 give a decision_id to look up; without an index each such
    // query read the whole trail.
    sql: 'CREATE INDEX jitgate_audit_decision ON jitgate_audit (decision_id, seq)',
  },
];
