import type { SchemaObject } from 'ajv';

export interface GrantsConfig {
  /** A pending request expires after this many seconds. */
  pending_ttl_seconds: number;
  /** How often the sweeper records expiries (grants and pending requests). */
  sweep_interval_ms: number;
}

export const grantsConfigSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    pending_ttl_seconds: { type: 'integer', minimum: 1, default: 86400 },
    sweep_interval_ms: { type: 'integer', minimum: 10, default: 5000 },
  },
};
