import type { AuditEntry } from '../../src/audit/index.js';

export function entry(over: Partial<AuditEntry> = {}): AuditEntry {
  return {
    kind: 'grant.granted', actor: 'bob', subject: 'alice', request_id: 'req-1', grant_id: 'g-1', role: 'writer',
    route: null, decision_id: null, policy_revision: 'rev-1', reason: 'incident 42', details: {}, ...over,
  };
}
