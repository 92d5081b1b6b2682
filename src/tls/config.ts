import type { SchemaObject } from 'ajv';

/** A certificate chain and its private key, PEM files (paths relative to the config file). */
export interface TlsFiles {
  cert_file: string;
  key_file: string;
}

export const tlsFilesSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['cert_file', 'key_file'],
  properties: {
    cert_file: { type: 'string', minLength: 1 },
    key_file: { type: 'string', minLength: 1 },
  },
};
