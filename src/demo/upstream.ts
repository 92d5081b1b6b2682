// The demo's upstream API: a small item service that stands for any API put behind
// jitgate. It authenticates the GATEWAY (by the credential the gateway injects), never
// the person calling the gateway, and tells in every answer which credential it was
// served with, so a demo user can watch a grant change what reaches the upstream.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

/** The three upstream secrets the gateway can inject (route `demo`). */
export interface DemoUpstreamKeys {
  /** Sent as `X-Api-Key`: reads only. */
  readonly: string;
  /** Sent as `X-Api-Key`: reads and writes under /api/. */
  writer: string;
  /** Sent as `Authorization: Bearer`: everything, including /admin/. */
  admin: string;
}

export interface DemoUpstreamOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 9001; 0 picks a free port. */
  port?: number;
  keys: DemoUpstreamKeys;
}

/** What the upstream received, kept so tests and the demo can show what got through. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface DemoUpstream {
  /** Base URL, e.g. http://127.0.0.1:9001 */
  url: string;
  /** Every request received, in order, including refused ones. */
  seen: SeenRequest[];
  close(): Promise<void>;
}

export type CredentialName = keyof DemoUpstreamKeys;

/** What a route asks of the credential; higher levels include lower ones. */
type Needs = 'read' | 'write' | 'admin';

const LEVEL: Record<CredentialName, number> = { readonly: 1, writer: 2, admin: 3 };
const NEEDED: Record<Needs, number> = { read: 1, write: 2, admin: 3 };

interface Item {
  id: string;
  name: string;
  quantity: number;
  updated_at: string;
}

/** Reads take any credential, writes under /api/ need writer, anything under /admin/ needs admin. */
function needsOf(method: string, url: string): Needs {
  const path = url.split('?', 1)[0] ?? '';
  if (path === '/admin' || path.startsWith('/admin/')) return 'admin';
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? 'read' : 'write';
}

// Comparing digests keeps the comparison constant-time whatever the lengths.
function sameSecret(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function checkKeys(keys: DemoUpstreamKeys): void {
  const values = [keys.readonly, keys.writer, keys.admin];
  if (values.some((v) => typeof v !== 'string' || v.length === 0)) {
    throw new Error('demo upstream: keys.readonly, keys.writer and keys.admin must be non-empty strings');
  }
  if (new Set(values).size !== values.length) {
    throw new Error('demo upstream: the three keys must differ, or the upstream cannot tell them apart');
  }
}

type Identified = { ok: true; credential: CredentialName } | { ok: false; message: string };

/**
 * Exactly one credential must be presented. Two at once means something (the gateway)
 * forwarded more than it should, which is refused rather than guessed at.
 */
export function identifyCredential(headers: IncomingHttpHeaders, keys: DemoUpstreamKeys): Identified {
  const apiKey = headers['x-api-key'];
  const authorization = headers.authorization;
  if (apiKey !== undefined && authorization !== undefined) {
    return { ok: false, message: 'present exactly one credential, not both X-Api-Key and Authorization' };
  }
  if (typeof apiKey === 'string') {
    if (sameSecret(apiKey, keys.readonly)) return { ok: true, credential: 'readonly' };
    if (sameSecret(apiKey, keys.writer)) return { ok: true, credential: 'writer' };
    return { ok: false, message: 'the X-Api-Key is not valid' };
  }
  if (typeof authorization === 'string') {
    const match = /^Bearer ([^\s]+)$/i.exec(authorization);
    if (match?.[1] !== undefined && sameSecret(match[1], keys.admin)) return { ok: true, credential: 'admin' };
    return { ok: false, message: 'the bearer token is not valid' };
  }
  return { ok: false, message: 'a credential is required (X-Api-Key or Authorization: Bearer)' };
}

function seedItems(): Map<string, Item> {
  const at = new Date().toISOString();
  const items: Item[] = [
    { id: '1', name: 'widget', quantity: 12, updated_at: at },
    { id: '2', name: 'gadget', quantity: 3, updated_at: at },
    { id: '3', name: 'sprocket', quantity: 40, updated_at: at },
  ];
  return new Map(items.map((item) => [item.id, item]));
}

const itemBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    quantity: { type: 'integer', minimum: 0, default: 0 },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[0-9]{1,12}$' } },
} as const;

interface RefundBody {
  order: string;
  amount: number;
}

// The upstream checks the shape only; how much a caller may refund is the policy's business.
const refundBody = {
  type: 'object',
  additionalProperties: false,
  required: ['order', 'amount'],
  properties: {
    order: { type: 'string', minLength: 1, maxLength: 64 },
    amount: { type: 'number', exclusiveMinimum: 0 },
  },
} as const;

interface ItemBody {
  name: string;
  quantity: number;
}

export async function startDemoUpstream(options: DemoUpstreamOptions): Promise<DemoUpstream> {
  checkKeys(options.keys);
  const keys = { ...options.keys };
  const seen: SeenRequest[] = [];
  const items = seedItems();
  let nextId = items.size + 1;

  const app = Fastify({ logger: false });
  // Which credential each request came with, set once it is authenticated.
  const credentials = new WeakMap<FastifyRequest, CredentialName>();

  // Recorded before anything can refuse the request, so refused requests are seen too.
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    seen.push({ method: request.method, url: request.url, headers: { ...request.headers } });
    const who = identifyCredential(request.headers, keys);
    if (!who.ok) {
      return reply.code(401).send({ error: 'unauthorized', message: who.message });
    }
    credentials.set(request, who.credential);
    const needs = needsOf(request.method, request.url);
    if (LEVEL[who.credential] < NEEDED[needs]) {
      return reply.code(403).send({
        error: 'forbidden',
        message: `this operation needs the ${needs === 'write' ? 'writer' : 'admin'} credential`,
        served_with: who.credential,
      });
    }
    return undefined;
  });

  const servedWith = (request: FastifyRequest): CredentialName | null => credentials.get(request) ?? null;
  const notFound = (request: FastifyRequest, reply: FastifyReply, id: string) =>
    reply.code(404).send({ error: 'not_found', message: `no item ${id}`, served_with: servedWith(request) });

  app.get('/api/items', (request) => ({
    items: [...items.values()],
    served_with: servedWith(request),
  }));

  app.get<{ Params: { id: string } }>('/api/items/:id', { schema: { params: idParams } }, (request, reply) => {
    const item = items.get(request.params.id);
    if (item === undefined) return notFound(request, reply, request.params.id);
    return { item, served_with: servedWith(request) };
  });

  app.post<{ Body: ItemBody }>('/api/items', { schema: { body: itemBody } }, (request, reply) => {
    const item: Item = {
      id: String(nextId++),
      name: request.body.name,
      quantity: request.body.quantity,
      updated_at: new Date().toISOString(),
    };
    items.set(item.id, item);
    return reply.code(201).send({ item, served_with: servedWith(request) });
  });

  app.put<{ Params: { id: string }; Body: ItemBody }>(
    '/api/items/:id',
    { schema: { params: idParams, body: itemBody } },
    (request, reply) => {
      if (!items.has(request.params.id)) return notFound(request, reply, request.params.id);
      const item: Item = {
        id: request.params.id,
        name: request.body.name,
        quantity: request.body.quantity,
        updated_at: new Date().toISOString(),
      };
      items.set(item.id, item);
      return { item, served_with: servedWith(request) };
    },
  );

  app.delete<{ Params: { id: string } }>('/api/items/:id', { schema: { params: idParams } }, (request, reply) => {
    if (!items.delete(request.params.id)) return notFound(request, reply, request.params.id);
    return { deleted: request.params.id, served_with: servedWith(request) };
  });

  let nextRefund = 1;
  app.post<{ Body: RefundBody }>('/api/refunds', { schema: { body: refundBody } }, (request, reply) => {
    const refund = { id: `rf-${String(nextRefund++)}`, order: request.body.order, amount: request.body.amount, at: new Date().toISOString() };
    return reply.code(201).send({ refund, served_with: servedWith(request) });
  });

  app.get('/api/reports/daily', (request) => {
    const all = [...items.values()];
    return {
      report: 'daily',
      date: new Date().toISOString().slice(0, 10),
      item_count: all.length,
      total_quantity: all.reduce((sum, item) => sum + item.quantity, 0),
      served_with: servedWith(request),
    };
  });

  app.get('/admin/users', (request) => ({
    users: [
      { id: 'alice', groups: ['eng'] },
      { id: 'bob', groups: ['eng', 'approvers'] },
      { id: 'carol', groups: ['eng', 'approvers'] },
      { id: 'dave', groups: ['admins', 'approvers'] },
      { id: 'erin', groups: ['eng'] },
    ],
    served_with: servedWith(request),
  }));

  // Stands for a dangerous operation; the demo's keys stay as they are.
  app.post('/admin/rotate-keys', (request) => ({
    rotation: 'scheduled',
    at: new Date().toISOString(),
    served_with: servedWith(request),
  }));

  const address = await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 9001 });
  return {
    url: address,
    seen,
    close: () => app.close(),
  };
}
