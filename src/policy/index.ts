// Policy part: compile (opa build -t wasm), bundle, engine (opa-wasm), watch and hot swap.
export * from './contract.js';
export type { PolicyEvaluator, PolicyEvent } from './types.js';
export { policyConfigSchema, type PolicyConfig } from './config.js';
