// Audit part: hash-chained audit trail in the store, OPA-format decision logs and their sinks.
export type { AuditEntry, AuditKind, AuditRecord, AuditWriter, DecisionLogEvent, DecisionLogger } from './types.js';
export { AUDIT_CHAIN_LOCK } from './types.js';
export { auditConfigSchema, decisionLogsConfigSchema, type AuditConfig, type DecisionLogsConfig } from './config.js';
export { createAuditTrail, type AuditTrail, type AuditTrailHooks } from './writer.js';
export { auditMigrations } from './migrations.js';
export { verifyChain, verifyExport, type VerifyProblem, type VerifyReport } from './verify.js';
export { readCheckpoint, type Checkpoint, type CheckpointWitness } from './checkpoint.js';
export { serviceDispatcher, serviceHeaders, serviceUrl, type ServiceConfig } from './service.js';
export { assertionKey } from './oauth2.js';
export { queryAudit, AUDIT_LIMIT_MAX, DECISION_KINDS, type AuditFilter, type AuditPage } from './query.js';
export { canonicalJson } from './canonical.js';
export { createDecisionLogger, type DecisionLogSink, type DecisionLoggerDeps } from './decision-logger.js';
export { applyMaskRules, maskInput, maskValue, MASK_VALUE } from './mask.js';
export { decisionEvent, type DecisionFacts } from './event.js';
