// The per-request decision, shared by plain requests and WebSocket upgrades: normalize, route,
// authenticate, gather grants, evaluate, and record. Every failure is a JitgateError; nothing here
// forwards anything.
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { AuditWriter, DecisionLogEvent, DecisionLogger } from '../audit/index.js';
import type { GrantReader, SubjectKey } from '../grants/index.js';
import type { Authenticator } from '../identity/index.js';
import type { Metrics } from '../observability/index.js';
import type { AuthzInput, AuthzResult, AuthzRoute, Decision, GrantSet, PolicyEvaluator, ShadowOutcome, Subject } from '../policy/index.js';
import { AUTHZ_ENTRYPOINT, seal, shadowOutcome } from '../policy/index.js';
import { isJitgateError, jitgateError, JitgateError, toError } from '../errors.js';
import { uuid } from '../uuid.js';
import { clientCertificate } from '../tls/index.js';
import { peerAddress, type ClientAddress, type ClientAddresses } from './client-address.js';
import type { BodyReads } from './client-errors.js';
import { auditEntryFor } from './audit-entry.js';
import type { CredentialBroker } from './credentials.js';
import { judgedHeaders, onlyChunked, overrideRefusal } from './headers.js';
import { hasBracketKey, normalizeTarget, overridesMethod, type NormalizedTarget } from './normalize.js';
import type { BodyBudget } from './body-budget.js';
import { readPolicyBody, type PolicyBody } from './policy-body.js';
import type { SecretMasker } from './redact.js';
import type { CompiledRoute, RouteTable } from './routes.js';

/** Everything a route reload replaces, swapped as one object so a request sees one consistent set. */
export interface RoutingState {
  routes: RouteTable;
  broker: CredentialBroker;
  masker: SecretMasker;
  /** Per route: the policy input's `route` member, sealed (built once, parsed by the engine once). */
  inputRoutes: ReadonlyMap<string, AuthzRoute>;
}

export function routingState(routes: RouteTable, broker: CredentialBroker, masker: SecretMasker): RoutingState {
  const inputRoutes = new Map(routes.all.map((r) => [r.config.name, seal<AuthzRoute>({
    name: r.config.name, upstream: r.config.upstream, credentials: broker.names(r.config.name),
  })]));
  return { routes, broker, masker, inputRoutes };
}

export interface PipelineDeps {
  /** The current routing state (replaced on config reload). */
  state: () => RoutingState;
  policy: PolicyEvaluator;
  /** A candidate policy asked the same question on every decision, for comparison only. */
  shadow?: PolicyEvaluator | null;
  grants: GrantReader;
  /** Who the caller is on the network (trusted proxies applied; replaced on config reload). */
  clients: () => ClientAddresses;
  authenticator: Authenticator;
  audit: AuditWriter;
  decisionLog: DecisionLogger;
  metrics: Metrics;
  logger: Logger;
  /** Told while the policy's body is read: a caller cut off by the request timer is answered here, with the ids. */
  bodyReads: BodyReads;
  /** The bytes of policy bodies held, all requests together (released by the data path when each request ends). */
  bodyBudget: BodyBudget;
}

/** An error that happened once a decision id existed: the caller still gets the id to quote. */
export class DecidedError extends Error {
  constructor(readonly error: JitgateError, readonly decisionId: string, readonly routeName: string | null) {
    super(error.message, { cause: error });
  }
}

export interface Decided {
  /** The routing state this request was decided under (a reload mid-request does not mix sets). */
  state: RoutingState;
  route: CompiledRoute;
  target: NormalizedTarget;
  subject: Subject;
  /** The caller's address, and what the forwarding headers upstream say about it. */
  client: ClientAddress;
  input: AuthzInput;
  /**
   * The millisecond the request was decided in. input.now_ns holds it in nanoseconds, but as a
   * double above 2^53 that is rounded, and dividing it back can land one millisecond early.
   */
  decidedMs: number;
  /** The verification keys' generation before the subject was verified (a key withdrawn since ends what it opened). */
  keysGeneration: number;
  decision: Decision<AuthzResult>;
  startedNs: bigint;
  /** Routes with `policy_body`: the body the policy judged, and what goes upstream. */
  body: PolicyBody | null;
  /** What the shadow policy, when one is configured and loaded, said about the same input. */
  shadow: ShadowOutcome | null;
  /**
   * The decision this one replaces: the request was allowed under it and recorded so on the
   * trail, then decided again because its grants moved (set by the data path, never by decide()).
   */
  supersedes?: string;
}

type SensitiveName = 'host' | 'authorization' | 'x-api-key' | 'content-type' | 'content-encoding' | 'x-forwarded-for' | 'x-forwarded-proto' | 'forwarded';

/**
 * Headers read once from rawHeaders, so repeated ones (which Node would silently fold or drop) are
 * seen. Content-Type: what kind of body this is (policy-body.ts; Node keeps only the first one);
 * the forwarding headers are believed only from trusted proxies (client-address.ts).
 */
interface SensitiveHeaders extends Record<SensitiveName, readonly string[]> {
  /** A header asking the upstream to act on another method or path (either spelling, `_` or `-`). */
  override: 'METHOD_OVERRIDE' | 'PATH_OVERRIDE' | undefined;
}

/** Shared by every header a request does not send: most send two or three of the eight. */
const NONE: readonly string[] = Object.freeze([]);

function sensitiveHeaders(raw: readonly string[]): SensitiveHeaders {
  const out: SensitiveHeaders = {
    host: NONE, authorization: NONE, 'x-api-key': NONE, 'content-type': NONE, 'content-encoding': NONE, 'x-forwarded-for': NONE, 'x-forwarded-proto': NONE, forwarded: NONE, override: undefined,
  };
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] ?? '').toLowerCase();
    if (name === 'host' || name === 'authorization' || name === 'x-api-key' || name === 'content-type' || name === 'content-encoding'
      || name === 'x-forwarded-for' || name === 'x-forwarded-proto' || name === 'forwarded') {
      const value = raw[i + 1] ?? '';
      const seen = out[name];
      out[name] = seen === NONE ? [value] : [...seen, value];
    } else {
      out.override ??= overrideRefusal(name);
    }
  }
  return out;
}

function one(values: readonly string[]): string | string[] | undefined {
  return values.length === 0 ? undefined : values.length === 1 ? values[0] : [...values];
}

const EMPTY: Record<string, string> = Object.freeze({});

/**
 * Decides a request. `earlier`: this request was decided before (it is being decided again while
 * its WebSocket or response is open): the body the policy read then is read from there, not again.
 */
/**
 * Whether `held`, the grant set a decision read, is no longer what the store vouches for: a grant
 * revoked, ended or added since, or a store the cache cannot vouch for (which counts as a change).
 * The set is sealed and handed out again while unchanged, so this is one lookup and a comparison.
 */
export function grantsMoved(grants: GrantReader, subject: SubjectKey, held: GrantSet, nowMs: number): boolean {
  return !grants.ready || grants.activeGrants(subject, nowMs) !== held;
}

/** How long a request waits for this replica's cache to hear of a change the store already holds. */
const CATCH_UP_MS = 2_000;

/**
 * After a request's audit record is written: whether the grants it was allowed under moved since
 * it was decided, in this replica's cache (a revocation here) or in the store itself (one on
 * another replica, which the change feed brings milliseconds later: the request then waits for
 * the cache to hear of it, so that deciding again sees it). Store trouble, or a cache that does
 * not catch up, refuses the request (notForwarded) and throws as STORE_UNAVAILABLE.
 */
export async function grantsMovedAfterAudit(deps: Pick<PipelineDeps, 'grants' | 'decisionLog' | 'audit' | 'logger'>, d: Decided, requestId: string): Promise<boolean> {
  const { grants } = deps;
  const held = (): boolean => !grantsMoved(grants, d.subject, d.input.grants, Date.now());
  if (!held()) return true;
  let unavailable: JitgateError;
  try {
    if (await grants.stillActive(d.decision.result.grant_ids ?? [], Date.now())) return false;
    const deadline = Date.now() + CATCH_UP_MS;
    while (held() && Date.now() < deadline) await sleep(10);
    if (!held()) return true;
    unavailable = jitgateError('STORE_UNAVAILABLE', 'a grant this request rests on has ended in the store, and this replica has not heard yet; retry');
  } catch (err) {
    unavailable = jitgateError('STORE_UNAVAILABLE', 'the store could not confirm the grants this request rests on', undefined, err);
  }
  throw await notForwarded(deps, d, requestId, unavailable);
}

/**
 * Refuses a request whose allow is already on the trail and that will not go under it after all:
 * the decision is logged with why, and the trail told (recordNotForwarded). Returns what to throw.
 */
export async function notForwarded(deps: Pick<PipelineDeps, 'decisionLog' | 'audit' | 'logger'>, d: Decided, requestId: string, err: JitgateError): Promise<DecidedError> {
  logDecision(deps, d, { error_code: err.code });
  await recordNotForwarded(deps, d, requestId, err.code);
  return new DecidedError(err, d.decision.decision_id, d.route.config.name);
}

/**
 * Writes proxy.not_forwarded for `d`, whose allow is on the trail, so nobody reads that record as
 * a request that reached the upstream. A trail that cannot take it changes nothing for the caller
 * (nothing went upstream either way); the failure is logged.
 */
export async function recordNotForwarded(deps: Pick<PipelineDeps, 'audit' | 'logger'>, d: Decided, requestId: string, errorCode: string): Promise<void> {
  try {
    await deps.audit.append(auditEntryFor(d, 'proxy.not_forwarded', requestId, { error_code: errorCode }));
  } catch (err) {
    deps.logger.error({ err: toError(err), decision_id: d.decision.decision_id, request_id: requestId }, 'audit append failed: the trail keeps an allow whose request was not forwarded');
  }
}

export type Decide = (req: IncomingMessage, requestId: string, earlier?: Decided) => Promise<Decided>;

export function createPipeline(deps: PipelineDeps): Decide {
  const { policy, grants, clients, authenticator, metrics, decisionLog } = deps;

  return async function decide(req: IncomingMessage, requestId: string, earlier?: Decided): Promise<Decided> {
    const startedNs = process.hrtime.bigint();
    // What is known of the request so far: a refusal is logged with it.
    let host: string | undefined;
    let target: NormalizedTarget | undefined;
    let route: CompiledRoute | null = null;
    let client: ClientAddress | undefined;
    let subject: Subject | undefined;
    // Past the policy's answer a failure is not a refusal (the decision stands, and is logged as one).
    let decided = false;
    try {
      const state = deps.state();
      const { routes, inputRoutes } = state;
      const sensitive = sensitiveHeaders(req.rawHeaders);
      if (sensitive.override) throw jitgateError(sensitive.override);
      if (sensitive.host.length > 1) throw jitgateError('REQUEST_AMBIGUOUS', 'repeated Host header');
      const transfer = req.headers['transfer-encoding'];
      if (transfer !== undefined && !onlyChunked(transfer)) throw jitgateError('BAD_REQUEST', 'a transfer coding other than chunked (the body would reach the upstream still coded, and unlabelled)');
      host = sensitive.host[0];
      target = normalizeTarget(req.url ?? '', host);
      if (target.rawQuery !== '' && overridesMethod(target.query)) throw jitgateError('METHOD_OVERRIDE', 'the _method query parameter is not accepted');
      route = routes.match(host, target.path);
      if (!route) throw jitgateError('NO_ROUTE');
      if (target.rawQuery !== '' && route.config.query_brackets !== 'literal' && hasBracketKey(target.query)) {
        throw jitgateError('REQUEST_AMBIGUOUS', 'a [ or ] in a query key (PHP and Rails read `a[]` as `a`): this route does not accept them');
      }
      // Built with the same state as `routes`: a route without one is a bug, not a request to let by.
      const inputRoute = inputRoutes.get(route.config.name);
      if (!inputRoute) throw jitgateError('INTERNAL', `no policy input for route ${route.config.name}`);
      client = clients().resolve(req.socket.remoteAddress ?? '', sensitive);

      const certificate = clientCertificate(req.socket);
      const keysGeneration = authenticator.keysGeneration;
      subject = await authenticator.authenticate({ authorization: one(sensitive.authorization), 'x-api-key': one(sensitive['x-api-key']) }, certificate);

      const cl = req.headers['content-length'];
      if (cl !== undefined && Number(cl) > route.config.body_limit_bytes) throw jitgateError('BODY_TOO_LARGE');
      // Read only for a caller who authenticated: nobody else gets to make the gateway hold bytes.
      const bodyConfig = route.config.policy_body;
      let body: PolicyBody | null = null;
      if (earlier) body = bodyConfig ? earlier.body : null;
      else if (bodyConfig) body = await readPolicyBody(req, { types: sensitive['content-type'], encodings: sensitive['content-encoding'] }, bodyConfig, route.config.body_limit_bytes, { reads: deps.bodyReads, budget: deps.bodyBudget, holder: `${subject.kind}:${subject.id}` });

      const nowMs = Date.now();
      if (!grants.ready) throw jitgateError('STORE_UNAVAILABLE', 'the grant cache is not ready');
      let active: GrantSet;
      try {
        active = grants.activeGrants(subject, nowMs);
      } catch (err) {
        throw isJitgateError(err) ? err : jitgateError('STORE_UNAVAILABLE', undefined, undefined, err);
      }

      const request: AuthzInput['request'] = {
        method: req.method ?? 'GET',
        path: target.path,
        segments: target.segments,
        query: target.query,
        headers: route.config.policy_headers.length === 0 ? EMPTY : judgedHeaders(req.rawHeaders, route.config.policy_headers, requestId),
        host: host ?? '',
        client_ip: client.ip,
      };
      if (certificate) request.client_certificate = certificate;
      if (body) {
        if (body.status === 'parsed') request.body = body.value;
        request.body_status = body.status;
      }
      const input: AuthzInput = {
        request,
        subject,
        grants: active,
        route: inputRoute,
        now_ns: nowMs * 1e6,
      };

      let decision: Decision<AuthzResult>;
      const t0 = process.hrtime.bigint();
      try {
        decision = policy.authorize(input);
      } catch (thrown) {
        const err = isJitgateError(thrown) ? thrown : jitgateError('POLICY_EVAL', undefined, undefined, toError(thrown));
        // Still a decision attempt: it gets an id, a decision-log event, and the caller a 503.
        const decisionId = uuid();
        decisionLog.log({
          decision_id: decisionId,
          timestamp: isoAt(nowMs),
          path: AUTHZ_ENTRYPOINT,
          input,
          result: undefined,
          bundles: policy.revision ? bundlesFor(policy.revision) : {},
          metrics: {},
          jitgate: { route: route.config.name, subject: subject.id, error_code: err.code },
        });
        deps.logger.error({ err: toError(thrown), decision_id: decisionId, request_id: requestId, route: route.config.name }, 'policy evaluation failed; request denied');
        throw new DecidedError(err.status < 500 ? jitgateError('POLICY_EVAL') : err, decisionId, route.config.name);
      }
      decided = true;
      // The histogram is of evaluations: a memo answer is counted apart (it is a lookup).
      if (decision.answered_from === undefined) metrics.decisionLatency(AUTHZ_ENTRYPOINT, Number(process.hrtime.bigint() - t0) / 1e9);
      else metrics.decisionMemoHit(AUTHZ_ENTRYPOINT);
      const shadow = deps.shadow ? shadowOutcome(deps.shadow, input, decision.result) : null;
      if (shadow) metrics.shadowDecision(shadow.change);
      return { state, route, target, subject, client, input, decidedMs: nowMs, keysGeneration, decision, startedNs, body, shadow };
    } catch (thrown) {
      // A failed evaluation was logged where it happened, with the whole input.
      if (thrown instanceof DecidedError || decided) throw thrown;
      const err = isJitgateError(thrown) ? thrown : jitgateError('INTERNAL', undefined, undefined, toError(thrown));
      const decisionId = logRefusal(deps, req, err, { host, target, route, client, subject, startedNs, rechecked: earlier !== undefined });
      if (err !== thrown) deps.logger.error({ err: toError(thrown), decision_id: decisionId, request_id: requestId }, 'unexpected data-path error');
      throw new DecidedError(err, decisionId, route?.config.name ?? null);
    }
  };
}

/** What was known of a request when the gateway refused it, before or without a decision. */
export interface Refused {
  /** The Host header's value (after the check that there is one). */
  host?: string | undefined;
  target?: NormalizedTarget | undefined;
  route?: CompiledRoute | null;
  client?: ClientAddress | undefined;
  subject?: Subject | undefined;
  startedNs?: bigint;
  /** The request was being decided again for its open session, which the refusal ends. */
  rechecked?: boolean;
}

/** How much of a raw path is kept when it did not normalize: enough to see what was tried. */
const RAW_PATH_LOGGED = 1024;

/**
 * Logs a request refused before the policy decided it (no route, no valid identity, an ambiguous
 * target, a body over the limit, a store that cannot vouch for the grants...), so every request
 * the gateway answers leaves a record, with what was known of it: never the credential it
 * presented, and no query the gateway did not parse (it could carry anything). Returns the
 * event's id, for the caller to quote.
 */
export function logRefusal(deps: Pick<PipelineDeps, 'decisionLog' | 'policy'>, req: IncomingMessage, err: JitgateError, known: Refused = {}): string {
  const decisionId = uuid();
  const request: Record<string, unknown> = { method: req.method ?? '' };
  if (known.target) {
    request.path = known.target.path;
    request.query = known.target.query;
  } else {
    // Up to the query or the first `;`: path parameters carry session ids (`;jsessionid=`) as
    // queries carry tokens, and neither is logged unparsed.
    const raw = req.url ?? '';
    const end = raw.search(/[?;]/);
    request.raw_path = (end < 0 ? raw : raw.slice(0, end)).slice(0, RAW_PATH_LOGGED);
  }
  request.host = known.host ?? '';
  request.client_ip = known.client?.ip ?? peerAddress(req.socket.remoteAddress ?? '');
  const input: Record<string, unknown> = { request };
  const facts: DecisionLogEvent['jitgate'] = { error_code: err.code };
  if (known.route) facts.route = known.route.config.name;
  if (known.subject) {
    input.subject = known.subject;
    facts.subject = known.subject.id;
  }
  if (known.rechecked === true) facts.session = 'closed';
  if (known.startedNs !== undefined) facts.latency_ns = Number(process.hrtime.bigint() - known.startedNs);
  const revision = deps.policy.revision;
  deps.decisionLog.log({
    decision_id: decisionId,
    timestamp: isoAt(Date.now()),
    path: AUTHZ_ENTRYPOINT,
    input,
    result: undefined,
    bundles: revision ? bundlesFor(revision) : {},
    metrics: {},
    jitgate: facts,
  });
  return decisionId;
}

/** The events' `bundles` member for a revision: one sealed object (its JSON made once) while the revision stays. */
let lastBundles: { revision: string; bundles: DecisionLogEvent['bundles'] } = { revision: '', bundles: {} };
function bundlesFor(revision: string): DecisionLogEvent['bundles'] {
  if (revision !== lastBundles.revision) lastBundles = { revision, bundles: seal({ jitgate: { revision } }) };
  return lastBundles.bundles;
}

/**
 * ISO-8601 text of a millisecond, kept for the last few: requests come many per millisecond,
 * and they finish out of order (a slot per millisecond, not one for the latest, so requests
 * started a few milliseconds apart do not keep replacing each other's text).
 */
const ISO_SLOTS = 32;
const isoMs = new Float64Array(ISO_SLOTS).fill(NaN);
const isoText: string[] = new Array<string>(ISO_SLOTS).fill('');
function isoAt(ms: number): string {
  const slot = ms % ISO_SLOTS;
  if (isoMs[slot] !== ms) {
    isoMs[slot] = ms;
    isoText[slot] = new Date(ms).toISOString();
  }
  return isoText[slot] as string;
}

export function logDecision(
  deps: Pick<PipelineDeps, 'decisionLog'>,
  d: Decided,
  extra: { upstream_status?: number; error_code?: string; session?: 'rechecked' | 'closed' },
): void {
  const grantIds = d.decision.result.grant_ids;
  // Built field by field (no spreads): this runs once per proxied request.
  const facts: DecisionLogEvent['jitgate'] = { route: d.route.config.name, subject: d.subject.id };
  if (grantIds && grantIds.length > 0) facts.grant_ids = grantIds;
  if (d.decision.answered_from !== undefined) facts.answered_from = d.decision.answered_from;
  if (d.supersedes !== undefined) facts.supersedes = d.supersedes;
  if (extra.upstream_status !== undefined) facts.upstream_status = extra.upstream_status;
  if (extra.error_code !== undefined) facts.error_code = extra.error_code;
  if (extra.session !== undefined) facts.session = extra.session;
  facts.latency_ns = Number(process.hrtime.bigint() - d.startedNs);
  // Only disagreements: the metric counts the rest.
  if (d.shadow && d.shadow.change !== 'unchanged') facts.shadow = { revision: d.shadow.revision, change: d.shadow.change, ...d.shadow.decision };
  deps.decisionLog.log({
    decision_id: d.decision.decision_id,
    timestamp: isoAt(d.decidedMs),
    path: AUTHZ_ENTRYPOINT,
    input: d.input,
    result: d.decision.result,
    bundles: bundlesFor(d.decision.revision),
    metrics: { timer_rego_query_eval_ns: d.decision.eval_ns },
    jitgate: facts,
  }, d.decision.input_json);
}
