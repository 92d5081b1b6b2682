import t from 'tap';
import type { IncomingHttpHeaders } from 'node:http';
import { requestId } from '../../src/observability/index.js';

const req = (id?: string): { headers: IncomingHttpHeaders } => ({ headers: id === undefined ? {} : { 'x-request-id': id } });

t.test('request ids: a plain incoming id is kept, anything else replaced', (t) => {
  t.equal(requestId(req('abc-123.x:y')), 'abc-123.x:y', 'propagated from the caller');
  t.match(requestId(req()), /^[0-9a-f-]{36}$/, 'fresh when absent');
  const injected = requestId(req('x\n{"level":"fatal","msg":"forged"}'));
  t.notOk(injected.includes('forged'), 'no log injection through the header');
  t.not(requestId(req()), requestId(req()), 'unique');
  t.end();
});
