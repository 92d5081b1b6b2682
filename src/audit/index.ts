// Audit part: hash-chained audit trail in the store, OPA-format decision logs and their sinks.
export type { AuditEntry, AuditKind, AuditRecord, AuditWriter, DecisionLogEvent, DecisionLogger } from './types.js';
export { AUDIT_CHAIN_LOCK } from './types.js';
export { auditConfigSchema, decisionLogsConfigSchema, type AuditConfig, type DecisionLogsConfig } from './config.js';
