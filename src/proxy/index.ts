// Proxy part: routes, request normalization, policy input, enforcement, credential broker, upstream.
export { CALLER_TIMEOUT_DEFAULTS, callerTimeoutsSchema, routesConfigSchema, type CallerTimeouts, type RouteConfig, type CredentialConfig } from './config.js';
export { createProxyServer, POLICY_BODY_BUDGET_BYTES, PROXY_MAX_CONNECTIONS, type CallerSettings, type ProxyServer, type ProxyServerOptions } from './server.js';
export { normalizeTarget, type NormalizedTarget } from './normalize.js';
export { invalidProxyEntries, type TrustedProxyHeader } from './client-address.js';
export { unjudgeable } from './headers.js';
export { defaultCallerShare } from './body-budget.js';
export { ConnectionErrors } from './client-errors.js';
export { relayUpstream, type Relayed, type RelayOptions, type ResponseHead } from './relay.js';
export { SecretMasker } from './redact.js';
export { humanDuration, elevationCommand, elevationUrl } from './respond.js';
