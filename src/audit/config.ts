import type { SchemaObject } from 'ajv';

export interface AuditConfig {
  /** Where the latest chain hash is written periodically, so truncation is detectable. */
  checkpoint_file?: string;
  /**
   * Services (top-level `services`) that are sent every checkpoint too: copies out of the
   * gateway's reach. One name or several (each gets every checkpoint, independently).
   */
  checkpoint_service?: string | string[];
  /** Path under the service's URL the checkpoints are POSTed to (the schema's default: /checkpoints). */
  checkpoint_resource?: string;
  checkpoint_interval_ms: number;
  /** Appends arriving within this window share one transaction. */
  group_commit_ms: number;
}

/** OPA's `decision_logs` block (docs/configuration), plus a local JSONL file sink. */
export interface DecisionLogsConfig {
  console: boolean;
  service?: string;
  resource: string;
  file?: { path: string; max_bytes: number; max_files: number };
  /** Extra input paths to mask (JSON pointers under /input). */
  mask: string[];
  reporting: {
    buffer_size_limit_events: number;
    /** The upload buffer's bound in bytes of encoded events, beside the count (large events: bodies, long queries). */
    buffer_size_limit_bytes: number;
    upload_size_limit_bytes: number;
    min_delay_seconds: number;
    max_delay_seconds: number;
  };
}

export const auditConfigSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    checkpoint_file: { type: 'string', minLength: 1 },
    checkpoint_service: {
      oneOf: [
        { type: 'string', minLength: 1 },
        { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1 } },
      ],
    },
    checkpoint_resource: { type: 'string', default: '/checkpoints' },
    checkpoint_interval_ms: { type: 'integer', minimum: 100, default: 60000 },
    group_commit_ms: { type: 'integer', minimum: 0, maximum: 100, default: 2 },
  },
};

export const decisionLogsConfigSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    console: { type: 'boolean', default: false },
    service: { type: 'string', minLength: 1 },
    resource: { type: 'string', default: '/logs' },
    file: {
      type: 'object',
      additionalProperties: false,
      required: ['path'],
      properties: {
        path: { type: 'string', minLength: 1 },
        max_bytes: { type: 'integer', minimum: 1024, default: 52428800 },
        max_files: { type: 'integer', minimum: 1, maximum: 100, default: 5 },
      },
    },
    mask: { type: 'array', items: { type: 'string', pattern: '^/input/' }, default: [] },
    reporting: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        buffer_size_limit_events: { type: 'integer', minimum: 1, default: 10000 },
        buffer_size_limit_bytes: { type: 'integer', minimum: 65536, default: 67108864 },
        upload_size_limit_bytes: { type: 'integer', minimum: 1024, default: 32768 },
        min_delay_seconds: { type: 'number', minimum: 0, default: 1 },
        max_delay_seconds: { type: 'number', minimum: 0, default: 10 },
      },
    },
  },
};
