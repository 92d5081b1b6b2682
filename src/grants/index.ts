// Grants part: grant store (SQLite | PostgreSQL), elevation workflow, per-replica grant cache.
export type * from './model.js';
export type { GrantReader, Workflow, WorkflowEvent, NewRequest, RequestFilter, GrantFilter } from './types.js';
export { grantsConfigSchema, type GrantsConfig } from './config.js';
