// Observability part: Prometheus metrics, structured logs with secrets redacted, health.
export type { KeyRefreshSample, Metrics } from './types.js';
export { observabilityConfigSchema, type ObservabilityConfig } from './config.js';
export { createMetrics, type PrometheusMetrics } from './metrics.js';
export { createLogger, REDACT_CENSOR, REDACT_PATHS } from './logger.js';
export { HealthRegistry, type CheckResult, type HealthCheck, type HealthReport } from './health.js';
export { requestId, requestLogging, REQUEST_ID_HEADER } from './request-id.js';
export { storeReachable } from './checks.js';
