import type { AdminConfig } from '../admin/index.js';
import type { AuditConfig, DecisionLogsConfig, ServiceConfig } from '../audit/index.js';
import type { GrantsConfig } from '../grants/index.js';
import type { IdentityConfig } from '../identity/index.js';
import type { NotifyConfig } from '../notify/index.js';
import type { ObservabilityConfig } from '../observability/index.js';
import type { BundleSigning, PolicyConfig, VerificationKey } from '../policy/index.js';
import type { CallerTimeouts, RouteConfig, TrustedProxyHeader } from '../proxy/index.js';
import type { StoreConfig } from '../store/index.js';
import type { TlsFiles } from '../tls/index.js';

/** One entry of OPA's `services` block. */
export type OpaService = ServiceConfig;

/** One entry of OPA's `bundles` block: a bundle pulled from a bundle server. */
export interface OpaBundle {
  service: string;
  resource: string;
  polling: { min_delay_seconds: number; max_delay_seconds: number; long_polling_timeout_seconds?: number };
  size_limit_bytes: number;
  /** Verify the bundle's signature with `keys` (a signed bundle without it is refused, as in OPA). */
  signing?: BundleSigning;
}

/** The validated configuration, defaults applied and relative paths resolved against the config file. */
export interface GatewayConfig {
  /** Absolute path of the file this came from (null when built in code). */
  source: string | null;
  labels: Record<string, string>;
  services: Record<string, OpaService>;
  /** At most one: jitgate serves one bundle holding both entrypoints. */
  bundles: Record<string, OpaBundle>;
  /** OPA's `keys`: public keys (or HMAC secrets) that verify bundle signatures, private ones that sign client assertions. */
  keys: Record<string, VerificationKey>;
  decision_logs: DecisionLogsConfig;
  jitgate: {
    data_dir: string;
    listen: {
      proxy: string;
      control: string;
      trusted_proxies: string[];
      trusted_proxy_header: TrustedProxyHeader;
      tls?: { proxy?: TlsFiles; control?: TlsFiles };
      client_timeouts: CallerTimeouts;
      max_connections: { proxy: number; control: number };
      policy_body_budget_bytes: number;
      policy_body_budget_per_caller_bytes?: number;
    };
    control: AdminConfig;
    policy: PolicyConfig;
    store: StoreConfig;
    identity: IdentityConfig;
    routes: RouteConfig[];
    workflow: GrantsConfig;
    notifications: NotifyConfig;
    audit: AuditConfig;
    observability: ObservabilityConfig;
  };
}
