// What a Prometheus scrape of /metrics shows.
import t from 'tap';
import { Counter, Histogram, Registry, type Metric } from 'prom-client';
import { createMetrics } from '../../src/observability/index.js';
import { LabelledCounter, LabelledHistogram } from '../../src/observability/series.js';

t.test('series the operator dashboards rely on', async (t) => {
  const m = createMetrics();
  let active = 3;
  m.setGauges(() => ({ activeGrants: active, pendingRequests: 2 }));
  m.proxyRequest('orders', 'allow', 200);
  m.proxyRequest('orders', 'allow', 200);
  m.proxyRequest('orders', 'deny', 403);
  m.decisionLatency('jitgate/authz', 0.0003);
  m.decisionMemoHit('jitgate/authz');
  m.decisionMemoHit('jitgate/authz');
  m.upstreamLatency('orders', 0.02);
  m.policyReload('success');
  m.policyReload('failure');
  m.policyRevision('rev-1');
  m.policyRevision('rev-2');
  m.decisionLogDropped(4);
  m.webhookDropped(1);
  m.storeError('grants.read');

  const text = await m.render();
  t.match(m.contentType, /^text\/plain; version=0\.0\.4/);
  t.match(text, /jitgate_proxy_requests_total\{route="orders",decision="allow",status="200"\} 2/);
  t.match(text, /jitgate_proxy_requests_total\{route="orders",decision="deny",status="403"\} 1/);
  t.match(text, /jitgate_decision_duration_seconds_bucket\{le="0\.0005",entrypoint="jitgate\/authz"\} 1/);
  t.match(text, /jitgate_decision_memo_hits_total\{entrypoint="jitgate\/authz"\} 2/);
  t.match(text, /jitgate_upstream_duration_seconds_count\{route="orders"\} 1/);
  t.match(text, /jitgate_policy_reloads_total\{outcome="success"\} 1/);
  t.match(text, /jitgate_policy_reloads_total\{outcome="failure"\} 1/);
  t.match(text, /jitgate_policy_revision_info\{revision="rev-2"\} 1/);
  t.notMatch(text, /revision="rev-1"/, 'only the active revision');
  t.match(text, /jitgate_decision_log_dropped_total 4/);
  t.match(text, /jitgate_webhook_dropped_total 1/);
  t.match(text, /jitgate_store_errors_total\{operation="grants.read"\} 1/);
  t.match(text, /jitgate_active_grants 3/);
  t.match(text, /jitgate_pending_requests 2/);
  t.match(text, /jitgate_process_cpu_seconds_total/, 'process metrics, prefixed');
  active = 5;
  t.match(await m.render(), /jitgate_active_grants 5/, 'gauges sampled on each scrape');
});

t.test('the store error series exist at 0 from the start, so increase() sees the first failure', async (t) => {
  const m = createMetrics({ defaultMetrics: false });
  const fresh = await m.render();
  t.match(fresh, /jitgate_store_errors_total\{operation="audit\.append"\} 0/, 'audit.append at 0 before any failure');
  t.match(fresh, /jitgate_store_errors_total\{operation="audit\.checkpoint"\} 0/, 'audit.checkpoint at 0 before any failure');
  m.storeError('audit.checkpoint');
  t.match(await m.render(), /jitgate_store_errors_total\{operation="audit\.checkpoint"\} 1/, 'and counted from there');
});

t.test('two instances do not share series', async (t) => {
  const a = createMetrics({ defaultMetrics: false });
  const b = createMetrics({ defaultMetrics: false });
  a.webhookDropped(7);
  t.match(await b.render(), /jitgate_webhook_dropped_total 0/);
});

t.test('the data-path series render exactly as prom-client\'s own counter and histogram would', async (t) => {
  const buckets = [0.001, 0.01, 0.1];
  const ours = new Registry();
  const theirs = new Registry();
  const counter = new LabelledCounter('c_total', 'a counter', ['route', 'status']);
  const histogram = new LabelledHistogram('h_seconds', 'a histogram', ['route'], buckets);
  ours.registerMetric(counter as unknown as Metric);
  ours.registerMetric(histogram as unknown as Metric);
  const refCounter = new Counter({ name: 'c_total', help: 'a counter', labelNames: ['route', 'status'], registers: [theirs] });
  const refHistogram = new Histogram({ name: 'h_seconds', help: 'a histogram', labelNames: ['route'], buckets, registers: [theirs] });
  // Label values that need escaping, that would collide if joined naively, and values on,
  // between and beyond the bucket bounds.
  const routes = ['orders', 'a"b\\c\nd', 'x\u0000y', 'x', 'y'];
  const values = [0, 0.0005, 0.001, 0.005, 0.01, 0.1, 0.5, 7];
  routes.forEach((route, i) => {
    for (let k = 0; k <= i; k++) {
      counter.inc(route, String(200 + k));
      refCounter.inc({ route, status: String(200 + k) });
    }
    for (const v of values.slice(i)) {
      histogram.observe(v, route);
      refHistogram.observe({ route }, v);
    }
  });
  t.equal(await ours.metrics(), await theirs.metrics(), 'text exposition');
  // JSON: the same content; key order within an object does not matter to a reader.
  const sorted = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));
  t.equal(sorted(await ours.getMetricsAsJSON()), sorted(await theirs.getMetricsAsJSON()), 'JSON');
});
