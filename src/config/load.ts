import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { isPair, isScalar, isSeq, parseDocument, visit, type visitorFn } from 'yaml';
import { assertionKey } from '../audit/index.js';
import { isJitgateError, jitgateError } from '../errors.js';
import { checkFileTrust, refusalMessage } from '../file-trust.js';
import { forbiddenCharIn, SUBJECT_ID_PATTERN, SUBJECT_ID_RULE } from '../identity/index.js';
import { defaultCallerShare, invalidProxyEntries, normalizeTarget, unjudgeable } from '../proxy/index.js';
import { configSchema } from './schema.js';
import type { GatewayConfig, OpaBundle } from './types.js';

// strictRequired is off: parts say "exactly one of these keys" with oneOf + required.
// verbose: errors carry their schema, so "exactly one of" can name the keys (describeErrors).
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, strictRequired: false, allowUnionTypes: true, verbose: true });
const validate = ajv.compile(configSchema);

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * `${NAME}` is replaced from the environment, as `opa run` does, but into the parsed YAML's
 * values, never into its text: a value is data, whatever it holds. Substituted into the text, a
 * secret holding `: ` or a leading `*` broke the parse and was quoted back in the error (into the
 * log and the audit trail), one holding ` #` was cut short without a word, and one holding a line
 * break could add keys of its own. Each reference becomes a placeholder that parses in any place
 * (`{ token: ${T} }` too), and the placeholders are replaced in the parsed values:
 * - a plain value that is one reference alone takes the type its text has in YAML (`port:
 *   ${PORT}` is a number), never a map or a list;
 * - inside double quotes the value's escapes are read as YAML reads them (`"${PEM}"` with `\n`
 *   for newlines), unless it holds a quote that would end the string: then it is taken as written.
 * An unset variable is an error.
 */
function substituteEnv(text: string, env: NodeJS.ProcessEnv, problems: string[]): unknown {
  const names: string[] = [];
  const nonce = randomBytes(6).toString('hex');
  const placeholder = (i: number): string => `jitgateenv${nonce}x${String(i)}x`;
  const marked = text.replace(ENV_REFERENCE, (_m, name: string) => placeholder(names.push(name) - 1));
  const marker = new RegExp(`jitgateenv${nonce}x(\\d+)x`, 'g');
  const whole = new RegExp(`^jitgateenv${nonce}x\\d+x$`);
  const doc = parseDocument(marked, { prettyErrors: true });
  if (doc.errors.length > 0) {
    // Reported from the file as written: no value from the environment is in the text.
    problems.push(...doc.errors.map((e) => `YAML: ${e.message.replace(marker, (_m, i: string) => `\${${names[Number(i)] ?? ''}}`)}`));
    return undefined;
  }
  visit(doc, {
    Scalar(key, node, path) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes(`jitgateenv${nonce}`)) return;
      const before = problems.length;
      const value = node.value.replace(marker, (_m, i: string) => {
        const name = names[Number(i)] ?? '';
        const found = env[name];
        if (found === undefined) problems.push(`${keyPath(path, node)}: environment variable ${name} is not set`);
        return found === undefined ? '' : node.type === 'QUOTE_DOUBLE' ? doubleQuoted(found) : found;
      });
      // The load fails on any problem: a half-substituted value is never used.
      if (problems.length === before) node.value = node.type === 'PLAIN' && whole.test(node.value) ? plainScalar(value) : value;
    },
  });
  return doc.toJS();
}

/** Where a value sits in the document, as the schema's problems name it (`jitgate.routes.0.upstream`). */
function keyPath(ancestors: Parameters<visitorFn<unknown>>[2], node: unknown): string {
  const keys: string[] = [];
  const chain = [...ancestors, node];
  chain.forEach((item, i) => {
    if (isPair(item) && isScalar(item.key)) keys.push(String(item.key.value));
    else if (isSeq(item)) keys.push(String(item.items.indexOf(chain[i + 1])));
  });
  return keys.length === 0 ? '(top level)' : keys.join('.');
}

/**
 * A value as the body of a YAML double-quoted string reads it (its escapes), or as written when
 * it could not be such a body: a quote that would end the string, a line break, a bad escape.
 */
function doubleQuoted(value: string): string {
  if (/[\r\n]/.test(value) || /(^|[^\\])(\\\\)*"/.test(value)) return value;
  const doc = parseDocument(`"${value}"`);
  return doc.errors.length === 0 && isScalar(doc.contents) && typeof doc.contents.value === 'string' ? doc.contents.value : value;
}

/**
 * A number or boolean when YAML reads the text as one (`port: ${PORT}`); otherwise the text as
 * written: an anchor, tag or comment in a value (`&x`, `!t`, ` #`) is part of the value.
 */
function plainScalar(text: string): unknown {
  const doc = parseDocument(text);
  const value = doc.errors.length === 0 && isScalar(doc.contents) ? doc.contents.value : text;
  return typeof value === 'number' || typeof value === 'boolean' ? value : text;
}

/** Keys that moved out of the file: a config that still has one is told where it went. */
const MOVED_KEYS: Readonly<Record<string, string>> = {
  'jitgate.control.audit_reader_groups':
    'moved to the policy: the elevation policy decides who reads the audit trail (action audit_read); with the sample policies, list the groups in data.jitgate.audit_reader_groups (policies/data.json)',
};

/** OPA's service credential plugins jitgate does not implement: a service configured with one is refused, not called without. */
const OPA_CREDENTIAL_PLUGINS = new Set(['s3_signing', 'gcp_metadata', 'azure_managed_identity', 'plugin']);

/** The keys of a oneOf whose branches each require one key (`[{required: [a]}, {required: [b]}]`), else null. */
function alternatives(oneOf: unknown): string[] | null {
  if (!Array.isArray(oneOf)) return null;
  const names = oneOf.map((branch: unknown) => {
    const required = (branch as { required?: unknown } | null)?.required;
    return Array.isArray(required) && required.length === 1 && typeof required[0] === 'string' ? required[0] : null;
  });
  return names.every((n) => n !== null) ? names : null;
}

function listed(names: readonly string[]): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}`;
}

function describeErrors(errors: readonly ErrorObject[]): string[] {
  // A branch of "one of these keys" or a check of a key's name is said by its parent error, and
  // a failed if/then/else by the requirement that failed in it.
  const said = errors.filter((e) => e.keyword !== 'if' && !/\/((oneOf|anyOf)\/\d+\/required|propertyNames\/)/.test(e.schemaPath));
  return said.map((e) => {
    const at = e.instancePath === '' ? '(top level)' : e.instancePath.slice(1).replaceAll('/', '.');
    const keys = e.keyword === 'oneOf' || e.keyword === 'anyOf' ? alternatives(e.schema) : null;
    if (keys !== null) return `${at}: give ${e.keyword === 'oneOf' ? 'exactly' : 'at least'} one of ${listed(keys)}`;
    if (e.keyword === 'propertyNames') {
      // The name itself is not repeated when it is one no id may hold: printed, it would hide or
      // reorder what the operator reads.
      const unfit = forbiddenCharIn(String(e.params.propertyName));
      return unfit === null ? `${at}: "${String(e.params.propertyName)}" is not allowed here` : `${at}: a name ${SUBJECT_ID_RULE} (${unfit})`;
    }
    if (e.keyword === 'additionalProperties') {
      const key = String(e.params.additionalProperty);
      if (/^services\.[^.]+\.credentials$/.test(at) && OPA_CREDENTIAL_PLUGINS.has(key)) {
        return `${at}.${key}: OPA's ${key} credential plugin is not supported by jitgate; use bearer (token or token_path), oauth2 (client credentials) or client_tls`;
      }
      const moved = MOVED_KEYS[`${at}.${key}`];
      return moved === undefined ? `${at}: unknown key "${key}"` : `${at}.${key}: ${moved}`;
    }
    if (e.keyword === 'maxProperties' && /^services\.[^.]+\.credentials$/.test(at)) return `${at}: one credential plugin per service, as in OPA (bearer, oauth2 or client_tls)`;
    if (e.keyword === 'pattern' && e.params.pattern === SUBJECT_ID_PATTERN) {
      const unfit = typeof e.data === 'string' ? forbiddenCharIn(e.data) : null;
      return `${at}: ${SUBJECT_ID_RULE}${unfit === null ? '' : ` (${unfit})`}`;
    }
    if (e.keyword === 'enum') return `${at}: must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
    return `${at}: ${e.message ?? 'is invalid'}`;
  });
}

/** Paths in the config are relative to the config file: resolve every key the parts declare as a path. */
function resolvePaths(cfg: GatewayConfig, base: string): void {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const j = cfg.jitgate;
  j.data_dir = abs(j.data_dir);
  // What the gateway keeps of its own goes under data_dir unless given a place of its own.
  const sqlitePath = j.store.sqlite.path as string | undefined;
  j.store.sqlite.path = sqlitePath === ':memory:' ? ':memory:' : sqlitePath === undefined ? join(j.data_dir, 'jitgate.db') : abs(sqlitePath);
  if (j.identity.dev_issuer.enabled) j.identity.dev_issuer.key_file ??= join(j.data_dir, 'dev-issuer.jwk.json');
  j.policy.dir = abs(j.policy.dir);
  j.policy.bundles_dir = abs(j.policy.bundles_dir);
  if (j.policy.shadow) {
    j.policy.shadow.dir = abs(j.policy.shadow.dir);
    j.policy.shadow.bundles_dir = abs(j.policy.shadow.bundles_dir);
  }
  if (j.audit.checkpoint_file) j.audit.checkpoint_file = abs(j.audit.checkpoint_file);
  if (cfg.decision_logs.file?.path) cfg.decision_logs.file.path = abs(cfg.decision_logs.file.path);
  for (const route of j.routes) {
    for (const cred of Object.values(route.credentials)) if (cred.from_file) cred.from_file = abs(cred.from_file);
    const tls = route.upstream_tls;
    if (tls?.ca_file) tls.ca_file = abs(tls.ca_file);
    if (tls?.cert_file) tls.cert_file = abs(tls.cert_file);
    if (tls?.key_file) tls.key_file = abs(tls.key_file);
  }
  for (const service of Object.values(cfg.services)) {
    const bearer = service.credentials?.bearer;
    if (bearer?.token_path) bearer.token_path = abs(bearer.token_path);
    const oauth2 = service.credentials?.oauth2;
    if (oauth2?.client_assertion_path) oauth2.client_assertion_path = abs(oauth2.client_assertion_path);
    const client = service.credentials?.client_tls;
    if (client) {
      client.cert = abs(client.cert);
      client.private_key = abs(client.private_key);
    }
    if (service.tls?.ca_cert) service.tls.ca_cert = abs(service.tls.ca_cert);
  }
  for (const files of [j.listen.tls?.proxy, j.listen.tls?.control]) {
    if (files) {
      files.cert_file = abs(files.cert_file);
      files.key_file = abs(files.key_file);
      const clients = files.client_certificates;
      if (clients) {
        clients.ca_file = abs(clients.ca_file);
        if (clients.crl_file !== undefined) clients.crl_file = abs(clients.crl_file);
      }
    }
  }
  const jwt = j.identity.jwt;
  if (jwt?.public_key_file) jwt.public_key_file = abs(jwt.public_key_file);
  if (jwt?.jwks_file) jwt.jwks_file = abs(jwt.jwks_file);
  if (j.identity.dev_issuer.key_file) j.identity.dev_issuer.key_file = abs(j.identity.dev_issuer.key_file);
}

/** Keys that name a service or a signing key the config does not have (every such key, listed at once). */
function danglingReferences(cfg: GatewayConfig): string[] {
  const references: [key: string, name: string | undefined][] = [
    ['decision_logs.service', cfg.decision_logs.service],
    ...[cfg.jitgate.audit.checkpoint_service ?? []].flat().map((name): [string, string] => ['jitgate.audit.checkpoint_service', name]),
    ...Object.entries(cfg.bundles).map(([name, bundle]): [string, string] => [`bundles.${name}.service`, bundle.service]),
  ];
  return references
    .filter(([, name]) => name !== undefined && !Object.hasOwn(cfg.services, name))
    .map(([key, name]) => `${key}: no service named "${String(name)}" in services`)
    .concat(Object.entries(cfg.bundles)
      .filter(([, bundle]) => bundle.signing?.keyid !== undefined && !Object.hasOwn(cfg.keys, bundle.signing.keyid))
      .map(([name, bundle]) => `bundles.${name}.signing.keyid: no key named "${String(bundle.signing?.keyid)}" in keys`));
}

/** Trusted proxy entries that are not addresses or CIDR blocks: each one listed. */
function invalidTrustedProxies(cfg: GatewayConfig): string[] {
  return invalidProxyEntries(cfg.jitgate.listen.trusted_proxies)
    .map((entry) => `jitgate.listen.trusted_proxies: "${entry}" is neither an IP address nor a CIDR block`);
}

/**
 * Upstream URLs the schema's pattern lets by that would not mean what they say: one that does not
 * parse, one carrying a user name or password (never sent: the URL's origin is, and the password
 * would sit in every decision's input and log line; credentials come from `credentials`), and one
 * with a query or fragment (dropped: the caller's query is what goes).
 */
function invalidUpstreams(cfg: GatewayConfig): string[] {
  const problems: string[] = [];
  cfg.jitgate.routes.forEach((route, i) => {
    const at = `jitgate.routes.${String(i)}.upstream`;
    let url: URL;
    try {
      url = new URL(route.upstream);
    } catch {
      problems.push(`${at}: not a URL`);
      return;
    }
    if (url.username !== '' || url.password !== '') problems.push(`${at}: has a user name or password in it; give the upstream's credential under credentials (from_env or from_file), never in the config`);
    if (url.search !== '' || url.hash !== '' || route.upstream.includes('?') || route.upstream.includes('#')) problems.push(`${at}: has a query or fragment, which would be dropped (each request's own query is sent)`);
  });
  return problems;
}

/**
 * URLs of the services the gateway calls itself (bundle servers, witnesses, decision-log
 * receivers, token endpoints, webhooks, JWKS) that carry a user name or password. undici never
 * sends them (only the URL's origin and path go), so the call goes out without the credential,
 * fails, and the failure is logged with the URL, password included, on every poll or delivery.
 */
function credentialsInServiceUrls(cfg: GatewayConfig): string[] {
  const urls: [at: string, url: string | undefined][] = [
    ...Object.entries(cfg.services).flatMap(([name, s]): [string, string | undefined][] => [
      [`services.${name}.url`, s.url],
      [`services.${name}.credentials.oauth2.token_url`, s.credentials?.oauth2?.token_url],
    ]),
    ...cfg.jitgate.notifications.webhooks.map((hook, i): [string, string] => [`jitgate.notifications.webhooks.${String(i)}.url`, hook.url]),
    ['jitgate.identity.jwt.jwks_url', cfg.jitgate.identity.jwt?.jwks_url],
    ['jitgate.identity.jwt.issuer', cfg.jitgate.identity.jwt?.issuer],
  ];
  return urls.flatMap(([at, text]) => {
    if (text === undefined || !URL.canParse(text)) return [];
    const url = new URL(text);
    return url.username !== '' || url.password !== ''
      ? [`${at}: has a user name or password in it, which is never sent (and would be logged with every failed call); give the credential under the service's credentials, never in the URL`]
      : [];
  });
}

/** Path prefixes that are no path the gateway could match: a query, a fragment, a segment it refuses. */
function invalidPathPrefixes(cfg: GatewayConfig): string[] {
  const problems: string[] = [];
  cfg.jitgate.routes.forEach((route, i) => {
    const prefix = route.match.path_prefix;
    let problem: string | null = prefix.includes('?') || prefix.includes('#') ? 'has a query or fragment' : null;
    try {
      normalizeTarget(prefix, undefined);
    } catch (err) {
      problem ??= isJitgateError(err) ? err.message : 'does not parse';
    }
    if (problem !== null) problems.push(`jitgate.routes.${String(i)}.match.path_prefix: "${prefix}" is not a path the gateway can match (${problem})`);
  });
  return problems;
}

/**
 * Judged headers (`policy_headers`) the upstream never gets as the caller sent them: the gateway
 * drops or replaces them, or a credential of the route sets them. A policy judging one would
 * trust what the caller says while the upstream acts on something else.
 */
function unjudgeableHeaders(cfg: GatewayConfig): string[] {
  const problems: string[] = [];
  cfg.jitgate.routes.forEach((route, i) => {
    const setByCredential = new Set(Object.values(route.credentials).map((c) => c.header?.toLowerCase()));
    route.policy_headers.forEach((name, j) => {
      const why = setByCredential.has(name) ? 'a credential of this route sets it' : unjudgeable(name);
      if (why !== undefined) problems.push(`jitgate.routes.${String(i)}.policy_headers.${String(j)}: "${name}" never reaches the upstream as the caller sent it (${why}), so a policy may not judge it`);
    });
  });
  return problems;
}

/**
 * A route's policy body larger than one caller may hold for the policy would be refused every
 * time (503, "try again shortly"), however long the caller waited: said at load instead.
 */
function unholdableBodies(cfg: GatewayConfig): string[] {
  const listen = cfg.jitgate.listen;
  const share = listen.policy_body_budget_per_caller_bytes ?? defaultCallerShare(listen.policy_body_budget_bytes);
  const most = Math.min(share, listen.policy_body_budget_bytes);
  const problems: string[] = [];
  cfg.jitgate.routes.forEach((route, i) => {
    const max = route.policy_body?.max_bytes;
    if (max !== undefined && max > most) {
      problems.push(`jitgate.routes.${String(i)}.policy_body.max_bytes: ${String(max)} is more than one caller may hold for the policy (${String(most)}: listen.policy_body_budget_bytes and policy_body_budget_per_caller_bytes), so such bodies would always be refused`);
    }
  });
  return problems;
}

/** Node refuses a head limit longer than the whole request's: said here, with the keys. */
function invalidClientTimeouts(cfg: GatewayConfig): string[] {
  const { head_ms: head, request_ms: request } = cfg.jitgate.listen.client_timeouts;
  return head > request ? [`jitgate.listen.client_timeouts: head_ms (${String(head)}) is longer than request_ms (${String(request)}), which includes the head`] : [];
}

/** Workload certificate mappings that name no subjectAltName or two, or one name twice. */
function invalidCertificateIdentities(cfg: GatewayConfig): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  cfg.jitgate.identity.client_certificates.forEach((entry, i) => {
    const key = `jitgate.identity.client_certificates.${String(i)}`;
    const names: string[] = [];
    if (entry.san_uri !== undefined) names.push(`san_uri "${entry.san_uri}"`);
    if (entry.san_dns !== undefined) names.push(`san_dns "${entry.san_dns}"`);
    const [name] = names;
    if (name === undefined || names.length > 1) problems.push(`${key}: needs exactly one of san_uri and san_dns (has ${names.length === 0 ? 'neither' : 'both'})`);
    else if (seen.has(name)) problems.push(`${key}: ${name} is mapped twice`);
    else seen.add(name);
  });
  return problems;
}

/**
 * Sample people of the dev issuer who have a configured service's id: their tokens would be
 * refused (a person and a service never share an id), so the demo config is wrong, not the token.
 */
function peopleNamedAsServices(cfg: GatewayConfig): string[] {
  const { identity } = cfg.jitgate;
  const services = new Map<string, string>();
  identity.api_keys.forEach((k, i) => { services.set(k.subject, `jitgate.identity.api_keys.${String(i)}`); });
  identity.client_certificates.forEach((c, i) => { if (!services.has(c.subject)) services.set(c.subject, `jitgate.identity.client_certificates.${String(i)}`); });
  return Object.keys(identity.dev_issuer.subjects).flatMap((id) => {
    const service = services.get(id);
    return service === undefined ? [] : [`jitgate.identity.dev_issuer.subjects.${id}: "${id}" is the subject of ${service}; a person and a service never share an id`];
  });
}

/**
 * Keys that cannot do what they are named for: an OAuth2 signing key that is missing, has no
 * private key, or cannot sign with its algorithm; a bundle's verification key without a public one.
 */
function unusableKeys(cfg: GatewayConfig): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(cfg.services)) {
    const id = service.credentials?.oauth2?.signing_key;
    if (id === undefined) continue;
    const key = cfg.keys[id];
    const at = `services.${name}.credentials.oauth2.signing_key`;
    if (key === undefined) problems.push(`${at}: no key named "${id}" in keys`);
    else if (key.private_key === undefined) problems.push(`${at}: keys.${id} has no private_key to sign with`);
    else {
      try {
        assertionKey({ algorithm: key.algorithm, private_key: key.private_key });
      } catch (err) {
        problems.push(`keys.${id}.private_key: ${(err as Error).message.replace(/^private_key /, '')}`);
      }
    }
  }
  for (const [name, bundle] of Object.entries(cfg.bundles)) {
    const id = bundle.signing?.keyid;
    if (id !== undefined && cfg.keys[id] !== undefined && cfg.keys[id].key === undefined) {
      problems.push(`bundles.${name}.signing.keyid: keys.${id} has no public key (key) to verify with`);
    }
  }
  return problems;
}

/** Validates a parsed document. Throws CONFIG_INVALID listing every problem (path in the file and why). */
export function buildConfig(doc: unknown, source: string | null): GatewayConfig {
  const copy = structuredClone(doc ?? {}) as Record<string, unknown>;
  if (!validate(copy)) {
    const problems = describeErrors(validate.errors ?? []);
    throw jitgateError('CONFIG_INVALID', `${source ?? 'config'}:\n  - ${problems.join('\n  - ')}`, { problems });
  }
  const cfg = copy as unknown as GatewayConfig;
  // What the schema cannot say: references between blocks, and addresses that must parse.
  const beyondSchema = [...danglingReferences(cfg), ...unusableKeys(cfg), ...invalidTrustedProxies(cfg), ...invalidUpstreams(cfg), ...credentialsInServiceUrls(cfg), ...invalidPathPrefixes(cfg), ...unjudgeableHeaders(cfg), ...invalidClientTimeouts(cfg), ...unholdableBodies(cfg), ...invalidCertificateIdentities(cfg), ...peopleNamedAsServices(cfg)];
  if (beyondSchema.length > 0) throw jitgateError('CONFIG_INVALID', `${source ?? 'config'}:\n  - ${beyondSchema.join('\n  - ')}`, { problems: beyondSchema });
  cfg.source = source;
  // OPA's default resource for a bundle is named after it.
  for (const [name, bundle] of Object.entries(cfg.bundles) as [string, Partial<OpaBundle>][]) bundle.resource ??= `bundles/${name}`;
  // A service's calls are made without the rest of the config: its signing key goes with it.
  for (const service of Object.values(cfg.services)) {
    const oauth2 = service.credentials?.oauth2;
    const key = oauth2?.signing_key === undefined ? undefined : cfg.keys[oauth2.signing_key];
    if (oauth2 && key?.private_key !== undefined) oauth2.signer = { algorithm: key.algorithm, private_key: key.private_key };
  }
  resolvePaths(cfg, source ? dirname(source) : process.cwd());
  return cfg;
}

export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const file = resolve(path);
  // The file names the routes, keys and policies: one any account can write is anyone's gateway.
  const trust = checkFileTrust([file]);
  if (trust.refusals.length > 0) throw jitgateError('CONFIG_READ', refusalMessage(`the configuration file ${file} is`, trust.refusals));
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw jitgateError('CONFIG_READ', `${file}: ${(err as Error).message}`, undefined, err);
  }
  const problems: string[] = [];
  const doc = substituteEnv(text, env, problems);
  if (problems.length > 0) {
    throw jitgateError('CONFIG_INVALID', `${file}:\n  - ${problems.join('\n  - ')}`, { problems });
  }
  return buildConfig(doc, file);
}
