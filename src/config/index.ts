// Config part: reads opa.config.yaml (OPA's keys plus a `jitgate` section), validates it
// whole with ajv and lists every problem; parts own their blocks' schemas.
export { loadConfig, buildConfig } from './load.js';
export { configFileWarnings } from './file-warnings.js';
export { configSchema } from './schema.js';
export type { GatewayConfig, OpaBundle, OpaService } from './types.js';
