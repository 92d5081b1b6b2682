// The control API: its own fastify instance on its own address, separate from the proxy.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AddressInfo } from 'node:net';
import { registerConsole } from '../console/index.js';
import { ERRORS, JitgateError, isJitgateError, jitgateError } from '../errors.js';
import { REQUEST_ID_HEADER, requestId, requestLogging } from '../observability/index.js';
import type { Subject } from '../policy/index.js';
import { clientCertificate, closeDraining, listenerFastify, useClientTimeouts, useTls } from '../tls/index.js';
import { ConnectionErrors } from '../proxy/index.js';
import { errorBody, handleError, validationError } from './http-errors.js';
import { parseJsonBodies } from './json-body.js';
import { buildOpenApi, openapiPath } from './openapi.js';
import type { RouteDef } from './route.js';
import { grantRoutes } from './routes/grants.js';
import { identityRoutes } from './routes/identity.js';
import { operationRoutes } from './routes/operations.js';
import { requestRoutes } from './routes/requests.js';
import { errorSchema } from './schemas.js';
import type { ControlServer, ControlServerOptions } from './types.js';
import { compileValidator } from './validation.js';

// Per-request subjects without decorating FastifyRequest (whose type is shared with the proxy).
const subjects = new WeakMap<FastifyRequest, Subject>();
// Routes without authentication (health, metrics, the document) never read their subject.
const NOBODY: Subject = Object.freeze({ id: '', kind: 'user', groups: [], claims: {} });

function responseSchemas(def: RouteDef): Record<string, unknown> | undefined {
  if (def.produces || !def.schema.response) return undefined;
  const out: Record<string, unknown> = { [String(def.status)]: def.schema.response, '4xx': errorSchema, '5xx': errorSchema };
  for (const status of def.alsoStatus ?? []) out[String(status)] = def.schema.response;
  return out;
}

/** Methods that change something: the ones a page on another site must not make a browser send. */
const CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Whether a browser says the request comes from a page of another site. A browser presents a
 * client certificate to any page's request, as it would a cookie, so a mapped certificate alone
 * would let such a page act. The console is same-origin; the CLI and services send neither header.
 */
function fromAnotherSite(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = request.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== request.headers.host;
  } catch {
    // `Origin: null` (a sandboxed frame, a file page) is no origin of ours.
    return true;
  }
}

const PARTS = ['body', 'querystring', 'params'] as const;

/**
 * A field the workflow or the audit query refuses (`pending_ttl`, `since`) says which part of the
 * call it is in, as the schema's own refusals do: those layers know the field, not the HTTP part
 * (the CLI's `audit query` calls the audit query without one).
 */
function located(err: unknown, def: RouteDef): unknown {
  if (!isJitgateError(err, 'VALIDATION') || err.details === undefined || 'in' in err.details) return err;
  const { field } = err.details;
  const part = PARTS.find((name) => typeof field === 'string' && Object.hasOwn((def.schema[name] as { properties?: object } | undefined)?.properties ?? {}, field));
  if (part === undefined) return err;
  return new JitgateError({ ...ERRORS.VALIDATION, message: err.message }, undefined, { in: part, ...err.details }, { cause: err });
}

function register(app: FastifyInstance, def: RouteDef, authenticate: (req: FastifyRequest) => Promise<Subject>): void {
  const response = responseSchemas(def);
  app.route({
    method: def.method,
    url: def.url,
    schema: {
      ...(def.schema.body ? { body: def.schema.body } : {}),
      ...(def.schema.querystring ? { querystring: def.schema.querystring } : {}),
      ...(def.schema.params ? { params: def.schema.params } : {}),
      ...(response ? { response } : {}),
    },
    // Authenticate before the body is even parsed: an anonymous caller learns nothing about validation.
    ...(def.auth
      ? {
          onRequest: async (request: FastifyRequest) => {
            subjects.set(request, await authenticate(request));
          },
        }
      : {}),
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const subject = subjects.get(request);
      if (def.auth && !subject) throw jitgateError('UNAUTHENTICATED');
      const result = await def.handler({
        subject: subject ?? NOBODY,
        body: request.body as never,
        query: request.query as never,
        params: request.params as never,
        call: { httpRequestId: request.id },
        request,
        reply,
      }).catch((err: unknown) => { throw located(err, def); });
      if (reply.statusCode === 200 && def.status !== 200) void reply.code(def.status);
      return result;
    },
  });
}

export function createControlServer(options: ControlServerOptions): ControlServer {
  const tls = options.tls ?? null;
  const app = listenerFastify({
    // Each request's id (docs/operations.md, "Logs") on its log lines and in its answer.
    ...(options.logger ? requestLogging(options.logger) : { logger: false, genReqId: requestId }),
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    exposeHeadRoutes: false,
    // fastify's own 503 while closing is `{"error":"Service Unavailable",...}`: no code, no request
    // id, not the API's error shape. A request that still arrives on an open connection is served
    // (the store and the audit trail stop after this listener) and its answer closes the connection.
    return503OnClosing: false,
    schemaErrorFormatter: validationError,
    // The router refused any path segment over 100 characters with a bare 400 before authentication,
    // while ids of up to 200 are documented (idParams). Node's head limit bounds a segment; the
    // schema, after authentication, refuses a longer id naming the field.
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: Number.MAX_SAFE_INTEGER },
    // A head Node cannot parse, or one too large, answered in the API's error shape.
    clientErrorHandler: new ConnectionErrors((name) => errorBody(jitgateError(name))).handle,
    // A path that does not decode (`/v1/requests/%zz`) is refused by the router before any hook.
    frameworkErrors(error, request, reply) {
      handleError(jitgateError('BAD_REQUEST', error.code === 'FST_ERR_BAD_URL' ? 'the path is not valid percent-encoding' : undefined), request, reply);
    },
  }, tls, options.clientTimeouts, options.connections);
  // JSON only: a text/plain body would otherwise reach validation as a string.
  app.removeContentTypeParser('text/plain');
  parseJsonBodies(app);
  app.setValidatorCompiler(compileValidator);
  app.setErrorHandler(handleError);
  // Before any route's own hooks, authentication among them: nothing is learned, nothing changes.
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done(CHANGING.has(request.method) && fromAnotherSite(request) ? jitgateError('CROSS_SITE') : undefined);
  });
  app.setNotFoundHandler((request, reply) => {
    handleError(jitgateError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`), request, reply);
  });

  let document: Record<string, unknown> | null = null;
  const routes: RouteDef[] = [
    ...requestRoutes(options.workflow),
    ...grantRoutes(options.workflow),
    ...identityRoutes(options.auditQuery, options.workflow),
  ];
  routes.push(...operationRoutes(options.health, options.metrics, () => (document ??= buildOpenApi(routes))));

  // Before the hook below: the console's pages are not part of the API or its document.
  if (options.console === true) registerConsole(app);
  const registered: { method: string; path: string }[] = [];
  app.addHook('onRoute', (opts) => {
    const methods = Array.isArray(opts.method) ? opts.method : [opts.method];
    for (const method of methods) registered.push({ method: String(method), path: openapiPath(opts.url) });
  });
  const authenticate = (req: FastifyRequest): Promise<Subject> => options.authenticator.authenticate(req.headers, clientCertificate(req.raw.socket));
  for (const def of routes) register(app, def, authenticate);

  let bound: { host: string; port: number } | null = null;
  return {
    async listen(host: string, port: number) {
      await app.listen({ host, port });
      const info = app.server.address() as AddressInfo;
      bound = { host: info.address, port: info.port };
      return bound;
    },
    async close() {
      await closeDraining(app);
    },
    get address() {
      return bound;
    },
    routes: () => [...registered],
    useTls(material) {
      if (tls === null) throw new Error('the control listener was started without TLS');
      return useTls(app, material);
    },
    updateClientTimeouts(timeouts) {
      useClientTimeouts(app, timeouts);
    },
  };
}
