// Query names that carry credentials: the decision log (maskValue over /input/request/query) and
// the audit trail (scrubSecrets over details.query) judge each name the same way, in any letter
// case and with `-`/`_` set aside; the same names elsewhere (a body's `code`) are data and stay;
// and the input handed to the logger (the one the policy judged) is never changed.
import t from 'tap';
import { maskValue, MASK_VALUE, scrubSecrets } from '../../src/audit/mask.js';

const CREDENTIAL_NAMES = [
  'sig', 'SIG', 'signature', 'Signature', 'X-Amz-Signature', 'x_amz_signature', 'X-Amz-Credential', 'X-Goog-Signature', 'X-Goog-Credential',
  'key', 'Key', 'subscription-key', 'AWSAccessKeyId', 'GoogleAccessId', 'api_key', 'api-key', 'apikey', 'ApiKey',
  'access_token', 'access-token', 'token', 'id_token', 'code', 'CODE', 'client_secret', 'client-secret', 'password',
  'client_assertion', 'assertion', 'SAMLResponse', 'jwt',
];
const DATA_NAMES = ['page', 'q', 'sort', 'keys', 'monkey', 'codec', 'zipcode', 'signed', 'limit'];

t.test('the decision log and the audit trail agree on every query name', (t) => {
  const query: Record<string, string[]> = {};
  for (const [i, name] of [...CREDENTIAL_NAMES, ...DATA_NAMES].entries()) query[name] = [`value-${String(i)}`];
  const input = Object.freeze({ request: Object.freeze({ query: Object.freeze(query), body: Object.freeze({ code: 'EUR', key: 'item-7' }) }) });
  const before = JSON.stringify(input);
  const logged = maskValue('input', input).value.request.query as Record<string, unknown>;
  const trail = (scrubSecrets({ query }) as { query: Record<string, unknown> }).query;
  for (const name of CREDENTIAL_NAMES) {
    t.equal(logged[name], MASK_VALUE, `decision log masks ${name}`);
    t.equal(trail[name], MASK_VALUE, `audit trail masks ${name}`);
  }
  for (const name of DATA_NAMES) {
    t.same(logged[name], query[name], `decision log keeps ${name}`);
    t.same(trail[name], query[name], `audit trail keeps ${name}`);
  }
  t.same(maskValue('input', input).value.request.body, { code: 'EUR', key: 'item-7' }, 'a body\'s code and key are data, not query credentials');
  t.equal(JSON.stringify(input), before, 'what the policy judged is unchanged');
  t.end();
});
