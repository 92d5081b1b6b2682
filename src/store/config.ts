import type { SchemaObject } from 'ajv';

export interface StoreConfig {
  type: 'sqlite' | 'postgres';
  /** Filled in from jitgate.data_dir when the file gives none. */
  sqlite: { path: string };
  postgres: { url?: string; url_env?: string; pool_size?: number };
}

export const storeConfigSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    type: { type: 'string', enum: ['sqlite', 'postgres'], default: 'sqlite' },
    sqlite: {
      type: 'object',
      additionalProperties: false,
      default: {},
      // Without a path, `<jitgate.data_dir>/jitgate.db` (config/load.ts).
      properties: { path: { type: 'string', minLength: 1 } },
    },
    postgres: {
      type: 'object',
      additionalProperties: false,
      required: [],
      default: {},
      properties: {
        url: { type: 'string', minLength: 1 },
        url_env: { type: 'string', minLength: 1, default: 'JITGATE_PG_URL' },
        pool_size: { type: 'integer', minimum: 1, maximum: 200 },
      },
    },
  },
};
