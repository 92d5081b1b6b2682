// The OpenAPI 3.1 document, generated from the route table that fastify serves.
import { ERRORS } from '../errors.js';
import type { JsonSchema, RouteDef } from './route.js';
import { errorSchema } from './schemas.js';

export function openapiPath(url: string): string {
  return url.replace(/:([A-Za-z_]+)/g, '{$1}');
}

function parameters(def: RouteDef): JsonSchema[] {
  const out: JsonSchema[] = [];
  const params = def.schema.params as { properties?: Record<string, JsonSchema> } | undefined;
  for (const [name, schema] of Object.entries(params?.properties ?? {})) {
    out.push({ name, in: 'path', required: true, schema });
  }
  const query = def.schema.querystring as { properties?: Record<string, JsonSchema>; required?: string[] } | undefined;
  for (const [name, schema] of Object.entries(query?.properties ?? {})) {
    out.push({ name, in: 'query', required: query?.required?.includes(name) ?? false, schema });
  }
  return out;
}

// Comment-only bodies accept null, so approve/deny/withdraw can be sent without a body.
function bodyMayBeEmpty(schema: JsonSchema): boolean {
  return Array.isArray(schema.type) && schema.type.includes('null');
}

const json = (schema: JsonSchema): JsonSchema => ({ content: { 'application/json': { schema } } });

function responses(def: RouteDef): JsonSchema {
  const success = def.produces
    ? { description: 'OK', content: { [def.produces]: { schema: { type: 'string' } } } }
    : { description: 'OK', ...json(def.schema.response ?? {}) };
  const out: JsonSchema = { [String(def.status)]: success };
  for (const status of def.alsoStatus ?? []) out[String(status)] = { ...success, description: 'Not ready' };
  // Every route, those that take no input too: a head too large (431), one that does not parse
  // (400) or that comes too slowly (408) is refused before any route is known.
  out['4XX'] = { description: 'Client error: see `error.code`', ...json(errorSchema) };
  out['5XX'] = { description: 'Server error or unavailable: see `error.code`', ...json(errorSchema) };
  return out;
}

export function buildOpenApi(routes: readonly RouteDef[], serverUrl?: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const def of routes) {
    const operation: JsonSchema = {
      operationId: def.operationId,
      summary: def.summary,
      ...(def.description ? { description: def.description } : {}),
      tags: [def.tag],
      security: def.auth ? [{ bearer: [] }, { apiKey: [] }, { apiKeyHeader: [] }, { clientCertificate: [] }] : [],
      parameters: parameters(def),
      ...(def.schema.body ? { requestBody: { required: !bodyMayBeEmpty(def.schema.body), ...json(def.schema.body) } } : {}),
      responses: responses(def),
    };
    (paths[openapiPath(def.url)] ??= {})[def.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'http://json-schema.org/draft-07/schema#',
    info: {
      title: 'jitgate control API',
      version: '1',
      description:
        'Just-in-time elevation: request, approve, revoke and inspect time-bound grants. ' +
        'Keep the control address on a private network: health, readiness and metrics are unauthenticated.',
    },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    paths,
    components: {
      // One credential per request, whichever: two are refused (JITGATE_E_IDENTITY_AMBIGUOUS).
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT the identity layer verifies (same as the proxy).' },
        apiKey: { type: 'http', scheme: 'bearer', description: 'A service API key `jg_<id>.<secret>`, sent the same way as a token.' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'The same API key in its own header, instead of `Authorization`.' },
        clientCertificate: { type: 'mutualTLS', description: 'On a listener that asks for client certificates: a workload certificate mapped in `identity.client_certificates`.' },
      },
      schemas: { Error: errorSchema },
    },
    'x-error-codes': Object.values(ERRORS).map((e) => ({ code: e.code, status: e.status, message: e.message })),
  };
}
