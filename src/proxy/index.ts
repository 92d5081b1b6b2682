// Proxy part: routes, request normalization, policy input, enforcement, credential broker, upstream.
export { routesConfigSchema, type RouteConfig, type CredentialConfig } from './config.js';
