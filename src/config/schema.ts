// The whole configuration schema, composed from each part's own schema (as OPA's
// plugins each own their config block). Unknown keys are errors: a typo must not
// silently turn a security setting off.
import type { SchemaObject } from 'ajv';
import { adminConfigSchema } from '../admin/index.js';
import { auditConfigSchema, decisionLogsConfigSchema } from '../audit/index.js';
import { grantsConfigSchema } from '../grants/index.js';
import { identityConfigSchema } from '../identity/index.js';
import { notifyConfigSchema } from '../notify/index.js';
import { observabilityConfigSchema } from '../observability/index.js';
import { policyConfigSchema } from '../policy/index.js';
import { callerTimeoutsSchema, POLICY_BODY_BUDGET_BYTES, PROXY_MAX_CONNECTIONS, routesConfigSchema } from '../proxy/index.js';
import { storeConfigSchema } from '../store/index.js';
import { tlsFilesSchema } from '../tls/index.js';

/** The control API serves people and scripts, never the data path's load. */
const CONTROL_MAX_CONNECTIONS = 1_000;

const listenSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    proxy: { type: 'string', pattern: '^[^:]+:[0-9]{1,5}$', default: '127.0.0.1:8080' },
    control: { type: 'string', pattern: '^[^:]+:[0-9]{1,5}$', default: '127.0.0.1:8081' },
    // Load balancers in front of the proxy whose X-Forwarded-For / X-Forwarded-Proto (or Forwarded) are believed.
    trusted_proxies: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
    // The header those proxies write: only it is believed (a client could write the other).
    trusted_proxy_header: { enum: ['x-forwarded-for', 'forwarded'], default: 'x-forwarded-for' },
    // HTTPS on either listener: its certificate chain and key (read again on every reload).
    tls: {
      type: 'object',
      additionalProperties: false,
      properties: { proxy: tlsFilesSchema, control: tlsFilesSchema },
    },
    // How long callers may take: head and whole request on both listeners, body pauses and
    // untaken responses on the proxy. A caller past one gets 408 or its connection closed.
    client_timeouts: callerTimeoutsSchema,
    // Connections each listener holds open at once: each is a file descriptor, and without a cap
    // idle or slow callers take the process to its file limit (docs/operations.md, "Connections").
    max_connections: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        proxy: { type: 'integer', minimum: 1, default: PROXY_MAX_CONNECTIONS },
        control: { type: 'integer', minimum: 1, default: CONTROL_MAX_CONNECTIONS },
      },
    },
    // Bytes of request bodies held for the policy (routes with policy_body), all requests together.
    policy_body_budget_bytes: { type: 'integer', minimum: 1, default: POLICY_BODY_BUDGET_BYTES },
    // The most of it one caller may hold (absent: an eighth of the budget, at least 1 MiB).
    policy_body_budget_per_caller_bytes: { type: 'integer', minimum: 1 },
  },
};

export const configSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['jitgate'],
  properties: {
    // OPA's own vocabulary (docs/configuration): accepted where jitgate uses it.
    labels: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
    services: {
      type: 'object',
      default: {},
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['url'],
        properties: {
          url: { type: 'string', minLength: 1 },
          headers: { type: 'object', additionalProperties: { type: 'string' } },
          response_header_timeout_seconds: { type: 'number', minimum: 0 },
          // OPA's service TLS: a CA instead of (or, with system_ca_required, beside) the system roots.
          tls: {
            type: 'object',
            additionalProperties: false,
            properties: { ca_cert: { type: 'string', minLength: 1 }, system_ca_required: { type: 'boolean' } },
          },
          // Of OPA's credential plugins bearer, oauth2 (client credentials with a secret or an assertion) and
          // client_tls, one per service as in OPA: any other would be sent without (load.ts names them).
          credentials: {
            type: 'object',
            additionalProperties: false,
            maxProperties: 1,
            properties: {
              client_tls: {
                type: 'object',
                additionalProperties: false,
                required: ['cert', 'private_key'],
                properties: {
                  cert: { type: 'string', minLength: 1 },
                  private_key: { type: 'string', minLength: 1 },
                  private_key_passphrase: { type: 'string' },
                },
              },
              oauth2: {
                type: 'object',
                additionalProperties: false,
                required: ['token_url'],
                properties: {
                  // As OPA requires: the client's secret or assertion never travels in the clear.
                  token_url: { type: 'string', pattern: '^https://' },
                  client_id: { type: 'string', minLength: 1 },
                  client_secret: { type: 'string', minLength: 1 },
                  // A signed JWT the client is given (a workload identity token): inline, or a file read for every token request.
                  client_assertion: { type: 'string', minLength: 1 },
                  client_assertion_path: { type: 'string', minLength: 1 },
                  client_assertion_type: { type: 'string', minLength: 1 },
                  // Or an assertion jitgate signs with keys.<signing_key>.private_key, with OPA's claims.
                  signing_key: { type: 'string', minLength: 1 },
                  additional_claims: { type: 'object' },
                  include_jti_claim: { type: 'boolean' },
                  // The signing certificate's SHA-1 thumbprint (hex), sent as the assertion's x5t header.
                  thumbprint: { type: 'string', pattern: '^([0-9a-fA-F]{2})+$' },
                  scopes: { type: 'array', items: { type: 'string', minLength: 1 } },
                  // Parameters the grant itself sets cannot be given again (a second value would be the endpoint's to pick).
                  additional_parameters: {
                    type: 'object',
                    propertyNames: { not: { enum: ['grant_type', 'scope', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'assertion'] } },
                    additionalProperties: { type: 'string' },
                  },
                  grant_type: { enum: ['client_credentials', 'jwt_bearer'] },
                },
                oneOf: [{ required: ['client_secret'] }, { required: ['client_assertion'] }, { required: ['client_assertion_path'] }, { required: ['signing_key'] }],
                // The JWT bearer grant (RFC 7523 2.1) is the signed assertion alone; a client credential grant names its client.
                if: { required: ['grant_type'], properties: { grant_type: { const: 'jwt_bearer' } } },
                then: { required: ['signing_key'] },
                else: { required: ['client_id'] },
              },
              bearer: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  token: { type: 'string', minLength: 1 },
                  token_path: { type: 'string', minLength: 1 },
                  scheme: { type: 'string', pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' },
                },
                oneOf: [{ required: ['token'] }, { required: ['token_path'] }],
              },
            },
          },
        },
      },
    },
    // OPA's bundle plugin: policies pulled from a bundle server instead of compiled here.
    bundles: {
      type: 'object',
      default: {},
      maxProperties: 1,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['service'],
        properties: {
          service: { type: 'string', minLength: 1 },
          resource: { type: 'string', minLength: 1 },
          polling: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              min_delay_seconds: { type: 'number', minimum: 0, default: 60 },
              max_delay_seconds: { type: 'number', minimum: 0, default: 120 },
              long_polling_timeout_seconds: { type: 'integer', minimum: 1 },
            },
          },
          size_limit_bytes: { type: 'integer', minimum: 1, default: 1073741824 },
          signing: {
            type: 'object',
            additionalProperties: false,
            properties: {
              keyid: { type: 'string', minLength: 1 },
              scope: { type: 'string' },
              exclude_files: { type: 'array', items: { type: 'string', minLength: 1 } },
            },
          },
        },
      },
    },
    keys: {
      type: 'object',
      default: {},
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        anyOf: [{ required: ['key'] }, { required: ['private_key'] }],
        properties: {
          key: { type: 'string', minLength: 1 },
          private_key: { type: 'string', minLength: 1 },
          algorithm: { enum: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512'], default: 'RS256' },
        },
      },
    },
    decision_logs: decisionLogsConfigSchema,
    jitgate: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        data_dir: { type: 'string', minLength: 1, default: './data' },
        listen: listenSchema,
        control: adminConfigSchema,
        policy: policyConfigSchema,
        store: storeConfigSchema,
        identity: identityConfigSchema,
        routes: routesConfigSchema,
        workflow: grantsConfigSchema,
        notifications: notifyConfigSchema,
        audit: auditConfigSchema,
        observability: observabilityConfigSchema,
      },
    },
  },
};
