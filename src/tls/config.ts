import type { SchemaObject } from 'ajv';

/** A certificate chain and its private key, PEM files (paths relative to the config file). */
export interface TlsFiles {
  cert_file: string;
  key_file: string;
  /**
   * Ask callers for a certificate signed by `ca_file` (PEM). Required: connections without one
   * fail the handshake. Otherwise optional: a verified one is shown to the policy. With
   * `crl_file` (PEM, the CA's revocation list) a revoked certificate does not verify.
   */
  client_certificates?: { ca_file: string; required: boolean; crl_file?: string };
}

export const tlsFilesSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['cert_file', 'key_file'],
  properties: {
    cert_file: { type: 'string', minLength: 1 },
    key_file: { type: 'string', minLength: 1 },
    client_certificates: {
      type: 'object',
      additionalProperties: false,
      required: ['ca_file'],
      properties: {
        ca_file: { type: 'string', minLength: 1 },
        required: { type: 'boolean', default: true },
        crl_file: { type: 'string', minLength: 1 },
      },
    },
  },
};
