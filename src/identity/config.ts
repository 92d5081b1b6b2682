import type { SchemaObject } from 'ajv';
import { SUBJECT_ID_PATTERN } from './subject-id.js';

export interface JwtConfig {
  issuer: string;
  audience: string;
  /** Allowed algorithms, fixed: a token with any other `alg` is refused. */
  algorithms: string[];
  /** One of: OIDC discovery from the issuer, a JWKS URL, a JWKS file, a PEM public key file. */
  discovery?: boolean;
  jwks_url?: string;
  jwks_file?: string;
  public_key_file?: string;
  clock_skew_seconds: number;
  groups_claim: string;
  subject_claim: string;
  /** Minimum seconds between JWKS refreshes triggered by unknown `kid`s. */
  jwks_refresh_min_interval_seconds: number;
  /** Periodic JWKS refresh, so keys the issuer withdrew stop being trusted (0 = only on unknown kid). */
  jwks_max_age_seconds: number;
  /** Bound of the verified-token cache (entries die at exp or when their key leaves the JWKS). */
  token_cache_size: number;
  /** How long one fetch of the discovery document or the JWKS may take, head and body. */
  jwks_fetch_timeout_ms: number;
  /** The most either document may hold: a larger answer is refused, never buffered whole. */
  jwks_fetch_max_bytes: number;
}

export interface ApiKeyConfig {
  /** Public identifier, the part before the dot in `jg_<id>.<secret>`. */
  id: string;
  subject: string;
  groups: string[];
  /** Hex SHA-256 of the whole key; the key itself is never stored. */
  sha256: string;
}

/**
 * A workload certificate that is a credential: a caller whose certificate verified against the
 * listener's client CA and names this subjectAltName (exactly one of the two) is `subject`.
 */
export interface CertificateIdentityConfig {
  san_uri?: string;
  san_dns?: string;
  subject: string;
  groups: string[];
}

export interface DevIssuerConfig {
  /** Development only: signs demo tokens. Loud in the log when on. */
  enabled: boolean;
  key_file?: string;
  token_ttl_seconds: number;
  /** Sample subjects and their groups, so `jitgate token --sub alice` is enough. */
  subjects: Record<string, string[]>;
}

export interface IdentityConfig {
  jwt?: JwtConfig;
  api_keys: ApiKeyConfig[];
  client_certificates: CertificateIdentityConfig[];
  dev_issuer: DevIssuerConfig;
}

export const identityConfigSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    jwt: {
      type: 'object',
      additionalProperties: false,
      required: ['issuer', 'audience', 'algorithms'],
      properties: {
        issuer: { type: 'string', minLength: 1 },
        audience: { type: 'string', minLength: 1 },
        algorithms: {
          type: 'array', minItems: 1, uniqueItems: true,
          items: { type: 'string', enum: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] },
        },
        discovery: { type: 'boolean' },
        jwks_url: { type: 'string', minLength: 1 },
        jwks_file: { type: 'string', minLength: 1 },
        public_key_file: { type: 'string', minLength: 1 },
        clock_skew_seconds: { type: 'integer', minimum: 0, maximum: 300, default: 30 },
        groups_claim: { type: 'string', minLength: 1, default: 'groups' },
        subject_claim: { type: 'string', minLength: 1, default: 'sub' },
        jwks_refresh_min_interval_seconds: { type: 'integer', minimum: 0, default: 30 },
        jwks_max_age_seconds: { type: 'integer', minimum: 0, default: 300 },
        token_cache_size: { type: 'integer', minimum: 0, maximum: 1000000, default: 10000 },
        // Never off: without a deadline a trickling issuer held the single-flight refresh for
        // good, and without a size bound an endless answer filled the gateway's memory.
        jwks_fetch_timeout_ms: { type: 'integer', minimum: 100, maximum: 60_000, default: 5000 },
        jwks_fetch_max_bytes: { type: 'integer', minimum: 1024, maximum: 64 * 1024 * 1024, default: 4 * 1024 * 1024 },
      },
    },
    api_keys: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'subject', 'sha256'],
        properties: {
          id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' },
          subject: { type: 'string', minLength: 1, pattern: SUBJECT_ID_PATTERN },
          groups: { type: 'array', items: { type: 'string', minLength: 1, pattern: SUBJECT_ID_PATTERN }, default: [] },
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        },
      },
    },
    client_certificates: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        // Exactly one of san_uri and san_dns: checked with the config's other rules (config/load.ts).
        required: ['subject'],
        properties: {
          san_uri: { type: 'string', minLength: 1 },
          san_dns: { type: 'string', minLength: 1 },
          subject: { type: 'string', minLength: 1, pattern: SUBJECT_ID_PATTERN },
          groups: { type: 'array', items: { type: 'string', minLength: 1, pattern: SUBJECT_ID_PATTERN }, default: [] },
        },
      },
    },
    dev_issuer: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: false },
        key_file: { type: 'string', minLength: 1 },
        token_ttl_seconds: { type: 'integer', minimum: 60, maximum: 86400, default: 3600 },
        subjects: { type: 'object', propertyNames: { pattern: SUBJECT_ID_PATTERN }, additionalProperties: { type: 'array', items: { type: 'string', minLength: 1, pattern: SUBJECT_ID_PATTERN } }, default: {} },
      },
    },
  },
};
