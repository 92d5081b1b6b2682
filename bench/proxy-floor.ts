// Diagnostic: the floor under jitgate's targets. The bare proxy plus only the work the issue names
// for every request, done by jitgate's own parts and nothing else: the request id, the target
// normalized, the cached token looked up, the caller's grant set, one decision (the same engine
// and decision memo), the credential and forwarding headers injected, the answer masked, and the
// decision logged to the same JSONL file. Left out is everything else jitgate checks per request
// (repeated and override headers, the caller's address behind trusted proxies, bodies and their
// budget, cookies, redirects, sessions that outlast their decision, grants moving during the audit
// append, refusals with their ids, metrics): what jitgate costs above this row is the price of
// those checks and of how its pipeline is built; what this row costs above the bare proxy is what
// no gateway keeping the issue's guarantees with these parts can do without.
import type { IncomingHttpHeaders } from 'node:http';
import type { DecisionLogEvent } from '../src/audit/index.js';
import { AUTHZ_ENTRYPOINT, seal, type AuthzInput, type AuthzRoute, type PolicyEvaluator } from '../src/policy/index.js';
import { normalizeTarget, relayUpstream, SecretMasker, type RelayOptions } from '../src/proxy/index.js';
import { uuid } from '../src/uuid.js';
import { headerForwarder, serveProxy, upstreamPool } from './forwarding.js';
import { constantAllow, jitgateParts, SECRETS } from './jitgate-parts.js';

const [upstream, tokenFile] = process.argv.slice(2) as [string, string];
const parts = await jitgateParts(upstream);
const { authenticator, grants } = parts;
// Diagnostic rows switch parts off, as bench/proxy-jitgate.ts's do: what each part costs here.
const without = new Set((process.env.JITGATE_BENCH_WITHOUT ?? '').split(',').filter(Boolean));
const decisionLog = without.has('decision-log') ? { log() { /* off */ } } : parts.decisionLog;
const engine: PolicyEvaluator = without.has('policy') ? constantAllow() : parts.built.engine;
const pool = upstreamPool(upstream);
const route = parts.cfg.jitgate.routes[0]!;
const inputRoute = seal<AuthzRoute>({ name: route.name, upstream: route.upstream, credentials: ['readonly', 'writer'] });
const keys: Record<string, string> = { readonly: SECRETS.BENCH_READ_KEY, writer: SECRETS.BENCH_WRITE_KEY };
const masker = new SecretMasker(Object.values(keys));
const bundles = seal({ jitgate: { revision: engine.revision ?? 'none' } });
const callerHeaders = headerForwarder(['authorization', 'x-api-key', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-request-id']);
const NO_HEADERS: Record<string, string> = Object.freeze({});
const RELAY: RelayOptions = { stallMs: 60_000, lingerAtMs: Infinity, linger: null, maskedOnly: true, headersMs: 30_000 };

await parts.issueToken(tokenFile);
await serveProxy(async (req, res) => {
  const startedNs = process.hrtime.bigint();
  const requestId = uuid();
  const host = req.headers.host ?? '';
  const target = normalizeTarget(req.url ?? '/', host);
  const subject = await authenticator.authenticate({ authorization: req.headers.authorization, 'x-api-key': undefined }, null);
  const nowMs = Date.now();
  const ip = req.socket.remoteAddress ?? '';
  const method = req.method ?? 'GET';
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  const input: AuthzInput = {
    request: { method, path: target.path, segments: target.segments, query: target.query, headers: NO_HEADERS, host, client_ip: ip },
    subject,
    grants: grants.activeGrants(subject, nowMs),
    route: inputRoute,
    now_ns: nowMs * 1e6,
  };
  const decision = engine.authorize(input);
  const event = (status: number): DecisionLogEvent => ({
    decision_id: decision.decision_id, timestamp: new Date(nowMs).toISOString(), path: AUTHZ_ENTRYPOINT, input, result: decision.result,
    bundles, labels: {}, metrics: { timer_rego_query_eval_ns: decision.eval_ns },
    jitgate: { route: route.name, subject: subject.id, upstream_status: status, latency_ns: Number(process.hrtime.bigint() - startedNs) },
  });
  if (!decision.result.allow) {
    res.writeHead(403, { 'x-request-id': requestId, 'x-jitgate-decision-id': decision.decision_id }).end();
    decisionLog.log(event(403), decision.input_json);
    return;
  }
  const headers = callerHeaders(req);
  headers.push('x-forwarded-for', ip, 'x-forwarded-proto', 'http', 'x-forwarded-host', host, 'forwarded', `for=${ip};proto=http;host=${host}`, 'x-request-id', requestId,
    'x-api-key', keys[decision.result.obligations?.credential ?? 'readonly'] ?? '');
  const head = (upstreamHeaders: IncomingHttpHeaders): Record<string, string | string[]> => {
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(upstreamHeaders)) {
      if (value === undefined || name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding') continue;
      const masked = masker.maskedHeader(name, value);
      if (masked !== undefined) out[name] = masked;
    }
    out['x-request-id'] = requestId;
    out['x-jitgate-decision-id'] = decision.decision_id;
    return out;
  };
  const relayed = await relayUpstream(pool, { path: target.path + (target.rawQuery === '' ? '' : `?${target.rawQuery}`), method, headers, body: hasBody ? req : null }, res, masker, head, RELAY);
  decisionLog.log(event(relayed.statusCode), decision.input_json);
}, async () => {
  await pool.close();
  await parts.stop();
});
