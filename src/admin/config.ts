import type { SchemaObject } from 'ajv';

/** The control API's block (`jitgate.control`), to be composed by src/config/. */
export interface AdminConfig {
  /** Largest accepted request body in bytes. */
  body_limit_bytes: number;
  /** Serve the approvers' web console at /console/. */
  console: boolean;
  /** Where users reach this server (scheme://host[:port]); denials then link to the console's request form. */
  public_url?: string;
}

export const adminConfigSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    body_limit_bytes: { type: 'integer', minimum: 1024, maximum: 10485760, default: 65536 },
    console: { type: 'boolean', default: true },
    public_url: { type: 'string', pattern: '^https?://[^/?#\\s]+$' },
  },
};
