import type { SchemaObject } from 'ajv';

/** A candidate policy decided beside the active one on live traffic, for comparison only. */
export interface ShadowPolicyConfig {
  dir: string;
  bundles_dir: string;
  watch: boolean;
}

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
  /** Never enforced: its decisions are compared with the active policy's (metrics, decision log). */
  shadow?: ShadowPolicyConfig;
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
    shadow: {
      type: 'object',
      additionalProperties: false,
      required: ['dir'],
      properties: {
        dir: { type: 'string', minLength: 1 },
        // Apart from the active bundles: a shadow bundle there would be taken for a prebuilt one.
        bundles_dir: { type: 'string', minLength: 1, default: './shadow-bundles' },
        watch: { type: 'boolean', default: true },
      },
    },
  },
};
