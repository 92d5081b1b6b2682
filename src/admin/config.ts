import type { SchemaObject } from 'ajv';

/** The control API's block (`jitgate.control`), to be composed by src/config/. */
export interface AdminConfig {
  /** Members of these groups may read GET /v1/audit. A group check until the policy gets an `audit_read` decision. */
  audit_reader_groups: string[];
  /** Largest accepted request body in bytes. */
  body_limit_bytes: number;
  /** Serve the approvers' web console at /console/. */
  console: boolean;
}

export const adminConfigSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    audit_reader_groups: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true, default: ['admins', 'auditors'] },
    body_limit_bytes: { type: 'integer', minimum: 1024, maximum: 10485760, default: 65536 },
    console: { type: 'boolean', default: true },
  },
};
