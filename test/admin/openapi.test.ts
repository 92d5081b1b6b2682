// The OpenAPI document describes exactly the routes fastify serves, and real answers
// (successes and errors) validate against the schemas it documents.
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import t from 'tap';
import { api, startStack, type Answer } from './stack.js';

const addFormats = ((addFormatsModule as any).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;
const stack = await startStack();
t.teardown(() => stack.close());
const docAnswer = await api(stack.base, 'GET', '/v1/openapi.json');
const doc = docAnswer.body;

t.test('the document is served without authentication and is OpenAPI 3.1', (t) => {
  t.equal(docAnswer.status, 200);
  t.equal(doc.openapi, '3.1.0');
  const ids: string[] = Object.values<Record<string, { operationId: string }>>(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.operationId));
  t.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  for (const [path, ops] of Object.entries<any>(doc.paths)) {
    const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const op of Object.values<any>(ops)) {
      const declared = (op.parameters as { in: string; name: string }[]).filter((p) => p.in === 'path').map((p) => p.name);
      t.same(declared, names, `path parameters of ${path} are declared`);
    }
  }
  t.end();
});

t.test('documented paths and methods are exactly the registered routes', (t) => {
  const documented = Object.entries<Record<string, unknown>>(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
  const served = stack.server.routes().map((r) => `${r.method} ${r.path}`).sort();
  t.same(documented, served);
  for (const must of ['POST /v1/requests', 'GET /v1/requests/{id}', 'POST /v1/grants/{id}/review', 'GET /v1/audit', 'GET /readyz', 'GET /metrics']) {
    t.ok(served.includes(must), must);
  }
  t.end();
});

t.test('real answers validate against the documented schemas', async (t) => {
  const ajv = new Ajv({ strict: false, allowUnionTypes: true });
  addFormats(ajv);
  const check = (method: string, template: string, answer: Answer): void => {
    const responses = doc.paths[template]?.[method.toLowerCase()]?.responses;
    t.ok(responses, `${method} ${template} is documented`);
    const entry = responses?.[String(answer.status)] ?? responses?.[`${String(answer.status)[0]}XX`];
    t.ok(entry, `${method} ${template} documents status ${answer.status}`);
    const schema = entry?.content?.['application/json']?.schema;
    if (!schema) return;
    const valid = ajv.validate(schema, answer.body);
    t.ok(valid, `${method} ${template} ${answer.status}: ${ajv.errorsText(ajv.errors)}`);
  };
  const alice = await stack.token('alice');
  const bob = await stack.token('bob');
  const dave = await stack.token('dave');

  const created = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: '30m', reason: 'docs', scope: { methods: ['POST'] } } });
  check('POST', '/v1/requests', created);
  check('GET', '/v1/requests', await api(stack.base, 'GET', '/v1/requests', { token: alice }));
  check('GET', '/v1/requests/{id}', await api(stack.base, 'GET', `/v1/requests/${created.body.id}`, { token: alice }));
  const approved = await api(stack.base, 'POST', `/v1/requests/${created.body.id}/approve`, { token: bob, body: { comment: 'fine' } });
  check('POST', '/v1/requests/{id}/approve', approved);
  check('GET', '/v1/grants', await api(stack.base, 'GET', '/v1/grants?active=true', { token: alice }));
  check('GET', '/v1/grants/{id}', await api(stack.base, 'GET', `/v1/grants/${approved.body.grant_id}`, { token: alice }));
  check('POST', '/v1/grants/{id}/revoke', await api(stack.base, 'POST', `/v1/grants/${approved.body.grant_id}/revoke`, { token: alice }));
  const second = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: 60, reason: 'docs 2' } });
  check('POST', '/v1/requests/{id}/deny', await api(stack.base, 'POST', `/v1/requests/${second.body.id}/deny`, { token: bob }));
  const third = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: 60, reason: 'docs 3' } });
  check('POST', '/v1/requests/{id}/withdraw', await api(stack.base, 'POST', `/v1/requests/${third.body.id}/withdraw`, { token: alice }));
  const bg = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'breakglass', duration: '5m', reason: 'outage INC-1 in prod' } });
  check('POST', '/v1/grants/{id}/review', await api(stack.base, 'POST', `/v1/grants/${bg.body.grant_id}/review`, { token: dave }));
  check('GET', '/v1/whoami', await api(stack.base, 'GET', '/v1/whoami', { token: alice }));
  check('GET', '/v1/audit', await api(stack.base, 'GET', '/v1/audit', { token: dave }));
  check('GET', '/healthz', await api(stack.base, 'GET', '/healthz'));
  check('GET', '/readyz', await api(stack.base, 'GET', '/readyz'));
  // errors
  check('POST', '/v1/requests', await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer' } }));
  check('POST', '/v1/requests', await api(stack.base, 'POST', '/v1/requests', { body: {} }));
  check('GET', '/v1/audit', await api(stack.base, 'GET', '/v1/audit', { token: alice }));
  check('GET', '/v1/grants/{id}', await api(stack.base, 'GET', '/v1/grants/missing', { token: alice }));
  check('POST', '/v1/requests/{id}/approve', await api(stack.base, 'POST', `/v1/requests/${created.body.id}/approve`, { token: dave }));
  // and the documented example error
  t.ok(ajv.validate(doc.components.schemas.Error, doc.components.schemas.Error.example), 'the error example validates');
});

t.test('responses never carry undocumented fields', async (t) => {
  const alice = await stack.token('alice');
  const created = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: '30m', reason: 'fields' } });
  const documented = Object.keys(doc.paths['/v1/requests'].post.responses['201'].content['application/json'].schema.properties).sort();
  t.same(Object.keys(created.body).sort(), documented);
});

t.test('a refusal any route can answer is documented on every route, the operator endpoints too', async (t) => {
  const ajv = new Ajv({ strict: false, allowUnionTypes: true });
  for (const [path, ops] of Object.entries<Record<string, { responses: Record<string, any> }>>(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const res = await fetch(`${stack.base}${path.replace('{id}', 'x')}`, { method: method.toUpperCase(), headers: { 'x-pad': 'a'.repeat(20_000) } });
      t.equal(res.status, 431, `${method.toUpperCase()} ${path} with a head too large`);
      const entry = op.responses['431'] ?? op.responses['4XX'];
      t.ok(entry, `${method.toUpperCase()} ${path} documents it`);
      t.ok(entry && ajv.validate(entry.content['application/json'].schema, await res.json()), 'in the documented error shape');
    }
  }
});

t.test('the security schemes name every way the API takes a credential', async (t) => {
  const schemes = doc.components.securitySchemes as Record<string, { type: string; in?: string; name?: string; scheme?: string }>;
  const header = Object.entries(schemes).find(([, s]) => s.type === 'apiKey' && s.in === 'header' && s.name?.toLowerCase() === 'x-api-key');
  t.ok(header, 'an API key in X-Api-Key');
  t.ok(Object.values(schemes).some((s) => s.type === 'http' && s.scheme === 'bearer'), 'a bearer token');
  t.ok(Object.values(schemes).some((s) => s.type === 'mutualTLS'), 'a client certificate');
  t.same(doc.paths['/v1/whoami'].get.security.map((s: Record<string, unknown>) => Object.keys(s)[0]).sort(), Object.keys(schemes).sort(), 'each is accepted by the API\'s operations');
  const viaHeader = await api(stack.base, 'GET', '/v1/whoami', { headers: { 'x-api-key': stack.apiKey } });
  t.equal(viaHeader.body.id, 'svc-reporting', 'and the X-Api-Key header does authenticate');
});

t.test('a requester denying their own request gets the code the deny operation documents', async (t) => {
  const alice = await stack.token('alice');
  const created = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: 60, reason: 'deny my own' } });
  const denied = await api(stack.base, 'POST', `/v1/requests/${created.body.id as string}/deny`, { token: alice });
  t.equal(`${String(denied.status)} ${String(denied.body.error?.code)}`, '403 JITGATE_E_SELF_APPROVAL');
  t.match(denied.body.error?.message, /deny/, 'with a message that speaks of denying, not only approving');
  t.match(doc.paths['/v1/requests/{id}/deny'].post.description, /403 JITGATE_E_SELF_APPROVAL/, 'which the deny operation names');
});
