// Calls to OPA services (bundle server, decision-log service, checkpoint witness) carry the
// service's bearer credential; one kept in a file is read on every call, and a call is never
// made without it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { serviceHeaders } from '../../src/audit/index.js';

t.test('a bearer token from a file is read on every call; an empty or missing file stops the call', (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'jg-service-')), 'token');
  const service = { url: 'https://svc.example', headers: { 'x-tenant': 't1' }, credentials: { bearer: { token_path: file, scheme: 'Token' } } };
  writeFileSync(file, 'first\n');
  t.same(serviceHeaders(service), { 'x-tenant': 't1', authorization: 'Token first' });
  writeFileSync(file, 'second\n');
  t.equal(serviceHeaders(service).authorization, 'Token second', 'a rotated token is used from the next call');
  writeFileSync(file, '\n');
  t.throws(() => serviceHeaders(service), /is empty/, 'an empty token file is not sent as an empty credential');
  t.throws(() => serviceHeaders({ ...service, credentials: { bearer: { token_path: join(file, 'missing') } } }), /ENOENT|ENOTDIR/, 'nor is a missing one skipped');
  t.end();
});
