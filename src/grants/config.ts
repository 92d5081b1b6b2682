import type { SchemaObject } from 'ajv';

export interface GrantsConfig {
  /** A pending request expires after this many seconds. */
  pending_ttl_seconds: number;
  /** How often the sweeper records expiries (grants and pending requests). */
  sweep_interval_ms: number;
  /**
   * Pending requests and active grants one requester may have at once; a new request past it is
   * refused. Absent (code that builds a workflow by hand): DEFAULT_MAX_OPEN_PER_REQUESTER.
   */
  max_open_per_requester?: number;
}

/**
 * Without a bound, one caller could fill the store and the approvers' queue (3,000 pending requests
 * in 21 s), or hold thousands of auto-approved grants, each handed to the policy (and written to the
 * decision log) with every request of theirs and costing the other callers' requests time.
 */
export const DEFAULT_MAX_OPEN_PER_REQUESTER = 20;

export const grantsConfigSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    pending_ttl_seconds: { type: 'integer', minimum: 1, default: 86400 },
    sweep_interval_ms: { type: 'integer', minimum: 10, default: 5000 },
    max_open_per_requester: { type: 'integer', minimum: 1, maximum: 100000, default: 20 },
  },
};
