// One table of routes drives both fastify and the OpenAPI document, so the document
// describes exactly what is served.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ControlCall } from '../grants/index.js';
import type { Subject } from '../policy/index.js';

export type JsonSchema = Record<string, unknown>;

/** Params of the routes under `/:id` (schema: idParams). */
export interface IdParams { id: string }

export interface RouteContext<Body = unknown, Query = unknown, Params = unknown> {
  /** The authenticated caller; routes with `auth: false` never read it. */
  subject: Subject;
  body: Body;
  query: Query;
  params: Params;
  /** This call, for the audit records of what it makes the workflow do (its request id). */
  call: ControlCall;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface RouteDef {
  method: 'GET' | 'POST';
  /** fastify syntax (`:id`); the OpenAPI document shows `{id}`. */
  url: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: 'requests' | 'grants' | 'identity' | 'audit' | 'operations';
  /** false only for health, readiness, metrics and the document itself. */
  auth: boolean;
  status: number;
  schema: {
    body?: JsonSchema;
    querystring?: JsonSchema;
    params?: JsonSchema;
    /** Success response schema; error responses are added for every route. */
    response?: JsonSchema;
  };
  /** Further statuses answered with the success schema (readiness answers 503 with the same report). */
  alsoStatus?: number[];
  /** Non-JSON responses (metrics) describe their media type here. */
  produces?: string;
  // Handlers receive input already validated against `schema`; each route narrows the types.
  handler(ctx: RouteContext<never, never, never>): Promise<unknown>;
}

/** Keeps each route's handler typed against its own body/query/params. */
export function route<Body = unknown, Query = unknown, Params = unknown>(
  def: Omit<RouteDef, 'handler'> & { handler(ctx: RouteContext<Body, Query, Params>): Promise<unknown> },
): RouteDef {
  return def;
}
