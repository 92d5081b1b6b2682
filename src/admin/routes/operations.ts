// Unauthenticated operator endpoints. They reveal readiness details and metrics, which is
// why the control address belongs on a private network (docs/api.md).
import { route, type RouteDef } from '../route.js';
import { healthSchema } from '../schemas.js';
import type { HealthReport, HealthSource, MetricsSource } from '../types.js';

export function operationRoutes(health: HealthSource, metrics: MetricsSource, openapi: () => unknown): RouteDef[] {
  return [
    healthRoute('/healthz', 'healthz', 'Liveness: 200 while the process works', () => health.liveness()),
    healthRoute('/readyz', 'readyz', 'Readiness: 200 when every check passes (store, audit_trail, policy, grant_cache, identity), else 503 (and, once the gateway is stopping, a failing shutdown check); a check that passes in trouble says status degraded', () => health.readiness()),
    route({
      method: 'GET',
      url: '/metrics',
      operationId: 'metrics',
      summary: 'Prometheus metrics (text exposition format)',
      tag: 'operations',
      auth: false,
      status: 200,
      produces: 'text/plain',
      schema: {},
      async handler({ reply }) {
        const text = await metrics.render();
        void reply.type(metrics.contentType);
        return text;
      },
    }),
    route({
      method: 'GET',
      url: '/v1/openapi.json',
      operationId: 'openapi',
      summary: 'This API, as an OpenAPI 3.1 document',
      tag: 'operations',
      auth: false,
      status: 200,
      schema: {},
      handler: () => Promise.resolve(openapi()),
    }),
  ];
}

/** A probe answers 503 when it fails, so load balancers and kubelets need not parse the body. */
function healthRoute(url: string, operationId: string, summary: string, check: () => HealthReport | Promise<HealthReport>): RouteDef {
  return route({
    method: 'GET',
    url,
    operationId,
    summary,
    tag: 'operations',
    auth: false,
    status: 200,
    alsoStatus: [503],
    schema: { response: healthSchema },
    async handler({ reply }) {
      const report = await check();
      void reply.code(report.ok ? 200 : 503);
      return report;
    },
  });
}
