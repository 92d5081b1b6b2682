// Prometheus metrics in a registry of our own (not prom-client's global one), so two
// gateways in one process (tests) never collide and /metrics shows only jitgate's series.
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { LabelledCounter, LabelledHistogram } from './series.js';
import type { GaugeSample, KeyRefreshSample, Metrics } from './types.js';

export interface PrometheusMetrics extends Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** The exposition text for GET /metrics. */
  render(): Promise<string>;
  /** A log line stdout did not take in time (createLogger's onDrop). */
  logDropped(): void;
  /** A refresh of a token issuer's keys (JWKS) that failed; the keys held keep serving. */
  keyRefreshFailed(issuer: string): void;
  /** Sampled on scrape: the token issuers whose keys are refreshed, and when each last succeeded. */
  setKeyRefreshes(sample: () => readonly KeyRefreshSample[]): void;
}

/** Decision latency is sub-millisecond when healthy; upstream latency is network-bound. */
const DECISION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];
const UPSTREAM_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * A counter by one label whose every value is exported from the start, at 0, so rate() and
 * alerts work before the first event (a first failure, a first dropped connection).
 */
function countedFromZero<L extends string>(name: string, help: string, label: L, values: readonly string[], registry: Registry): Counter<L> {
  const counter = new Counter<L>({ name, help, labelNames: [label], registers: [registry] });
  for (const value of values) counter.inc({ [label]: value } as Partial<Record<L, string>>, 0);
  return counter;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): PrometheusMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'jitgate_' });
  const registers = [registry];

  // The three updated on every proxied request are our own plain-number series (series.ts).
  const requests = new LabelledCounter('jitgate_proxy_requests_total', 'Proxied requests by route, decision and response status', ['route', 'decision', 'status']);
  const decisionLatency = new LabelledHistogram('jitgate_decision_duration_seconds', 'Policy evaluation time by entrypoint', ['entrypoint'], DECISION_BUCKETS);
  const upstreamLatency = new LabelledHistogram('jitgate_upstream_duration_seconds', 'Time to the upstream response headers, by route', ['route'], UPSTREAM_BUCKETS);
  // Updated on every proxied request while a shadow policy is configured.
  const shadowDecisions = new LabelledCounter('jitgate_shadow_decisions_total', 'Decisions of the shadow policy by how they differ from the live ones', ['change']);
  // Beside the evaluations the histogram counts: the two together are every decision.
  const memoHits = new LabelledCounter('jitgate_decision_memo_hits_total', 'Decisions answered by the decision memo (the same input in the same millisecond), by entrypoint', ['entrypoint']);
  for (const metric of [requests, decisionLatency, upstreamLatency, shadowDecisions, memoHits]) registry.registerMetric(metric as unknown as Metric);
  const reloads = countedFromZero('jitgate_policy_reloads_total', 'Policy reloads by outcome', 'outcome', ['success', 'failure'], registry);
  const revision = new Gauge({
    name: 'jitgate_policy_revision_info',
    help: 'The active policy bundle revision (value 1)',
    labelNames: ['revision'] as const,
    registers,
  });
  const decisionLogDrops = new Counter({ name: 'jitgate_decision_log_dropped_total', help: 'Decision log events dropped', registers });
  const webhookDrops = new Counter({ name: 'jitgate_webhook_dropped_total', help: 'Webhook notifications dropped', registers });
  const logDrops = new Counter({ name: 'jitgate_log_dropped_total', help: 'Log lines dropped because stdout did not take them (a stalled log reader)', registers });
  const policyBodyRefusals = new Counter({ name: 'jitgate_policy_body_refused_total', help: 'Requests refused because the bodies held for the policy filled their budget', registers });
  const connectionDrops = countedFromZero('jitgate_connections_dropped_total',
    'Connections closed as accepted because the listener had max_connections open, by listener', 'listener', ['proxy', 'control'], registry);
  // The operations the audit trail reports (AuditHooks.onStoreError): each at 0 from the start, so
  // the alert on increase() fires on the first failure, not only from the second one on.
  const storeErrors = countedFromZero('jitgate_store_errors_total', 'Store operations that failed, by operation', 'operation', ['audit.append', 'audit.checkpoint'], registry);

  // By issuer: the issuers are the current settings' (sampled on scrape), so a reload that drops
  // one drops its gauge, which would otherwise age until its alert fired. The counter keeps an
  // issuer's series for the process's life, as counters do, and starts each at 0 when its issuer
  // is first seen, so increase() works from the first failure.
  let keyRefreshes: (() => readonly KeyRefreshSample[]) | null = null;
  const keyRefreshFailures = new Counter({
    name: 'jitgate_jwks_refresh_failures_total',
    help: 'Refreshes of a token issuer\'s keys (discovery and JWKS) that failed, by issuer; the keys held keep serving',
    labelNames: ['issuer'] as const,
    registers,
    collect() {
      for (const { issuer } of keyRefreshes?.() ?? []) this.inc({ issuer }, 0);
    },
  });
  new Gauge({
    name: 'jitgate_jwks_last_success_timestamp_seconds',
    help: 'When a refresh of the token issuer\'s keys last succeeded (Unix time; 0: never), by issuer',
    labelNames: ['issuer'] as const,
    registers,
    collect() {
      this.reset();
      for (const { issuer, lastSuccessMs } of keyRefreshes?.() ?? []) this.set({ issuer }, lastSuccessMs === null ? 0 : lastSuccessMs / 1000);
    },
  });

  let sampler: (() => GaugeSample) | null = null;
  let sample: GaugeSample | null = null;
  // Both gauges come from one sample per scrape; whichever collects first takes it.
  const sampledGauge = (name: string, help: string, pick: (s: GaugeSample) => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        sample ??= sampler ? sampler() : null;
        if (sample) this.set(pick(sample));
      },
    });
  };
  sampledGauge('jitgate_active_grants', 'Grants active now', (s) => s.activeGrants);
  sampledGauge('jitgate_pending_requests', 'Elevation requests waiting for approval', (s) => s.pendingRequests);

  return {
    registry,
    contentType: registry.contentType,
    async render() {
      sample = null;
      try {
        return await registry.metrics();
      } finally {
        sample = null;
      }
    },
    proxyRequest(route, decision, status) {
      requests.inc(route, decision, String(status));
    },
    decisionLatency(entrypoint, seconds) {
      decisionLatency.observe(seconds, entrypoint);
    },
    decisionMemoHit(entrypoint) {
      memoHits.inc(entrypoint);
    },
    upstreamLatency(route, seconds) {
      upstreamLatency.observe(seconds, route);
    },
    policyReload(outcome) {
      reloads.inc({ outcome });
    },
    policyRevision(rev) {
      revision.reset();
      revision.set({ revision: rev }, 1);
    },
    decisionLogDropped(count) {
      decisionLogDrops.inc(count);
    },
    webhookDropped(count) {
      webhookDrops.inc(count);
    },
    logDropped() {
      logDrops.inc();
    },
    keyRefreshFailed(issuer) {
      keyRefreshFailures.inc({ issuer });
    },
    setKeyRefreshes(fn) {
      keyRefreshes = fn;
    },
    storeError(operation) {
      storeErrors.inc({ operation });
    },
    policyBodyRefused() {
      policyBodyRefusals.inc();
    },
    connectionDropped(listener) {
      connectionDrops.inc({ listener });
    },
    shadowDecision(change) {
      shadowDecisions.inc(change);
    },
    setGauges(fn) {
      sampler = fn;
    },
  };
}
