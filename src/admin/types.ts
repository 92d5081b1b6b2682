// What the control server needs from the other parts. They are injected, so the server
// holds no state of its own and tests run it against the real workflow and identity layer.
import type { FastifyBaseLogger } from 'fastify';
import type { AuditFilter, AuditPage } from '../audit/index.js';
import type { Workflow } from '../grants/index.js';
import type { Authenticator } from '../identity/index.js';
import type { HealthReport } from '../observability/index.js';
import type { ClientTimeouts, ConnectionLimit, TlsMaterial } from '../tls/index.js';

export type { HealthReport };

/** Filters of GET /v1/audit, passed on as given (already validated). */
export type AuditQueryFilter = AuditFilter;
export type AuditQueryPage = AuditPage;

/** Reads the audit trail: the audit part's queryAudit bound to its store. */
export type AuditQuery = (filter: AuditQueryFilter) => Promise<AuditQueryPage>;

/** The observability part's HealthRegistry. Liveness: the process works; readiness: it can serve (policy loaded, store up). */
export interface HealthSource {
  liveness(): HealthReport | Promise<HealthReport>;
  readiness(): HealthReport | Promise<HealthReport>;
}

export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

export interface ControlServerOptions {
  workflow: Workflow;
  authenticator: Authenticator;
  auditQuery: AuditQuery;
  health: HealthSource;
  metrics: MetricsSource;
  logger?: FastifyBaseLogger;
  /** Largest accepted request body in bytes. */
  bodyLimit?: number;
  /** Serve the web console at /console/ (default false). */
  console?: boolean;
  /** Serve HTTPS with this certificate (plain HTTP without). */
  tls?: TlsMaterial | null;
  /** How long callers may take to send a request (default CLIENT_TIMEOUT_DEFAULTS). */
  clientTimeouts?: ClientTimeouts;
  /** Connections open at once, and who hears of one turned away (default: no cap). */
  connections?: ConnectionLimit;
}

export interface ControlServer {
  /** Resolves with the bound address (port 0 picks a free port). */
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
  readonly address: { host: string; port: number } | null;
  /** Method + OpenAPI path of every registered route, for checks against the OpenAPI document. */
  routes(): { method: string; path: string }[];
  /**
   * Swaps the certificate new connections get (a server started with TLS only), and ends the open
   * connections whose client certificate the new revocation lists name; returns how many.
   */
  useTls(tls: TlsMaterial): number;
  /** Replaces how long callers may take (config reload), for requests under way too (from the next check of their limits). */
  updateClientTimeouts(timeouts: ClientTimeouts): void;
}
