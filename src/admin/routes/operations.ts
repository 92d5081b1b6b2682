// Unauthenticated operator endpoints. They reveal readiness details and metrics, which is
// why the control address belongs on a private network (docs/api.md).
import { route, type RouteDef } from '../route.js';
import { healthSchema } from '../schemas.js';
import type { HealthSource, MetricsSource } from '../types.js';

export function operationRoutes(health: HealthSource, metrics: MetricsSource, openapi: () => unknown): RouteDef[] {
  return [
    route({
      method: 'GET',
      url: '/healthz',
      operationId: 'healthz',
      summary: 'Liveness: 200 while the process works',
      tag: 'operations',
      auth: false,
      status: 200,
      alsoStatus: [503],
      schema: { response: healthSchema },
      async handler({ reply }) {
        const report = await health.liveness();
        void reply.code(report.ok ? 200 : 503);
        return report;
      },
    }),
    route({
      method: 'GET',
      url: '/readyz',
      operationId: 'readyz',
      summary: 'Readiness: 200 when a policy is loaded and the store answers, else 503',
      tag: 'operations',
      auth: false,
      status: 200,
      alsoStatus: [503],
      schema: { response: healthSchema },
      async handler({ reply }) {
        const report = await health.readiness();
        void reply.code(report.ok ? 200 : 503);
        return report;
      },
    }),
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
