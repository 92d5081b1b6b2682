// Policy part: compile (opa build -t wasm), bundle, engine (opa-wasm), watch and hot swap.
export * from './contract.js';
export type { DecisionLogRulesSource, PolicyEvaluator, PolicyEvent } from './types.js';
export { policyConfigSchema, type PolicyConfig } from './config.js';
export { shadowOutcome, type ShadowOutcome } from './compare.js';
export { PolicyEngine, type EngineInfo, type EngineOptions } from './engine.js';
export { runningDataWorkers, type DataParseOptions } from './data-image.js';
export { sealGrants, NO_GRANTS, type GrantSet } from './grant-set.js';
export { jsonOf, seal } from './sealed.js';
export { parseBundle, readBundleFile, type PolicyBundle, type BundleManifest } from './bundle.js';
export { buildBundle, defaultCapabilitiesPath, isPolicySource, logRuleEntrypoints, BUNDLE_FILE_NAME, type BuildOptions, type BuildResult } from './compile.js';
export { findOpa, projectRoot, requireOpa, runOpa, type OpaRun } from './opa.js';
export { generateCapabilities, serializeCapabilities, type Capabilities } from './capabilities.js';
export { CUSTOM_BUILTIN_NAMES, SDK_BUILTIN_NAMES } from './builtins.js';
export { policyRevision } from './revision.js';
export { replayChangesDecisions, replayDecisions, type ReplayDifference, type ReplayedDecision, type ReplayOptions, type ReplayReport } from './replay.js';
export { PolicyManager, type PolicyManagerOptions, type PolicyStatus, type PolicyLogger } from './manager.js';
export { BundleDownloader, type BundleSource } from './download.js';
export { checkBundleSignature, type BundleSigning, type VerificationKey } from './signature.js';
