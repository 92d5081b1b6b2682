// Admin part: the control API (REST under /v1, OpenAPI 3.1, health and metrics) on its own address.
export { createControlServer } from './server.js';
export { parseDuration } from './duration.js';
export type {
  AuditQuery, AuditQueryFilter, AuditQueryPage, ControlServer, ControlServerOptions, HealthReport, HealthSource, MetricsSource,
} from './types.js';
export { adminConfigSchema, type AdminConfig } from './config.js';
