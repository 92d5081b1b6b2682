import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildConfig, loadConfig } from '../../src/config/index.js';
import { isJitgateError } from '../../src/errors.js';

const demoEnv = {};

function writeConfig(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'jg-config-'));
  const file = join(dir, 'opa.config.yaml');
  writeFileSync(file, text);
  return file;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (isJitgateError(err, 'CONFIG_INVALID')) return (err.details?.problems ?? []) as string[];
    throw err;
  }
  throw new Error('expected the config to be refused');
}

t.test('data_dir is where the store and the dev issuer key go unless given places of their own', (t) => {
  const base = { jitgate: { identity: { dev_issuer: { enabled: true } } } };
  const under = buildConfig({ jitgate: { ...base.jitgate, data_dir: '/srv/jitgate/state' } }, '/etc/jitgate/opa.config.yaml');
  t.equal(under.jitgate.store.sqlite.path, '/srv/jitgate/state/jitgate.db', 'the store under data_dir');
  t.equal(under.jitgate.identity.dev_issuer.key_file, '/srv/jitgate/state/dev-issuer.jwk.json', 'the dev issuer key too');
  const relative = buildConfig({ jitgate: { ...base.jitgate, data_dir: './state' } }, '/etc/jitgate/opa.config.yaml');
  t.equal(relative.jitgate.store.sqlite.path, '/etc/jitgate/state/jitgate.db', 'a relative data_dir is relative to the file');
  const byDefault = buildConfig(base, '/etc/jitgate/opa.config.yaml');
  t.equal(byDefault.jitgate.store.sqlite.path, '/etc/jitgate/data/jitgate.db', 'data_dir defaults to ./data');
  const own = buildConfig({ jitgate: { data_dir: '/srv/state', store: { sqlite: { path: 'db/grants.db' } }, identity: { dev_issuer: { enabled: true, key_file: '/keys/dev.jwk' } } } }, '/etc/jitgate/opa.config.yaml');
  t.equal(own.jitgate.store.sqlite.path, '/etc/jitgate/db/grants.db', 'a path given wins');
  t.equal(own.jitgate.identity.dev_issuer.key_file, '/keys/dev.jwk');
  t.end();
});

t.test('the demo config loads with defaults applied and paths resolved against the file', (t) => {
  const cfg = loadConfig('opa.config.yaml', demoEnv);
  t.equal(cfg.jitgate.listen.proxy, '127.0.0.1:8080');
  t.equal(cfg.jitgate.listen.control, '127.0.0.1:8081');
  t.equal(cfg.jitgate.store.type, 'sqlite');
  t.match(cfg.jitgate.store.sqlite.path, /^\/.*\/data\/jitgate\.db$/);
  t.equal(cfg.jitgate.routes[0]?.name, 'demo');
  t.equal(cfg.jitgate.routes[0]?.timeouts.connect_ms, 5000, 'route defaults filled in');
  t.same(Object.keys(cfg.jitgate.routes[0]?.credentials ?? {}).sort(), ['admin', 'readonly', 'writer']);
  t.same(cfg.jitgate.routes[0]?.policy_body, { max_bytes: 65536, content_types: ['application/json'], read_timeout_ms: 10000 }, 'the demo route shows the policy JSON bodies');
  t.equal(cfg.jitgate.identity.dev_issuer.enabled, true);
  t.equal(cfg.labels.app, 'jitgate');
  t.end();
});

t.test('an invalid config is refused with every problem listed, path and why', (t) => {
  const file = writeConfig(`
jitgate:
  listen: { proxy: "nowhere" }
  store: { type: mysql }
  routes:
    - name: Bad Name
      upstream: ftp://example
      credentials:
        key: { type: header, header: X-Key, value: "inline-secret" }
      policy_body: { max_bytes: 16777216, content_types: ["JSON"] }
  polcy: {}
`);
  const problems = problemsOf(() => loadConfig(file, {}));
  t.ok(problems.some((p) => p.startsWith('jitgate.listen.proxy:')), 'bad listen address named');
  t.ok(problems.some((p) => p.startsWith('jitgate.store.type: must be one of sqlite, postgres')), 'bad store type named');
  t.ok(problems.some((p) => p.startsWith('jitgate.routes.0.name:')), 'bad route name named');
  t.ok(problems.some((p) => p.startsWith('jitgate.routes.0.upstream:')), 'bad upstream named');
  t.ok(problems.some((p) => p.includes('unknown key "value"')), 'an inline secret is refused');
  t.ok(problems.some((p) => p.includes('unknown key "polcy"')), 'a typo in a key is refused');
  t.ok(problems.some((p) => p.startsWith('jitgate.routes.0.policy_body.max_bytes:')), 'a body bound over 1 MiB is refused');
  t.ok(problems.some((p) => p.startsWith('jitgate.routes.0.policy_body.content_types.0:')), 'a media type not written type/subtype in lower case is refused');
  t.ok(problems.length >= 8, `all problems listed at once (${problems.length})`);
  t.end();
});

t.test('keys naming a service the services block lacks are refused together', (t) => {
  const file = writeConfig(`
services:
  collector: { url: "http://127.0.0.1:9" }
decision_logs: { service: colector }
jitgate:
  audit: { checkpoint_service: notary }
`);
  t.same(problemsOf(() => loadConfig(file, {})), [
    'decision_logs.service: no service named "colector" in services',
    'jitgate.audit.checkpoint_service: no service named "notary" in services',
  ]);
  const several = writeConfig(`
services:
  notary: { url: "https://notary.example.com" }
  archive: { url: "https://archive.example.com" }
jitgate:
  audit: { checkpoint_service: [notary, archive] }
`);
  t.same(loadConfig(several, {}).jitgate.audit.checkpoint_service, ['notary', 'archive'], 'several witnesses may be named');
  t.same(problemsOf(() => loadConfig(writeConfig(`
services:
  notary: { url: "https://notary.example.com" }
jitgate:
  audit: { checkpoint_service: [notary, archiv] }
`), {})), ['jitgate.audit.checkpoint_service: no service named "archiv" in services'], 'each name must be a service');
  t.end();
});

t.test('bundles: one, from a named service, in OPA\'s vocabulary, verified with a named key', (t) => {
  const ok = loadConfig(writeConfig(`
services: { acme: { url: "https://bundles.example.com" } }
bundles: { authz: { service: acme } }
jitgate: {}
`), {});
  t.same(ok.bundles, { authz: { service: 'acme', resource: 'bundles/authz', polling: { min_delay_seconds: 60, max_delay_seconds: 120 }, size_limit_bytes: 1073741824 } }, 'OPA\'s defaults, the resource named after the bundle');
  const problems = problemsOf(() => loadConfig(writeConfig(`
services: { acme: { url: "https://bundles.example.com" } }
bundles:
  a: { service: acme, signing: { keyid: k, sign_everything: true } }
  b: { service: acme }
keys: { k: { key: "secret", algorithm: HS999 } }
jitgate: {}
`), {}));
  t.ok(problems.some((p) => p.startsWith('bundles:') && p.includes('1')), `one bundle at most (${problems.join('; ')})`);
  t.ok(problems.some((p) => p.includes('unknown key "sign_everything"')), 'an unknown signing key is refused, not ignored');
  t.ok(problems.some((p) => p.startsWith('keys.k.algorithm')), 'so is an algorithm OPA does not have');
  const dangling = problemsOf(() => loadConfig(writeConfig(`
services: { acme: { url: "https://bundles.example.com" } }
bundles: { authz: { service: acme, signing: { keyid: missing } } }
jitgate: {}
`), {}));
  t.ok(dangling.some((p) => p === 'bundles.authz.signing.keyid: no key named "missing" in keys'), `a signing key that is not configured is named (${dangling.join('; ')})`);
  t.end();
});

t.test('services: bearer and client_tls credentials and a CA, one credential each, never one quietly left out', (t) => {
  const file = writeConfig(`
services:
  inline: { url: "https://a.example.com", credentials: { bearer: { token: t0k3n, scheme: Token } } }
  mounted: { url: "https://b.example.com", credentials: { bearer: { token_path: ./secrets/token } } }
  mtls: { url: "https://m.example.com", tls: { ca_cert: pki/ca.pem, system_ca_required: true }, credentials: { client_tls: { cert: pki/gw.pem, private_key: /etc/gw.key } } }
  oauth: { url: "https://o.example.com", credentials: { oauth2: { token_url: "https://idp.example.com/token", client_id: jitgate, client_secret: s3cret, scopes: [bundles.read] } } }
  workload: { url: "https://w.example.com", credentials: { oauth2: { token_url: "https://idp.example.com/token", client_id: jitgate, client_assertion_path: ./sa/token, additional_parameters: { audience: logs } } } }
jitgate: {}
`);
  const services = loadConfig(file, {}).services;
  t.same(services.inline?.credentials, { bearer: { token: 't0k3n', scheme: 'Token' } });
  t.same(services.mounted?.credentials, { bearer: { token_path: join(file, '..', 'secrets', 'token') } }, 'a token file relative to the config file');
  t.same(services.mtls?.tls, { ca_cert: join(file, '..', 'pki', 'ca.pem'), system_ca_required: true }, 'so is the CA');
  t.same(services.mtls?.credentials, { client_tls: { cert: join(file, '..', 'pki', 'gw.pem'), private_key: '/etc/gw.key' } }, 'and the client certificate');
  t.same(services.oauth?.credentials, { oauth2: { token_url: 'https://idp.example.com/token', client_id: 'jitgate', client_secret: 's3cret', scopes: ['bundles.read'] } }, 'OAuth2 client credentials');
  t.same(services.workload?.credentials, { oauth2: { token_url: 'https://idp.example.com/token', client_id: 'jitgate', client_assertion_path: join(file, '..', 'sa', 'token'), additional_parameters: { audience: 'logs' } } },
    'a client assertion file relative to the config file');
  const problems = problemsOf(() => loadConfig(writeConfig(`
services:
  a: { url: "https://a.example.com", credentials: { s3_signing: { environment_credentials: {} } } }
  g: { url: "https://g.example.com", credentials: { oauth2: { token_url: "http://idp.example.com/token", client_id: x, client_secret: y } } }
  h: { url: "https://h.example.com", credentials: { oauth2: { token_url: "https://idp.example.com/token", client_id: x } } }
  i: { url: "https://i.example.com", credentials: { oauth2: { token_url: "https://idp.example.com/token", client_id: x, client_secret: y, client_assertion_path: /z } } }
  j: { url: "https://j.example.com", credentials: { oauth2: { token_url: "https://idp.example.com/token", client_id: x, client_secret: y, additional_parameters: { audience: a, grant_type: b } } } }
  b: { url: "https://b.example.com", credentials: { bearer: { scheme: Bearer } } }
  c: { url: "https://c.example.com", credentials: { bearer: { token: x, token_path: /y } } }
  d: { url: "https://d.example.com", allow_insecure_tls: true }
  e: { url: "https://e.example.com", credentials: { client_tls: { cert: /c, private_key: /k }, bearer: { token: x } } }
  f: { url: "https://f.example.com", credentials: { client_tls: { cert: /c } } }
jitgate: {}
`), {}));
  t.ok(problems.includes('services.a.credentials.s3_signing: OPA\'s s3_signing credential plugin is not supported by jitgate; use bearer (token or token_path), oauth2 (client credentials) or client_tls'), `another OPA credential plugin is refused by name (${problems.join('; ')})`);
  t.ok(problems.includes('services.e.credentials: one credential plugin per service, as in OPA (bearer, oauth2 or client_tls)'), 'two credentials for one service are refused');
  t.ok(problems.some((p) => p.startsWith('services.g.credentials.oauth2.token_url')), 'a token endpoint over plain HTTP is refused: the client secret would travel in the clear');
  t.ok(problems.includes('services.h.credentials.oauth2: give exactly one of client_secret, client_assertion, client_assertion_path and signing_key'), 'OAuth2 without a client secret or assertion is refused');
  t.ok(problems.includes('services.i.credentials.oauth2: give exactly one of client_secret, client_assertion, client_assertion_path and signing_key'), 'so is OAuth2 with both');
  t.ok(problems.includes('services.j.credentials.oauth2.additional_parameters: "grant_type" is not allowed here'), 'an additional parameter may not repeat one of the grant\'s own');
  t.notOk(problems.some((p) => p.includes('oneOf') || p.includes('must NOT be valid')), 'the schema\'s own wording is not passed on');
  t.ok(problems.some((p) => p.startsWith('services.f.credentials.client_tls') && p.includes('private_key')), 'a client certificate without its key is refused');
  t.ok(problems.some((p) => p.startsWith('services.b.credentials.bearer')), 'a bearer credential without a token is refused');
  t.ok(problems.some((p) => p.startsWith('services.c.credentials.bearer')), 'so is one with both a token and a token file');
  t.ok(problems.some((p) => p === 'services.d: unknown key "allow_insecure_tls"'), 'a service setting jitgate does not apply is refused, not ignored');
  t.end();
});

t.test('oauth2 signing keys: named in keys, private, and able to sign with their algorithm; the key goes with its service', (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = (k: KeyObject): string => JSON.stringify(k.export({ type: 'pkcs8', format: 'pem' }));
  const token = '{ token_url: "https://idp.example.com/token", client_id: jitgate';
  const ok = loadConfig(writeConfig(`
services:
  signed: { url: "https://s.example.com", credentials: { oauth2: ${token}, signing_key: rs, include_jti_claim: true } } }
  bearer_grant: { url: "https://b.example.com", credentials: { oauth2: { token_url: "https://idp.example.com/token", grant_type: jwt_bearer, signing_key: ec, additional_claims: { iss: jitgate } } } }
keys:
  rs: { private_key: ${pem(rsa.privateKey)} }
  ec: { private_key: ${pem(p256.privateKey)}, algorithm: ES256 }
jitgate: {}
`), {});
  t.same(ok.services.signed?.credentials?.oauth2?.signer, { algorithm: 'RS256', private_key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) }, 'RS256 by default, as in OPA');
  t.equal(ok.services.bearer_grant?.credentials?.oauth2?.signer?.algorithm, 'ES256', 'the JWT bearer grant needs no client_id');
  // What the schema says is said first, and alone: those problems get a config of their own.
  const shapes = problemsOf(() => loadConfig(writeConfig(`
services:
  e: { url: "https://e.example.com", credentials: { oauth2: { token_url: "https://idp.example.com/token", client_id: x, client_secret: y, grant_type: jwt_bearer } } }
  f: { url: "https://f.example.com", credentials: { oauth2: { token_url: "https://idp.example.com/token", client_secret: y } } }
keys:
  neither: { algorithm: RS256 }
jitgate: {}
`), {}));
  t.same(shapes.sort(), [
    'keys.neither: give at least one of key and private_key',
    'services.e.credentials.oauth2: must have required property \'signing_key\'',
    'services.f.credentials.oauth2: must have required property \'client_id\'',
  ], 'the JWT bearer grant needs a signing key, the client-credentials grant a client_id, a key one of its halves');
  const unusable = problemsOf(() => loadConfig(writeConfig(`
services:
  a: { url: "https://a.example.com", credentials: { oauth2: ${token}, signing_key: missing } } }
  b: { url: "https://b.example.com", credentials: { oauth2: ${token}, signing_key: public_only } } }
  c: { url: "https://c.example.com", credentials: { oauth2: ${token}, signing_key: wrong_curve } } }
  d: { url: "https://d.example.com", credentials: { oauth2: ${token}, signing_key: not_pem } } }
  h: { url: "https://h.example.com", credentials: { oauth2: ${token}, signing_key: short } } }
  g: { url: "https://g.example.com" }
bundles: { authz: { service: g, signing: { keyid: rs_private } } }
keys:
  public_only: { key: "secret", algorithm: HS256 }
  wrong_curve: { private_key: ${pem(p256.privateKey)}, algorithm: ES384 }
  not_pem: { private_key: "not a key" }
  rs_private: { private_key: ${pem(rsa.privateKey)} }
  short: { private_key: ${pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey)}, algorithm: PS256 }
jitgate: {}
`), {}));
  t.same(unusable.sort(), [
    'bundles.authz.signing.keyid: keys.rs_private has no public key (key) to verify with',
    'keys.not_pem.private_key: is not a PEM private key',
    'keys.short.private_key: is an RSA key of 1024 bits; PS256 needs 2048 or more',
    'keys.wrong_curve.private_key: is an EC key on prime256v1, which ES384 does not sign with',
    'services.a.credentials.oauth2.signing_key: no key named "missing" in keys',
    'services.b.credentials.oauth2.signing_key: keys.public_only has no private_key to sign with',
  ], 'each unusable key named, and nothing else');
  t.end();
});

t.test('a shadow policy folder is resolved like the active one, and must be named', (t) => {
  const file = writeConfig(`
jitgate:
  policy:
    shadow: { dir: ./policies-next }
`);
  const shadow = loadConfig(file, {}).jitgate.policy.shadow;
  t.same(shadow, { dir: join(file, '..', 'policies-next'), bundles_dir: join(file, '..', 'shadow-bundles'), watch: true }, 'paths relative to the file, watched by default');
  const problems = problemsOf(() => loadConfig(writeConfig('jitgate:\n  policy:\n    shadow: { watch: false }\n'), {}));
  t.ok(problems.some((p) => p.startsWith('jitgate.policy.shadow') && p.includes('dir')), `a shadow without a folder is refused (${problems.join('; ')})`);
  t.end();
});

t.test('listener TLS: certificate and key, resolved against the file; both required, nothing else', (t) => {
  const file = writeConfig(`
jitgate:
  listen:
    tls:
      proxy: { cert_file: certs/gw.pem, key_file: /etc/jitgate/gw.key, client_certificates: { ca_file: certs/workloads.pem } }
`);
  t.same(loadConfig(file, {}).jitgate.listen.tls, {
    proxy: { cert_file: join(file, '..', 'certs', 'gw.pem'), key_file: '/etc/jitgate/gw.key', client_certificates: { ca_file: join(file, '..', 'certs', 'workloads.pem'), required: true } },
  }, 'client certificates are required unless said otherwise');
  const withCrl = writeConfig('jitgate:\n  listen:\n    tls:\n      proxy: { cert_file: gw.pem, key_file: gw.key, client_certificates: { ca_file: ca.pem, crl_file: certs/ca.crl } }\n');
  t.equal(loadConfig(withCrl, {}).jitgate.listen.tls?.proxy?.client_certificates?.crl_file, join(withCrl, '..', 'certs', 'ca.crl'), 'a revocation list is resolved like the rest');
  const problems = problemsOf(() => loadConfig(writeConfig(`
jitgate:
  listen:
    tls:
      control: { cert_file: gw.pem, ca_file: ca.pem }
      admin: { cert_file: gw.pem, key_file: gw.key }
`), {}));
  t.ok(problems.some((p) => p.startsWith('jitgate.listen.tls.control') && p.includes('key_file')), `a certificate without its key is refused (${problems.join('; ')})`);
  t.ok(problems.includes('jitgate.listen.tls.control: unknown key "ca_file"'), 'client certificates are not a setting jitgate quietly ignores');
  t.ok(problems.includes('jitgate.listen.tls: unknown key "admin"'));
  t.end();
});

t.test('an upstream URL with a password, a query or a fragment in it, or that does not parse, is refused', (t) => {
  const routes = ['https://svc:hunter2@billing.internal', 'https://billing.internal/v1?api_key=abc', 'https://billing.internal/v1#top', 'http://'];
  const file = writeConfig(`jitgate:\n  routes:\n${routes.map((u, i) => `    - name: r${String(i)}\n      upstream: "${u}"\n`).join('')}`);
  const problems = problemsOf(() => loadConfig(file, {}));
  t.same(problems, [
    'jitgate.routes.0.upstream: has a user name or password in it; give the upstream\'s credential under credentials (from_env or from_file), never in the config',
    'jitgate.routes.1.upstream: has a query or fragment, which would be dropped (each request\'s own query is sent)',
    'jitgate.routes.2.upstream: has a query or fragment, which would be dropped (each request\'s own query is sent)',
    'jitgate.routes.3.upstream: not a URL',
  ]);
  t.notOk(problems.join('\n').includes('hunter2'), 'the refusal does not repeat the password');
  t.same(loadConfig(writeConfig('jitgate:\n  routes:\n    - name: ok\n      upstream: https://billing.internal:8443/v1\n'), {}).jitgate.routes[0]?.upstream, 'https://billing.internal:8443/v1', 'a plain one passes');
  t.end();
});

t.test('a service, token endpoint, webhook or JWKS URL with a user name or password is refused, without repeating the password', (t) => {
  const file = writeConfig(`services:
  bundles: { url: "https://bob:hunter2-bundles@bundles.internal" }
  idp:
    url: https://witness.internal
    credentials: { oauth2: { token_url: "https://client:hunter2-oauth@login.internal/token", client_id: c, client_secret: s } }
jitgate:
  identity:
    jwt: { issuer: "https://iss:hunter2-issuer@login.internal", audience: a, algorithms: [RS256], jwks_url: "https://jwks:hunter2-jwks@login.internal/keys" }
  notifications:
    webhooks:
      - { name: chat, url: "https://hooks:hunter2-hook@chat.internal/hook" }
      - { name: ok, url: "https://chat.internal/services/T0/B0/xyz" }
`);
  const problems = problemsOf(() => loadConfig(file, {}));
  t.same(problems.map((p) => p.split(':')[0]).sort(), [
    'jitgate.identity.jwt.issuer',
    'jitgate.identity.jwt.jwks_url',
    'jitgate.notifications.webhooks.0.url',
    'services.bundles.url',
    'services.idp.credentials.oauth2.token_url',
  ]);
  t.ok(problems.every((p) => p.includes('has a user name or password in it')), problems.join('; '));
  t.notOk(problems.join('\n').includes('hunter2'), 'the refusal does not repeat a password');
  t.end();
});

t.test('a path prefix with a query, a fragment or a segment the gateway refuses is a problem; one in another form is matched in its normal form', (t) => {
  const prefixes = ['/api?x=1', '/api#top', '/api/a%2Fb', '/api/../..', '/api/zählerstände', '/api//x'];
  const file = writeConfig(`jitgate:\n  routes:\n${prefixes.map((p, i) => `    - name: r${String(i)}\n      upstream: https://svc.internal\n      match: { path_prefix: "${p}" }\n`).join('')}`);
  const problems = problemsOf(() => loadConfig(file, {}));
  t.same(problems.map((p) => p.split(':')[0]), ['jitgate.routes.0.match.path_prefix', 'jitgate.routes.1.match.path_prefix', 'jitgate.routes.2.match.path_prefix', 'jitgate.routes.3.match.path_prefix']);
  t.match(problems[2], /"\/api\/a%2Fb" is not a path the gateway can match .*encoded slash/);
  t.match(problems[3], /above the root/);
  t.end();
});

t.test('a judged header the upstream never gets as the caller sent it is a problem: a policy judging it would trust the caller', (t) => {
  const judged = ['user-agent', 'x-real-ip', 'x-forwarded-for', 'te', 'accept-encoding', 'x-vendor-key', 'x-request-id'];
  const file = writeConfig(`jitgate:\n  routes:\n    - name: vendor\n      upstream: https://vendor.internal\n      policy_headers: [${judged.join(', ')}]\n`
    + '      credentials: { vendor: { type: header, header: X-Vendor-Key, from_env: VENDOR_KEY } }\n');
  const problems = problemsOf(() => loadConfig(file, {}));
  t.same(problems.map((p) => p.split(':')[0]), [1, 2, 3, 4, 5].map((j) => `jitgate.routes.0.policy_headers.${String(j)}`), `each one, by its place (${problems.join('; ')})`);
  t.match(problems[0], /"x-real-ip" never reaches the upstream as the caller sent it \(the gateway drops/);
  t.match(problems[4], /a credential of this route sets it/);
  const fine = writeConfig('jitgate:\n  routes:\n    - name: vendor\n      upstream: https://vendor.internal\n      policy_headers: [user-agent, x-request-id, x-dry-run]\n');
  t.same(loadConfig(fine, {}).jitgate.routes[0]?.policy_headers, ['user-agent', 'x-request-id', 'x-dry-run'], 'headers forwarded as sent, and the request id the upstream gets, are fine');
  t.end();
});

t.test('upstream TLS: files resolved against the config, a client certificate only with its key', (t) => {
  const route = (tls: string): string => `jitgate:\n  routes:\n    - name: billing\n      upstream: https://billing.internal\n      upstream_tls: ${tls}\n`;
  const file = writeConfig(route('{ ca_file: pki/ca.pem, cert_file: pki/gw.pem, key_file: pki/gw.key, server_name: billing.internal }'));
  t.same(loadConfig(file, {}).jitgate.routes[0]?.upstream_tls, {
    ca_file: join(file, '..', 'pki', 'ca.pem'), cert_file: join(file, '..', 'pki', 'gw.pem'), key_file: join(file, '..', 'pki', 'gw.key'), server_name: 'billing.internal',
  });
  const problems = problemsOf(() => loadConfig(writeConfig(route('{ cert_file: gw.pem, verify: false }')), {}));
  t.ok(problems.some((p) => p.startsWith('jitgate.routes.0.upstream_tls') && p.includes('key_file')), `a certificate without its key (${problems.join('; ')})`);
  t.ok(problems.includes('jitgate.routes.0.upstream_tls: unknown key "verify"'), 'no switch to turn verification off');
  t.end();
});

t.test('trusted proxies: addresses and CIDR blocks, none by default; anything else listed', (t) => {
  t.same(loadConfig(writeConfig('jitgate: {}\n'), {}).jitgate.listen.trusted_proxies, [], 'no peer is believed unless named');
  t.same(loadConfig(writeConfig('jitgate:\n  listen:\n    trusted_proxies: [10.0.0.0/8, "fd00::/8", 192.0.2.1]\n'), {}).jitgate.listen.trusted_proxies, ['10.0.0.0/8', 'fd00::/8', '192.0.2.1']);
  const problems = problemsOf(() => loadConfig(writeConfig('jitgate:\n  listen:\n    trusted_proxies: [lb.internal, 10.0.0.0/40]\n'), {}));
  t.same(problems, [
    'jitgate.listen.trusted_proxies: "lb.internal" is neither an IP address nor a CIDR block',
    'jitgate.listen.trusted_proxies: "10.0.0.0/40" is neither an IP address nor a CIDR block',
  ]);
  t.equal(loadConfig(writeConfig('jitgate: {}\n'), {}).jitgate.listen.trusted_proxy_header, 'x-forwarded-for');
  t.equal(loadConfig(writeConfig('jitgate:\n  listen:\n    trusted_proxy_header: forwarded\n'), {}).jitgate.listen.trusted_proxy_header, 'forwarded');
  const header = problemsOf(() => loadConfig(writeConfig('jitgate:\n  listen:\n    trusted_proxy_header: x-real-ip\n'), {}));
  t.ok(header.some((p) => p.startsWith('jitgate.listen.trusted_proxy_header')), `only the two headers proxies write (${header.join('; ')})`);
  t.end();
});

t.test('policy body budget: 64 MiB by default, settable, never off', (t) => {
  t.equal(loadConfig(writeConfig('jitgate: {}\n'), {}).jitgate.listen.policy_body_budget_bytes, 64 * 1024 * 1024);
  t.equal(loadConfig(writeConfig('jitgate:\n  listen:\n    policy_body_budget_bytes: 1048576\n'), {}).jitgate.listen.policy_body_budget_bytes, 1_048_576);
  for (const value of ['0', '-1', '1.5', '"big"']) {
    const problems = problemsOf(() => loadConfig(writeConfig(`jitgate:\n  listen:\n    policy_body_budget_bytes: ${value}\n`), {}));
    t.ok(problems.some((p) => p.startsWith('jitgate.listen.policy_body_budget_bytes')), `${value} is refused (${problems.join('; ')})`);
    const share = problemsOf(() => loadConfig(writeConfig(`jitgate:\n  listen:\n    policy_body_budget_per_caller_bytes: ${value}\n`), {}));
    t.ok(share.some((p) => p.startsWith('jitgate.listen.policy_body_budget_per_caller_bytes')), `a caller's share of ${value} is refused (${share.join('; ')})`);
  }
  t.equal(loadConfig(writeConfig('jitgate: {}\n'), {}).jitgate.listen.policy_body_budget_per_caller_bytes, undefined, 'a caller\'s share is derived from the budget unless set');
  t.equal(loadConfig(writeConfig('jitgate:\n  listen:\n    policy_body_budget_per_caller_bytes: 2097152\n'), {}).jitgate.listen.policy_body_budget_per_caller_bytes, 2_097_152);
  t.end();
});

t.test('a policy body larger than one caller may hold is refused at load: it would be refused on every request', (t) => {
  const route = (maxBytes: number): string => `  routes:\n    - name: r\n      match: { path_prefix: / }\n      upstream: http://127.0.0.1:9\n      policy_body: { max_bytes: ${String(maxBytes)} }\n`;
  const share = problemsOf(() => loadConfig(writeConfig(`jitgate:\n  listen:\n    policy_body_budget_per_caller_bytes: 4096\n${route(65536)}`), {}));
  t.ok(share.some((p) => p.startsWith('jitgate.routes.0.policy_body.max_bytes: 65536 is more than one caller may hold for the policy (4096')), share.join('; '));
  const budget = problemsOf(() => loadConfig(writeConfig(`jitgate:\n  listen:\n    policy_body_budget_bytes: 1000\n${route(65536)}`), {}));
  t.ok(budget.some((p) => p.startsWith('jitgate.routes.0.policy_body.max_bytes: 65536 is more than one caller may hold for the policy (1000')), budget.join('; '));
  t.equal(loadConfig(writeConfig(`jitgate:\n  listen:\n    policy_body_budget_per_caller_bytes: 65536\n${route(65536)}`), {}).jitgate.routes[0]?.policy_body?.max_bytes, 65536, 'a share of one whole body is enough');
  t.end();
});

t.test('connection caps: per listener, bounded by default, never off', (t) => {
  t.same(loadConfig(writeConfig('jitgate: {}\n'), {}).jitgate.listen.max_connections, { proxy: 10_000, control: 1_000 });
  t.same(loadConfig(writeConfig('jitgate:\n  listen:\n    max_connections: { proxy: 500 }\n'), {}).jitgate.listen.max_connections, { proxy: 500, control: 1_000 });
  const problems = problemsOf(() => loadConfig(writeConfig('jitgate:\n  listen:\n    max_connections: { proxy: 0, admin: 5 }\n'), {}));
  t.ok(problems.some((p) => p.startsWith('jitgate.listen.max_connections.proxy')), `no way to turn the cap off (${problems.join('; ')})`);
  t.ok(problems.includes('jitgate.listen.max_connections: unknown key "admin"'));
  const keepAlive = problemsOf(() => loadConfig(writeConfig('jitgate:\n  listen:\n    client_timeouts: { keep_alive_ms: 0 }\n'), {}));
  t.ok(keepAlive.some((p) => p.startsWith('jitgate.listen.client_timeouts.keep_alive_ms')), `keep-alive cannot be made endless (${keepAlive.join('; ')})`);
  t.end();
});

t.test('client timeouts: bounded by default; a head limit longer than the whole request is refused', (t) => {
  t.same(loadConfig(writeConfig('jitgate: {}\n'), {}).jitgate.listen.client_timeouts, { head_ms: 10_000, request_ms: 300_000, body_idle_ms: 30_000, response_idle_ms: 60_000, keep_alive_ms: 5_000 });
  t.same(loadConfig(writeConfig('jitgate:\n  listen:\n    client_timeouts: { head_ms: 2000 }\n'), {}).jitgate.listen.client_timeouts, { head_ms: 2000, request_ms: 300_000, body_idle_ms: 30_000, response_idle_ms: 60_000, keep_alive_ms: 5_000 });
  t.same(problemsOf(() => loadConfig(writeConfig('jitgate:\n  listen:\n    client_timeouts: { head_ms: 20000, request_ms: 5000 }\n'), {})), [
    'jitgate.listen.client_timeouts: head_ms (20000) is longer than request_ms (5000), which includes the head',
  ]);
  const problems = problemsOf(() => loadConfig(writeConfig('jitgate:\n  listen:\n    client_timeouts: { request_ms: 0, idle_ms: 5 }\n'), {}));
  t.ok(problems.some((p) => p.startsWith('jitgate.listen.client_timeouts.request_ms')), `no way to turn the limit off (${problems.join('; ')})`);
  t.ok(problems.includes('jitgate.listen.client_timeouts: unknown key "idle_ms"'));
  t.end();
});

t.test('the JWKS fetch bounds: 5 s and 4 MiB by default, settable per issuer, never off or absurd', (t) => {
  const jwt = (extra: string): string => `jitgate:\n  identity:\n    jwt:\n      issuer: https://idp.example\n      audience: jitgate\n      algorithms: [RS256]\n      discovery: true\n${extra}`;
  const loaded = loadConfig(writeConfig(jwt('')), {}).jitgate.identity.jwt;
  t.same([loaded?.jwks_fetch_timeout_ms, loaded?.jwks_fetch_max_bytes], [5000, 4 * 1024 * 1024], 'the defaults are the former constants');
  const set = loadConfig(writeConfig(jwt('      jwks_fetch_timeout_ms: 2500\n      jwks_fetch_max_bytes: 8388608\n')), {}).jitgate.identity.jwt;
  t.same([set?.jwks_fetch_timeout_ms, set?.jwks_fetch_max_bytes], [2500, 8 * 1024 * 1024]);
  for (const [key, value] of [
    ['jwks_fetch_timeout_ms', '0'], ['jwks_fetch_timeout_ms', '-1'], ['jwks_fetch_timeout_ms', '1.5'], ['jwks_fetch_timeout_ms', '3600000'], ['jwks_fetch_timeout_ms', '"5s"'],
    ['jwks_fetch_max_bytes', '0'], ['jwks_fetch_max_bytes', '-4096'], ['jwks_fetch_max_bytes', '10'], ['jwks_fetch_max_bytes', '1099511627776'], ['jwks_fetch_max_bytes', '"4MiB"'],
  ] as const) {
    const problems = problemsOf(() => loadConfig(writeConfig(jwt(`      ${key}: ${value}\n`)), {}));
    t.ok(problems.some((p) => p.startsWith(`jitgate.identity.jwt.${key}: `)), `${key}: ${value} is refused with its path (${problems.join('; ')})`);
  }
  t.end();
});

t.test('${VAR} placeholders come from the environment; an unset one is an error', (t) => {
  const file = writeConfig('labels: { env: "${JG_TEST_ENVNAME}" }\njitgate: {}\n');
  t.equal(loadConfig(file, { JG_TEST_ENVNAME: 'staging' }).labels.env, 'staging');
  const problems = problemsOf(() => loadConfig(file, {}));
  t.same(problems, ['labels.env: environment variable JG_TEST_ENVNAME is not set'], 'named with the key it is under');
  const nested = writeConfig('jitgate:\n  routes:\n    - { name: a, match: { path_prefix: /a }, upstream: "http://127.0.0.1:1" }\n    - name: b\n      upstream: "${JG_TEST_UNSET_UPSTREAM}"\n');
  t.same(problemsOf(() => loadConfig(nested, {})), ['jitgate.routes.1.upstream: environment variable JG_TEST_UNSET_UPSTREAM is not set'], 'in a list too');
  t.end();
});

t.test('a ${VAR} value is data, whatever characters it holds: never cut, never parsed, never quoted back in an error', (t) => {
  const file = writeConfig(`services:
  idp: { url: "https://idp.example.com", credentials: { bearer: { token: \${IDP_TOKEN} } } }
labels: { build: "\${BUILD} (\${STAGE})", plain: \${PLAIN} }
jitgate:
  listen: { proxy: "127.0.0.1:\${PORT}" }
`);
  for (const secret of ['wh-S3cr3t: 7d', '*S3cr3t', '&x S3cr3t', 'S3cr3t #tail', '!S3cr3t', '- S3cr3t', '{a: 1}']) {
    const cfg = loadConfig(file, { IDP_TOKEN: secret, BUILD: 'b1', STAGE: secret, PLAIN: 'plain-label', PORT: '8181' });
    t.same(cfg.services.idp?.credentials, { bearer: { token: secret } }, `${JSON.stringify(secret)} arrives as written`);
    t.equal(cfg.labels.build, `b1 (${secret})`);
  }
  t.equal(loadConfig(file, { IDP_TOKEN: 't', BUILD: 'b', STAGE: 's', PLAIN: 'x: y', PORT: '1' }).labels.plain, 'x: y', 'a whole plain reference is never a map');
  const typed = writeConfig('jitgate:\n  listen:\n    client_timeouts: { head_ms: ${HEAD_MS}, request_ms: 60000 }\n');
  t.equal(loadConfig(typed, { HEAD_MS: '5000' }).jitgate.listen.client_timeouts.head_ms, 5000, 'a whole plain reference takes its YAML type');
  const injected = loadConfig(file, { IDP_TOKEN: 't', BUILD: 'b', STAGE: 's', PLAIN: 'x\ndecision_logs: { service: exfil }', PORT: '1' });
  t.equal(injected.labels.plain, 'x\ndecision_logs: { service: exfil }', 'a value with a line break is that text');
  t.equal(injected.decision_logs.service, undefined, 'and adds no keys');
  const pem = '-----BEGIN KEY-----\\nAAAA\\n-----END KEY-----';
  const quoted = writeConfig('labels: { key: "${PEM}", raw: \'${PEM}\' }\njitgate: {}\n');
  t.same(loadConfig(quoted, { PEM: pem }).labels, { key: '-----BEGIN KEY-----\nAAAA\n-----END KEY-----', raw: pem }, 'inside double quotes, \\n is a newline as YAML reads it (docs/configuration.md); inside single quotes it is not');
  const broken = writeConfig('services:\n  idp: { url: "https://idp.example.com", credentials: { bearer: { token: ${IDP_TOKEN} } }\n');
  const problems = problemsOf(() => loadConfig(broken, { IDP_TOKEN: 'S3cr3tValue' }));
  t.ok(problems.length > 0 && problems.every((p) => !p.includes('S3cr3tValue')), `a file that does not parse is reported without the secret (${problems.join('; ')})`);
  t.end();
});

t.test('unreadable and malformed files give stable codes', (t) => {
  t.throws(() => loadConfig('/nonexistent/opa.config.yaml', {}), { code: 'JITGATE_E_CONFIG_READ' });
  const file = writeConfig('jitgate: [unclosed\n');
  t.throws(() => loadConfig(file, {}), { code: 'JITGATE_E_CONFIG_INVALID' });
  t.end();
});

t.test('workload certificates as identities: one subjectAltName each, URI or DNS, mapped to a service', (t) => {
  const cfg = loadConfig(writeConfig('jitgate:\n  identity:\n    client_certificates:\n      - { san_uri: "spiffe://prod/ns/payments/sa/api", subject: svc-payments }\n'), {});
  t.same(cfg.jitgate.identity.client_certificates, [{ san_uri: 'spiffe://prod/ns/payments/sa/api', subject: 'svc-payments', groups: [] }]);
  t.same(loadConfig(writeConfig('jitgate: {}\n'), {}).jitgate.identity.client_certificates, [], 'none by default: a certificate is no credential unless mapped');
  const refused = (entries: string[]): string[] => problemsOf(() => loadConfig(writeConfig(`jitgate:\n  identity:\n    client_certificates:\n${entries.map((e) => `      - ${e}\n`).join('')}`), {}));
  t.same(refused(['{ san_uri: "spiffe://a/b", san_dns: b.internal, subject: svc-b }', '{ subject: svc-c }']), [
    'jitgate.identity.client_certificates.0: needs exactly one of san_uri and san_dns (has both)',
    'jitgate.identity.client_certificates.1: needs exactly one of san_uri and san_dns (has neither)',
  ]);
  t.same(refused(['{ san_dns: b.internal, subject: svc-b }', '{ san_dns: b.internal, subject: svc-c }']), [
    'jitgate.identity.client_certificates.1: san_dns "b.internal" is mapped twice',
  ], 'one name for two services would depend on the order');
  t.same(refused(['{ san_uri: "spiffe://a/b" }']), ["jitgate.identity.client_certificates.0: must have required property 'subject'"]);
  t.same(refused(['{ san_uri: "spiffe://a/b", subject: svc-b, cn: b }']), ['jitgate.identity.client_certificates.0: unknown key "cn"'], 'a common name is no identity here');
  t.end();
});

t.test('a person of the dev issuer and a configured service never share an id', (t) => {
  const refused = problemsOf(() => loadConfig(writeConfig([
    'jitgate:',
    '  identity:',
    '    dev_issuer: { enabled: true, subjects: { bob: [eng], carol: [eng] } }',
    `    api_keys: [{ id: deploy-bot, subject: bob, sha256: "${'a'.repeat(64)}" }]`,
    '    client_certificates: [{ san_dns: ci.internal, subject: carol }]',
    '',
  ].join('\n')), {}));
  t.same(refused, [
    'jitgate.identity.dev_issuer.subjects.bob: "bob" is the subject of jitgate.identity.api_keys.0; a person and a service never share an id',
    'jitgate.identity.dev_issuer.subjects.carol: "carol" is the subject of jitgate.identity.client_certificates.0; a person and a service never share an id',
  ]);
  const apart = loadConfig(writeConfig(`jitgate:\n  identity:\n    dev_issuer: { enabled: true, subjects: { bob: [eng] } }\n    api_keys: [{ id: deploy-bot, subject: svc-deploy, sha256: "${'a'.repeat(64)}" }]\n`), {});
  t.equal(apart.jitgate.identity.api_keys[0]?.subject, 'svc-deploy', 'distinct ids are accepted');
  t.end();
});

t.test('a configured subject id holds no control character or line separator, as a token\'s may not', (t) => {
  const problems = problemsOf(() => loadConfig(writeConfig(`
jitgate:
  identity:
    api_keys:
      - { id: billing, subject: "svc-billing\\x85", sha256: "${'0'.repeat(64)}" }
    client_certificates:
      - { san_dns: worker.internal, subject: "svc\\Lworker" }
    dev_issuer:
      subjects: { "eve\\x7f": [eng] }
`), {}));
  t.ok(problems.includes('jitgate.identity.api_keys.0.subject: holds a control, invisible or bidirectional-control character (U+0085)'), problems.join('; '));
  t.ok(problems.includes('jitgate.identity.client_certificates.0.subject: holds a control, invisible or bidirectional-control character (U+2028)'), 'a certificate\'s subject too');
  t.ok(problems.includes('jitgate.identity.dev_issuer.subjects: a name holds a control, invisible or bidirectional-control character (U+007F)'), 'and a sample subject of the dev issuer');
  t.end();
});

t.test('nor an invisible or reordering character: a service or sample subject that reads as another is refused at load', (t) => {
  const problems = problemsOf(() => loadConfig(writeConfig(`
jitgate:
  identity:
    api_keys:
      - { id: billing, subject: "svc-billing\\u200b", groups: [reporting], sha256: "${'0'.repeat(64)}" }
      - { id: deploy, subject: svc-deploy, groups: ["deployers\\ufeff"], sha256: "${'1'.repeat(64)}" }
    client_certificates:
      - { san_dns: worker.internal, subject: "\\u202esvc-worker" }
      - { san_dns: job.internal, subject: svc-job, groups: ["jo\\u00adbs"] }
    dev_issuer:
      subjects: { "alice\\u2060": [eng], bob: ["approvers\\U000E0100"] }
`), {}));
  const rule = 'holds a control, invisible or bidirectional-control character';
  t.same(problems.sort(), [
    `jitgate.identity.api_keys.0.subject: ${rule} (U+200B)`,
    `jitgate.identity.api_keys.1.groups.0: ${rule} (U+FEFF)`,
    `jitgate.identity.client_certificates.0.subject: ${rule} (U+202E)`,
    `jitgate.identity.client_certificates.1.groups.0: ${rule} (U+00AD)`,
    `jitgate.identity.dev_issuer.subjects: a name ${rule} (U+2060)`,
    `jitgate.identity.dev_issuer.subjects.bob.0: ${rule} (U+E0100)`,
  ].sort());
  t.notOk(problems.some((p) => /[\u200b\ufeff\u202e\u00ad\u2060]/u.test(p)), 'the problems do not repeat the character itself');
  t.end();
});
