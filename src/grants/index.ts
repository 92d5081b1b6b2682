// Grants part: grant store (SQLite | PostgreSQL), elevation workflow, per-replica grant cache, sweeper.
export type * from './model.js';
export type { ControlCall, GrantReader, SubjectKey, Workflow, WorkflowEvent, NewRequest, RequestFilter, GrantFilter, ListPosition } from './types.js';
export { grantsConfigSchema, type GrantsConfig } from './config.js';
export { grantsMigrations } from './migrations.js';
export { createGrantStore, type GrantStore, type ActiveGrant } from './store.js';
export { GrantCache, GRANTS_CHANNEL, type GrantCacheOptions } from './cache.js';
export { Sweeper, type SweeperOptions } from './sweeper.js';
export { createWorkflow, StoreWorkflow, type WorkflowDeps, type WorkflowEventSink, type GrantSink, type WorkflowLogger } from './workflow.js';
export { createGrantServices, type GrantServices, type GrantServicesDeps } from './services.js';
export { toPolicyGrant } from './policy-grant.js';
export { systemClock, type Clock } from './clock.js';
export type { StoredGrant } from './rows.js';
