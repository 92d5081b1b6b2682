import type { SchemaObject } from 'ajv';

export interface PolicyConfig {
  /** The git-tracked Rego folder (compiled with `opa build -t wasm`). */
  dir: string;
  /** Where compiled bundles are written, and where prebuilt bundles may be dropped. */
  bundles_dir: string;
  /** Recompile and swap on change. */
  watch: boolean;
  /** Path of the opa binary; default: $JITGATE_OPA, then .tools/bin/opa, then PATH. */
  opa_path?: string;
  /** Quiet period after the last file event before a rebuild. */
  debounce_ms: number;
}

export const policyConfigSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    dir: { type: 'string', minLength: 1, default: './policies' },
    bundles_dir: { type: 'string', minLength: 1, default: './bundles' },
    watch: { type: 'boolean', default: true },
    opa_path: { type: 'string', minLength: 1 },
    debounce_ms: { type: 'integer', minimum: 0, maximum: 60000, default: 200 },
  },
};
