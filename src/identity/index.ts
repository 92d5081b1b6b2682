// Identity part: verified subjects from JWTs (JWKS / public key), API keys, and the demo's development issuer.
export type { Authenticator } from './types.js';
export { identityConfigSchema, type IdentityConfig, type JwtConfig, type ApiKeyConfig, type DevIssuerConfig } from './config.js';
