import t from 'tap';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/index.js';

const keys = { readonly: 'demo-read-key-1f3a', writer: 'demo-write-key-9b2c', admin: 'demo-admin-key-77de' };
const asReader = { 'x-api-key': keys.readonly };
const asWriter = { 'x-api-key': keys.writer };
const asAdmin = { authorization: `Bearer ${keys.admin}` };

interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

async function call(up: DemoUpstream, method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(`${up.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, text, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

function echoesAKey(answer: Answer): boolean {
  return Object.values(keys).some((value) => answer.text.includes(value));
}

t.test('refuses callers without a valid gateway credential', async (t) => {
  const up = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
  t.teardown(() => up.close());

  const cases: [string, Record<string, string>][] = [
    ['no credential', {}],
    ['unknown api key', { 'x-api-key': 'guess' }],
    ['admin key in the api-key header', { 'x-api-key': keys.admin }],
    ['readonly key as bearer', { authorization: `Bearer ${keys.readonly}` }],
    ['basic auth', { authorization: `Basic ${Buffer.from(`x:${keys.admin}`).toString('base64')}` }],
    ['both credentials at once', { ...asWriter, ...asAdmin }],
    ['a caller JWT, as if forwarded', { authorization: 'Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig' }],
  ];
  for (const [name, headers] of cases) {
    const answer = await call(up, 'GET', '/api/items', headers);
    t.equal(answer.status, 401, name);
    t.equal(answer.body.error, 'unauthorized', name);
    t.notOk('items' in answer.body, `${name}: no data`);
    t.notOk(echoesAKey(answer), `${name}: no key value in the response`);
  }
  t.equal(up.seen.length, cases.length, 'refused requests are recorded too');

  // Two keys in one header (as a client sending X-Api-Key twice produces) match neither.
  const doubled = new Headers();
  doubled.append('x-api-key', keys.readonly);
  doubled.append('x-api-key', keys.writer);
  const res = await fetch(`${up.url}/api/items`, { headers: doubled });
  t.equal(res.status, 401, 'doubled api key');
  t.notOk((await res.text()).includes(keys.readonly), 'doubled api key: not echoed');
});

t.test('readonly credential reads but cannot write or administer', async (t) => {
  const up = await startDemoUpstream({ port: 0, keys });
  t.teardown(() => up.close());

  const list = await call(up, 'GET', '/api/items', asReader);
  t.equal(list.status, 200);
  t.equal(list.body.served_with, 'readonly');
  t.equal((list.body.items as unknown[]).length, 3);

  const head = await fetch(`${up.url}/api/items`, { method: 'HEAD', headers: asReader });
  t.equal(head.status, 200, 'HEAD is a read');

  const one = await call(up, 'GET', '/api/items/2', asReader);
  t.equal(one.status, 200);
  t.match(one.body, { item: { id: '2', name: 'gadget' }, served_with: 'readonly' });

  const report = await call(up, 'GET', '/api/reports/daily', asReader);
  t.equal(report.status, 200);
  t.match(report.body, { report: 'daily', item_count: 3, served_with: 'readonly' });

  const write = await call(up, 'POST', '/api/items', asReader, { name: 'gear' });
  t.equal(write.status, 403);
  t.equal(write.body.served_with, 'readonly');
  t.equal((await call(up, 'DELETE', '/api/items/1', asReader)).status, 403);
  t.equal((await call(up, 'GET', '/admin/users', asReader)).status, 403);

  const after = await call(up, 'GET', '/api/items', asReader);
  t.equal((after.body.items as unknown[]).length, 3, 'refused writes changed nothing');
});

t.test('writer credential changes items but cannot reach /admin/', async (t) => {
  const up = await startDemoUpstream({ port: 0, keys });
  t.teardown(() => up.close());

  const created = await call(up, 'POST', '/api/items', asWriter, { name: 'gear', quantity: 5 });
  t.equal(created.status, 201);
  t.match(created.body, { item: { id: '4', name: 'gear', quantity: 5 }, served_with: 'writer' });

  const updated = await call(up, 'PUT', '/api/items/4', asWriter, { name: 'big gear', quantity: 6 });
  t.equal(updated.status, 200);
  t.match(updated.body, { item: { id: '4', name: 'big gear', quantity: 6 }, served_with: 'writer' });

  const read = await call(up, 'GET', '/api/items/4', asReader);
  t.match(read.body, { item: { name: 'big gear' } }, 'the change is visible to later reads');

  const deleted = await call(up, 'DELETE', '/api/items/4', asWriter);
  t.equal(deleted.status, 200);
  t.same(deleted.body, { deleted: '4', served_with: 'writer' });
  t.equal((await call(up, 'GET', '/api/items/4', asReader)).status, 404);

  t.equal((await call(up, 'PUT', '/api/items/99', asWriter, { name: 'x' })).status, 404);
  t.equal((await call(up, 'DELETE', '/api/items/99', asWriter)).status, 404);
  t.equal((await call(up, 'POST', '/api/items', asWriter, { quantity: 1 })).status, 400, 'name is required');
  const extra = await call(up, 'POST', '/api/items', asWriter, { name: 'x', owner: 'me' });
  t.notOk('owner' in (extra.body.item as object), 'unknown fields are not stored');

  const admin = await call(up, 'GET', '/admin/users', asWriter);
  t.equal(admin.status, 403);
  t.equal(admin.body.served_with, 'writer');
  t.equal((await call(up, 'POST', '/admin/rotate-keys', asWriter)).status, 403);
});

t.test('admin credential reaches everything', async (t) => {
  const up = await startDemoUpstream({ port: 0, keys });
  t.teardown(() => up.close());

  const users = await call(up, 'GET', '/admin/users', asAdmin);
  t.equal(users.status, 200);
  t.equal(users.body.served_with, 'admin');
  t.ok((users.body.users as { id: string }[]).some((u) => u.id === 'dave'));

  const rotate = await call(up, 'POST', '/admin/rotate-keys', asAdmin);
  t.equal(rotate.status, 200);
  t.match(rotate.body, { rotation: 'scheduled', served_with: 'admin' });
  t.notOk(echoesAKey(rotate), 'no key value in the response');

  t.equal((await call(up, 'POST', '/api/items', asAdmin, { name: 'x' })).status, 201);
  t.equal((await call(up, 'GET', '/api/items', asAdmin)).body.served_with, 'admin');

  // The keys are unchanged after the "rotation": the demo stays usable.
  t.equal((await call(up, 'GET', '/api/items', asReader)).status, 200);
});

t.test('records what it received, in order', async (t) => {
  const up = await startDemoUpstream({ port: 0, keys });
  t.teardown(() => up.close());

  await call(up, 'GET', '/api/items?limit=2', { ...asReader, 'x-request-id': 'r-1' });
  await call(up, 'POST', '/api/items', asWriter, { name: 'x' });
  await call(up, 'GET', '/nowhere', asReader);

  t.same(up.seen.map((s) => [s.method, s.url]), [
    ['GET', '/api/items?limit=2'],
    ['POST', '/api/items'],
    ['GET', '/nowhere'],
  ]);
  t.equal(up.seen[0]!.headers['x-request-id'], 'r-1');
  t.equal(up.seen[0]!.headers['x-api-key'], keys.readonly, 'the injected credential is visible to tests');
  t.equal(up.seen[1]!.headers['content-type'], 'application/json');
});

t.test('unknown paths are 404 only for an authenticated gateway', async (t) => {
  const up = await startDemoUpstream({ port: 0, keys });
  t.teardown(() => up.close());
  t.equal((await call(up, 'GET', '/nowhere', asReader)).status, 404);
  t.equal((await call(up, 'GET', '/nowhere')).status, 401);
  t.equal((await call(up, 'GET', '/admin/other', asWriter)).status, 403, '/admin/ needs admin even where nothing is served');
});

t.test('refuses unusable key sets', async (t) => {
  await t.rejects(startDemoUpstream({ port: 0, keys: { ...keys, writer: keys.readonly } }), /must differ/);
  await t.rejects(startDemoUpstream({ port: 0, keys: { ...keys, admin: '' } }), /non-empty/);
});

t.test('close() frees the port', async (t) => {
  const up = await startDemoUpstream({ port: 0, keys });
  const url = up.url;
  await up.close();
  await t.rejects(fetch(`${url}/api/items`, { headers: asReader }));
});
