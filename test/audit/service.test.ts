// Calls to OPA services (bundle server, decision-log service, checkpoint witness) carry the
// service's bearer credential, or present its client certificate and trust its CA; what is kept
// in files is read on every call, and a call is never made without it.
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import t from 'tap';
import { request } from 'undici';
import { serviceDispatcher, serviceHeaders, type ServiceConfig } from '../../src/audit/index.js';
import type { OAuth2Credentials } from '../../src/audit/oauth2.js';
import { certAuthority } from '../helpers/certs.js';
import { startReceiver, type Answer } from '../helpers/receiver.js';

t.test('a bearer token from a file is read on every call; an empty or missing file stops the call', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'jg-service-')), 'token');
  const service = { url: 'https://svc.example', headers: { 'x-tenant': 't1' }, credentials: { bearer: { token_path: file, scheme: 'Token' } } };
  writeFileSync(file, 'first\n');
  t.same(await serviceHeaders(service), { 'x-tenant': 't1', authorization: 'Token first' });
  writeFileSync(file, 'second\n');
  t.equal((await serviceHeaders(service)).authorization, 'Token second', 'a rotated token is used from the next call');
  writeFileSync(file, '\n');
  await t.rejects(serviceHeaders(service), /is empty/, 'an empty token file is not sent as an empty credential');
  const inline = 'sk-live-0123456789abcdef';
  const refused = await serviceHeaders({ url: 'http://127.0.0.1:1', credentials: { bearer: { token_path: inline } } }).then(() => '', (err: unknown) => String(err));
  t.match(refused, /token_path: the file it names cannot be read \(ENOENT/, 'a token given where its file belongs is refused');
  t.notOk(refused.includes(inline), 'without quoting it');
  await t.rejects(serviceHeaders({ ...service, credentials: { bearer: { token_path: join(file, 'missing') } } }), /ENOENT|ENOTDIR/, 'nor is a missing one skipped');
});

t.test('oauth2: a token asked of the token endpoint with the client credentials, held until shortly before it expires; a call is never made without one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-service-oauth2-'));
  const ca = certAuthority(dir, 'idp-ca');
  const server = ca.issue('idp', 'server');
  let issued = 0;
  let answer: (n: number) => Answer = (n) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ access_token: `tok-${String(n)}`, token_type: 'Bearer', expires_in: 3600 }) });
  const idp = await startReceiver((url, _i, headers) => {
    if (url !== '/token') return 200;
    if (headers.authorization !== `Basic ${Buffer.from('jitgate:s3cr%3Aet%20x').toString('base64')}`) return { status: 401, body: '{"error":"invalid_client"}' };
    return answer(issued++);
  }, { cert: server.cert, key: server.key, ca: ca.cert, anyClient: true });
  t.teardown(() => idp.close());
  const service = (over: Partial<OAuth2Credentials> = {}): ServiceConfig => ({
    url: idp.url, tls: { ca_cert: ca.cert },
    credentials: { oauth2: { token_url: `${idp.url}/token`, client_id: 'jitgate', client_secret: 's3cr:et x', scopes: ['bundles.read', 'logs.write'], ...over } },
  });
  const tokenRequests = () => idp.received.filter((r) => r.url === '/token');

  const svc = service();
  t.equal((await serviceHeaders(svc)).authorization, 'Bearer tok-0');
  t.equal((await serviceHeaders(svc)).authorization, 'Bearer tok-0', 'held for the next call');
  t.equal(tokenRequests().length, 1, 'one token request');
  const asked = tokenRequests()[0];
  t.equal(asked?.method, 'POST');
  t.same(Object.fromEntries(new URLSearchParams(asked?.body.toString() ?? '')), { grant_type: 'client_credentials', scope: 'bundles.read logs.write' },
    'the client-credentials grant with the scopes; the secret only in the Authorization header');
  // Through the service's TLS settings: the token endpoint's certificate is from the service's CA.
  const res = await request(`${idp.url}/bundles/jitgate`, { headers: await serviceHeaders(svc), dispatcher: serviceDispatcher(svc) });
  await res.body.dump();
  t.equal(idp.received.at(-1)?.headers.authorization, 'Bearer tok-0', 'and a call to the service carries it');

  const burst = service();
  const tokens = await Promise.all(Array.from({ length: 5 }, async () => (await serviceHeaders(burst)).authorization));
  t.same(new Set(tokens), new Set(['Bearer tok-1']), 'calls at once share one token request');
  t.equal(tokenRequests().length, 2);

  answer = (n) => ({ status: 200, body: JSON.stringify({ access_token: `short-${String(n)}`, token_type: 'bearer', expires_in: 5 }) });
  const short = service();
  await serviceHeaders(short);
  await serviceHeaders(short);
  t.equal(tokenRequests().length, 4, 'a token with under ten seconds left is not used again');
  answer = (n) => ({ status: 200, body: JSON.stringify({ access_token: `str-${String(n)}`, token_type: 'Bearer', expires_in: '3599' }) });
  const stringly = service();
  await serviceHeaders(stringly);
  t.equal((await serviceHeaders(stringly)).authorization, 'Bearer str-4', 'expires_in as a string of digits is a lifetime too (Azure AD v1 sends it so)');
  t.equal(tokenRequests().length, 5);
  answer = (n) => ({ status: 200, body: JSON.stringify({ access_token: `odd-${String(n)}`, token_type: 'Bearer', expires_in: '1e9' }) });
  const odd = service();
  await serviceHeaders(odd);
  await serviceHeaders(odd);
  t.equal(tokenRequests().length, 7, 'any other string is no lifetime: the token serves one call');

  const before = idp.received.length;
  await t.rejects(serviceHeaders(service({ client_secret: 'wrong' })), /answered HTTP 401 \(invalid_client\)$/, 'a refused client: the call is not made');
  answer = () => ({ status: 200, body: JSON.stringify({ access_token: 'mac-token', token_type: 'mac', expires_in: 60 }) });
  await t.rejects(serviceHeaders(service()), /not a bearer token/, 'nor with a token of another type');
  answer = () => ({ status: 200, body: 'not json' });
  await t.rejects(serviceHeaders(service()), /other than JSON/);
  answer = () => ({ status: 200, body: `{"access_token":"${'x'.repeat(100_000)}","token_type":"bearer"}` });
  await t.rejects(serviceHeaders(service()), /answered more than 65536 bytes/, 'an endless answer is not read whole');
  t.equal(idp.received.filter((r) => r.url !== '/token').length, idp.received.slice(0, before).filter((r) => r.url !== '/token').length, 'the service saw none of those calls');
  await t.rejects(serviceHeaders({ ...service(), tls: {} }), /self-signed|unable to verify|certificate/, 'a token endpoint the service\'s CA does not vouch for is not sent the secret');
});

t.test('oauth2 with a client assertion: the token is asked with the assertion file\'s current contents and no secret; a missing or empty file stops the call', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-service-assertion-'));
  const ca = certAuthority(dir, 'idp-ca');
  const server = ca.issue('idp', 'server');
  const assertionFile = join(dir, 'sa-token');
  let issued = 0;
  const idp = await startReceiver((url, _i, headers, body) => {
    if (url !== '/token') return 200;
    const form = new URLSearchParams(body.toString());
    if (headers.authorization !== undefined || form.get('client_assertion') !== 'eyJ.first' && form.get('client_assertion') !== 'eyJ.second') return { status: 401, body: '{"error":"invalid_client"}' };
    return { status: 200, body: JSON.stringify({ access_token: `tok-${String(issued++)}`, token_type: 'Bearer', expires_in: 5 }) };
  }, { cert: server.cert, key: server.key, ca: ca.cert, anyClient: true });
  t.teardown(() => idp.close());
  const service = (over: Partial<OAuth2Credentials> = {}): ServiceConfig => ({
    url: idp.url, tls: { ca_cert: ca.cert },
    credentials: { oauth2: { token_url: `${idp.url}/token`, client_id: 'jitgate', client_assertion_path: assertionFile, additional_parameters: { audience: 'decision-logs' }, ...over } },
  });
  const tokenRequests = () => idp.received.filter((r) => r.url === '/token');

  writeFileSync(assertionFile, 'eyJ.first\n');
  // Tokens with 5 s left are asked for again on every call (under ten seconds): each call shows the file as it is then.
  const svc = service();
  t.equal((await serviceHeaders(svc)).authorization, 'Bearer tok-0');
  const asked = tokenRequests()[0];
  t.same(Object.fromEntries(new URLSearchParams(asked?.body.toString() ?? '')), {
    grant_type: 'client_credentials', audience: 'decision-logs', client_id: 'jitgate',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'eyJ.first',
  }, 'RFC 7523 client authentication: the assertion and its type in the form, the additional parameters beside them');
  t.equal(asked?.headers.authorization, undefined, 'no HTTP Basic: there is no secret');
  writeFileSync(assertionFile, 'eyJ.second\n');
  t.equal((await serviceHeaders(svc)).authorization, 'Bearer tok-1');
  t.equal(new URLSearchParams(tokenRequests()[1]?.body.toString() ?? '').get('client_assertion'), 'eyJ.second', 'a rotated assertion is sent from the next token request');
  t.equal((await serviceHeaders(service({ client_assertion_path: undefined, client_assertion: 'eyJ.first', client_assertion_type: 'urn:example:assertion' }))).authorization, 'Bearer tok-2');
  t.equal(new URLSearchParams(tokenRequests()[2]?.body.toString() ?? '').get('client_assertion_type'), 'urn:example:assertion', 'an inline assertion, with the type given');

  const before = idp.received.length;
  writeFileSync(assertionFile, '\n');
  await t.rejects(serviceHeaders(svc), /client_assertion_path: the file it names is empty/, 'an empty assertion file: no token request, no call');
  await t.rejects(serviceHeaders(service({ client_assertion_path: join(dir, 'gone') })), /client_assertion_path: the file it names cannot be read \(ENOENT/, 'nor with a missing one');
  t.equal(idp.received.length, before, 'the endpoint saw neither');
  writeFileSync(assertionFile, 'eyJ.forged');
  await t.rejects(serviceHeaders(svc), /answered HTTP 401/, 'an assertion the endpoint refuses: the call is not made');
});

t.test('oauth2 with a signing key: an assertion signed here, with OPA\'s claims, as client authentication or as the JWT bearer grant; one the endpoint cannot verify gets no token', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-service-signed-'));
  const ca = certAuthority(dir, 'idp-ca');
  const server = ca.issue('idp', 'server');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const verified: { header: Record<string, unknown>; claims: Record<string, unknown>; form: Record<string, string> }[] = [];
  const idp = await startReceiver(async (url, _i, headers, body) => {
    if (url !== '/token') return 200;
    const form = Object.fromEntries(new URLSearchParams(body.toString()));
    const jws = form.grant_type === 'urn:ietf:params:oauth:grant-type:jwt-bearer' ? form.assertion : form.client_assertion;
    try {
      // The endpoint knows the client's public key: an assertion it cannot verify is refused.
      const { payload, protectedHeader } = await jwtVerify(jws ?? '', ec.publicKey, { algorithms: ['ES256'] });
      verified.push({ header: protectedHeader, claims: payload, form });
    } catch {
      return { status: 401, body: '{"error":"invalid_client"}' };
    }
    if (headers.authorization !== undefined) return { status: 400, body: '{"error":"two client authentications"}' };
    return { status: 200, body: JSON.stringify({ access_token: `tok-${String(verified.length)}`, token_type: 'Bearer', expires_in: 5 }) };
  }, { cert: server.cert, key: server.key, ca: ca.cert, anyClient: true });
  t.teardown(() => idp.close());
  const signer = { algorithm: 'ES256', private_key: ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  const service = (over: Partial<OAuth2Credentials> = {}): ServiceConfig => ({
    url: idp.url, tls: { ca_cert: ca.cert },
    credentials: { oauth2: {
      token_url: `${idp.url}/token`, client_id: 'jitgate', signing_key: 'k', signer, scopes: ['logs.write'], include_jti_claim: true,
      additional_claims: { iss: 'jitgate', sub: 'jitgate', aud: `${idp.url}/token` }, thumbprint: '00ff10', ...over,
    } },
  });

  const before = Math.floor(Date.now() / 1000);
  t.equal((await serviceHeaders(service())).authorization, 'Bearer tok-1');
  const first = verified[0];
  t.same(first?.form, {
    grant_type: 'client_credentials', scope: 'logs.write', client_id: 'jitgate',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: first?.form.client_assertion,
  }, 'client credentials, authenticated by the signed assertion (private_key_jwt)');
  t.same(first?.header, { typ: 'JWT', alg: 'ES256', x5t: Buffer.from('00ff10', 'hex').toString('base64url') }, 'the thumbprint as x5t');
  const iat = Number(first?.claims.iat);
  t.ok(iat >= before && iat <= before + 5, 'issued now');
  t.equal(Number(first?.claims.exp) - iat, 600, 'for ten minutes, as OPA signs them');
  t.match(first?.claims, { iss: 'jitgate', sub: 'jitgate', aud: `${idp.url}/token`, scope: 'logs.write' }, 'the additional claims and the scopes');
  await serviceHeaders(service());
  t.not(verified[1]?.claims.jti, first?.claims.jti, 'a fresh jti for every assertion');
  t.match(String(first?.claims.jti), /^[0-9a-f-]{36}$/);

  t.equal((await serviceHeaders(service({ grant_type: 'jwt_bearer', client_id: undefined, include_jti_claim: false }))).authorization, 'Bearer tok-3');
  const grant = verified[2];
  t.same(Object.keys(grant?.form ?? {}).sort(), ['assertion', 'grant_type', 'scope'], 'the JWT bearer grant: the assertion alone, no client authentication');
  t.notOk('jti' in (grant?.claims ?? {}), 'no jti unless asked for');

  const received = idp.received.length;
  const forged = { algorithm: 'ES256', private_key: other.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  await t.rejects(serviceHeaders(service({ signer: forged })), /answered HTTP 401/, 'signed with a key the endpoint does not know: no token, no call');
  await t.rejects(serviceHeaders(service({ signer: undefined })), /no key "k" to sign the OAuth2 client assertion with/, 'a signing key not resolved from the config: not even a token request');
  t.equal(idp.received.length, received + 1, 'only the forged token request reached the endpoint');
});

t.test('client_tls and tls.ca_cert: the service\'s CA trusted, its client certificate presented, renewed files used from the next call', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-service-tls-'));
  const ca = certAuthority(dir, 'services-ca');
  const server = ca.issue('bundles-server', 'server');
  const first = ca.issue('jitgate-replica', 'client');
  const renewed = ca.issue('jitgate-replica-renewed', 'client');
  const receiver = await startReceiver(() => 200, { cert: server.cert, key: server.key, ca: ca.cert });
  t.teardown(() => receiver.close());
  // The files the config names; renewing is overwriting them.
  const cert = join(dir, 'client.pem');
  const key = join(dir, 'client.key');
  copyFileSync(first.cert, cert);
  copyFileSync(first.key, key);
  const call = async (service: ServiceConfig): Promise<string> => {
    try {
      const dispatcher = serviceDispatcher(service);
      const res = await request(`${receiver.url}/bundles/jitgate`, dispatcher ? { dispatcher } : {});
      await res.body.dump();
      return String(res.statusCode);
    } catch (err) {
      return `failed: ${(err as Error).message}`;
    }
  };
  const mtls: ServiceConfig = { url: receiver.url, tls: { ca_cert: ca.cert }, credentials: { client_tls: { cert, private_key: key } } };
  t.equal(await call(mtls), '200');
  t.equal(receiver.received.at(-1)?.clientCert, 'jitgate-replica', 'the server saw the client certificate');
  copyFileSync(renewed.cert, cert);
  copyFileSync(renewed.key, key);
  t.equal(await call(mtls), '200');
  t.equal(receiver.received.at(-1)?.clientCert, 'jitgate-replica-renewed', 'a renewed certificate is presented from the next call');
  t.equal(await call({ ...mtls, tls: { ca_cert: ca.cert, system_ca_required: true } }), '200', 'the system roots beside the CA');

  const before = receiver.received.length;
  t.match(await call({ url: receiver.url, tls: { ca_cert: ca.cert } }), /^failed/, 'no client certificate: the server refuses the handshake');
  t.match(await call({ url: receiver.url, credentials: { client_tls: { cert, private_key: key } } }), /^failed/, 'without the CA the server is not trusted');
  t.match(await call({ ...mtls, credentials: { client_tls: { cert: join(dir, 'gone.pem'), private_key: key } } }), /^failed: the client certificate \(credentials\.client_tls\.cert\) .*gone\.pem cannot be read/, 'a missing file stops the call');
  t.equal(receiver.received.length, before, 'none of those reached the server');
  t.equal(serviceDispatcher({ url: receiver.url }), undefined, 'a service without TLS settings goes through the default dispatcher');
});

t.test('oauth2: a token endpoint that echoes the request in its refusal does not get the secret or the assertion into the error (which is logged)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-service-echo-'));
  const ca = certAuthority(dir, 'idp-ca');
  const server = ca.issue('idp', 'server');
  const secret = 'client-secret-9b8c7d';
  const assertion = 'eyJhbGciOiJSUzI1NiJ9.assertion-4f2a.sig';
  let errorCode: unknown = 'invalid_client';
  // As some identity providers do: the request, client authentication included, quoted back.
  const idp = await startReceiver((_url, _i, headers, body) => ({
    status: 400, headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error: errorCode, error_description: `rejected ${String(new URLSearchParams(body.toString()).get('client_assertion'))} ${String(headers.authorization)} ${body.toString()}` }),
  }), { cert: server.cert, key: server.key, ca: ca.cert, anyClient: true });
  t.teardown(() => idp.close());
  const refusal = (credentials: OAuth2Credentials): Promise<string> => serviceHeaders({ url: idp.url, tls: { ca_cert: ca.cert }, credentials: { oauth2: credentials } })
    .then(() => 'accepted', (err: unknown) => (err as Error).message);
  const basic = Buffer.from(`jitgate:${secret}`).toString('base64');

  const withSecret = await refusal({ token_url: `${idp.url}/token`, client_id: 'jitgate', client_secret: secret });
  t.match(idp.received.at(-1)?.body.toString() ?? '', /grant_type/, 'the endpoint was asked, and echoed what it got');
  t.notOk(withSecret.includes(basic) || withSecret.includes(secret), `the Basic credential is not in the error: ${withSecret}`);
  t.match(withSecret, /answered HTTP 400 \(invalid_client\)$/, 'which says the status and OAuth2\'s error code');
  const withAssertion = await refusal({ token_url: `${idp.url}/token`, client_id: 'jitgate', client_assertion: assertion });
  t.notOk(withAssertion.includes(assertion), `the assertion is not in the error: ${withAssertion}`);
  errorCode = secret;
  const odd = await refusal({ token_url: `${idp.url}/token`, client_id: 'jitgate', client_secret: secret });
  t.notOk(odd.includes(secret), 'an `error` that is no OAuth2 code (here, the secret itself) is not quoted either');
  t.match(odd, /answered HTTP 400$/);
});

t.test('oauth2: a token endpoint\'s URL is quoted in errors (which are logged) with its query values left out', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-service-query-'));
  const ca = certAuthority(dir, 'idp-ca');
  const server = ca.issue('idp', 'server');
  const inQuery = 'query-secret-5e6f7a';
  const idp = await startReceiver(() => ({ status: 401, headers: { 'content-type': 'application/json' }, body: '{"error":"invalid_client"}' }),
    { cert: server.cert, key: server.key, ca: ca.cert, anyClient: true });
  t.teardown(() => idp.close());
  const message = await serviceHeaders({ url: idp.url, tls: { ca_cert: ca.cert }, credentials: { oauth2: { token_url: `${idp.url}/token?tenant=t1&api_key=${inQuery}`, client_id: 'jitgate', client_secret: 's' } } })
    .then(() => 'accepted', (err: unknown) => (err as Error).message);
  t.equal(idp.received.at(-1)?.url, `/token?tenant=t1&api_key=${inQuery}`, 'the endpoint was asked at its URL, query and all');
  t.notOk(message.includes(inQuery), `the query's value is not in the error: ${message}`);
  t.equal(message, `the OAuth2 token endpoint ${idp.url}/token?tenant=[REDACTED]&api_key=[REDACTED] answered HTTP 401 (invalid_client)`, 'which names the endpoint by its origin, path and query names');
});
