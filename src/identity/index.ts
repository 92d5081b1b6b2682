// Identity part: verified subjects from JWTs (JWKS / public key), API keys, and the demo's development issuer.
export type { Authenticator } from './types.js';
export { identityConfigSchema, type IdentityConfig, type JwtConfig, type ApiKeyConfig, type CertificateIdentityConfig, type DevIssuerConfig } from './config.js';
export { createAuthenticator, identityReadiness, keyRefreshStates, keySourcesChanged, API_KEY_HEADER, type KeyRefreshFailed, type ManagedAuthenticator } from './authenticator.js';
export type { KeyRefreshState } from './keyset.js';
export { ReloadableAuthenticator } from './reloadable.js';
export { createDevIssuer, DEV_ISSUER, DEV_AUDIENCE, type DevIssuer } from './dev-issuer.js';
export { hashApiKey, parseApiKey, generateApiKey, API_KEY_PREFIX } from './apikeys.js';
export { checkIdentityNames, forbiddenCharIn, lookalikeKey, maybeSameId, SUBJECT_ID_PATTERN, SUBJECT_ID_RULE } from './subject-id.js';
