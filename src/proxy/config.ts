import type { SchemaObject } from 'ajv';
import { CLIENT_TIMEOUT_DEFAULTS, type ClientTimeouts } from '../tls/index.js';

/**
 * How long callers of the proxy may take (jitgate.listen.client_timeouts): to send a request (the
 * listener's head and request limits, which the control API shares) and, on the data path, to
 * keep a streamed body coming and to take a response. Past one, the connection is closed.
 */
export interface CallerTimeouts extends ClientTimeouts {
  /** The longest pause in a request body on its way upstream. */
  body_idle_ms: number;
  /** The longest the caller may leave a response untaken (its socket full). */
  response_idle_ms: number;
}

export const CALLER_TIMEOUT_DEFAULTS: Readonly<CallerTimeouts> = Object.freeze({ ...CLIENT_TIMEOUT_DEFAULTS, body_idle_ms: 30_000, response_idle_ms: 60_000 });

export const callerTimeoutsSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: Object.fromEntries(Object.entries(CALLER_TIMEOUT_DEFAULTS).map(([key, ms]) => [key, { type: 'integer', minimum: 1, default: ms }])),
};

/** Secrets come from the environment or a file, never from the config file itself. */
export interface CredentialConfig {
  type: 'bearer' | 'header' | 'basic';
  /** For `header`: the header name to set. */
  header?: string;
  /** For `basic`: the user name (the password is the secret). */
  username?: string;
  from_env?: string;
  from_file?: string;
}

/** A route whose policy reads JSON request bodies (see policy-body.ts). */
export interface PolicyBodyConfig {
  /** Larger bodies are not read; the policy sees `body_status: "too_large"`. */
  max_bytes: number;
  /** Media types read as JSON (lower-case, without parameters). */
  content_types: string[];
  /** A body still arriving after this long is refused with 408. */
  read_timeout_ms: number;
}

/** TLS towards an https upstream: a private CA, a client certificate (mTLS), the name to verify. */
export interface UpstreamTlsConfig {
  /** PEM: the CAs that may sign the upstream's certificate, instead of Node's public roots. */
  ca_file?: string;
  /** PEM: the certificate (chain) the gateway presents when the upstream asks for one. */
  cert_file?: string;
  /** PEM: its key. */
  key_file?: string;
  /** The name the upstream's certificate must carry, when it is not the URL's host. */
  server_name?: string;
}

export interface RouteConfig {
  name: string;
  /**
   * `case_sensitive: false` for an upstream that routes without regard to case (Express, IIS, ...):
   * the prefix then matches `/API/Billing` as `/api/billing`. Absent: true.
   */
  match: { host?: string; path_prefix: string; case_sensitive?: boolean };
  upstream: string;
  credentials: Record<string, CredentialConfig>;
  /** Used when the policy's obligations name none; omit to send no credential. */
  default_credential?: string;
  timeouts: { connect_ms: number; headers_ms: number; body_ms: number };
  body_limit_bytes: number;
  websocket: boolean;
  /** An open WebSocket, or a response still streaming, is decided again at least this often (and on any change it rests on). */
  recheck_seconds: number;
  /** Request headers the policy may see (lower-case); credentials and cookies are never included. */
  policy_headers: string[];
  /**
   * Query keys with `[` or `]` (`ids[]=1`, PHP's and Rails' arrays, which such upstreams read as
   * `ids`): `refuse` (absent) answers 400, `literal` shows the policy the key as written.
   */
  query_brackets?: 'refuse' | 'literal';
  /** Absent: bodies stream to the upstream unread and the policy never sees them. */
  policy_body?: PolicyBodyConfig;
  /** Only for an https upstream; absent: Node's public roots, no client certificate. */
  upstream_tls?: UpstreamTlsConfig;
  /**
   * false: every request gets an upstream connection of its own, closed after its answer. On a
   * reused connection, bytes a broken upstream sends after an answer are read as the answer to
   * the next request on it, which may be another caller's. Absent: true (connections pooled).
   */
  upstream_keep_alive?: boolean;
  /**
   * true: cookies pass between caller and upstream on every request. Absent or false: not on a
   * request the gateway injects a credential into (cookies.ts, cookiesPass).
   */
  upstream_cookies?: boolean;
}

const credentialSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { type: 'string', enum: ['bearer', 'header', 'basic'] },
    header: { type: 'string', pattern: '^[A-Za-z0-9-]+$' },
    username: { type: 'string' },
    from_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
    from_file: { type: 'string', minLength: 1 },
  },
  oneOf: [{ required: ['from_env'] }, { required: ['from_file'] }],
  // A header credential needs the header's name; basic auth needs the user name (the secret is the password).
  allOf: [
    { if: { properties: { type: { const: 'header' } } }, then: { required: ['header'] } },
    { if: { properties: { type: { const: 'basic' } } }, then: { required: ['username'] } },
  ],
};

export const routesConfigSchema: SchemaObject = {
  type: 'array',
  default: [],
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'match', 'upstream'],
    properties: {
      name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' },
      match: {
        type: 'object',
        additionalProperties: false,
        properties: {
          host: { type: 'string', minLength: 1 },
          path_prefix: { type: 'string', pattern: '^/', default: '/' },
          case_sensitive: { type: 'boolean', default: true },
        },
        default: {},
      },
      upstream: { type: 'string', pattern: '^https?://' },
      credentials: { type: 'object', additionalProperties: credentialSchema, default: {} },
      default_credential: { type: 'string' },
      timeouts: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          connect_ms: { type: 'integer', minimum: 1, default: 5000 },
          headers_ms: { type: 'integer', minimum: 1, default: 30000 },
          body_ms: { type: 'integer', minimum: 1, default: 60000 },
        },
      },
      body_limit_bytes: { type: 'integer', minimum: 0, default: 10485760 },
      websocket: { type: 'boolean', default: false },
      upstream_keep_alive: { type: 'boolean', default: true },
      upstream_cookies: { type: 'boolean', default: false },
      recheck_seconds: { type: 'integer', minimum: 1, default: 60 },
      query_brackets: { enum: ['refuse', 'literal'], default: 'refuse' },
      policy_headers: {
        type: 'array',
        items: { type: 'string', pattern: '^[a-z0-9-]+$', not: { enum: ['authorization', 'cookie', 'proxy-authorization', 'x-api-key'] } },
        default: ['content-type', 'accept', 'user-agent', 'x-request-id'],
      },
      upstream_tls: {
        type: 'object',
        additionalProperties: false,
        properties: {
          ca_file: { type: 'string', minLength: 1 },
          cert_file: { type: 'string', minLength: 1 },
          key_file: { type: 'string', minLength: 1 },
          server_name: { type: 'string', minLength: 1 },
        },
        dependencies: { cert_file: ['key_file'], key_file: ['cert_file'] },
      },
      policy_body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          // Bodies are held in memory while the policy decides: 1 MiB at most.
          max_bytes: { type: 'integer', minimum: 1, maximum: 1048576, default: 65536 },
          content_types: {
            type: 'array',
            minItems: 1,
            items: { type: 'string', pattern: '^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$' },
            default: ['application/json'],
          },
          read_timeout_ms: { type: 'integer', minimum: 1, default: 10000 },
        },
      },
    },
  },
};
