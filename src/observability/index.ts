// Observability part: Prometheus metrics, structured logs with secrets redacted, health.
export type { Metrics } from './types.js';
export { observabilityConfigSchema, type ObservabilityConfig } from './config.js';
