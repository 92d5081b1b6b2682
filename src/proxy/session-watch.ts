// Access that outlives its decision: an open WebSocket, or a response still streaming (an event
// stream, a long download). Left alone, one opened under a grant would go on after the grant
// expired or was revoked, after the token expired, after the policy changed. So its request is
// decided again whenever something the decision rests on changes (the subject's live grants, the
// policy revision, the routes, the token's expiry, the keys tokens are verified with) and at
// least every `recheck_seconds`; a deny, or anything that keeps the gateway from deciding, ends
// it. Every such decision is logged like any other; a deny is audited, and so is an allow that
// rests on a grant the trail has not yet recorded for this session (it opened on standing access,
// or the grant it opened under ended while another still allows it): no credentialed access goes
// on under a grant the trail does not name.
import type { IncomingMessage } from 'node:http';
import { isJitgateError, toError } from '../errors.js';
import type { SubjectKey } from '../grants/index.js';
import type { GrantSet } from '../policy/index.js';
import { auditEntryFor } from './audit-entry.js';
import { DecidedError, grantsMoved, logDecision, type Decide, type Decided, type PipelineDeps, type RoutingState } from './pipeline.js';

/** How often the cheap checks run: a change is acted on within this. */
const CHECK_INTERVAL_MS = 1_000;

export interface SessionWatchOptions {
  req: IncomingMessage;
  /** The decision that opened the session. */
  opened: Decided;
  decide: Decide;
  deps: PipelineDeps;
  /** The request id the session was opened with, for the audit record of a deny. */
  requestId: string;
  /** Ends the session (both sockets, or the response and its upstream call). */
  close: () => void;
  /** A WebSocket (then the route must still allow WebSockets), or a response. */
  websocket: boolean;
  /** The status the caller got, for the decision log. */
  status: () => number;
}

/** What the last decision rested on: when any of it changes, the session is decided again. */
interface Basis {
  subject: SubjectKey;
  grants: GrantSet;
  revision: string | null;
  state: RoutingState;
  /** The token's `exp` in milliseconds (Infinity without one: API keys). */
  expiresMs: number;
  /** The verification keys' generation: a withdrawn key must end what its tokens opened. */
  keys: number;
  decidedMs: number;
}

function basisOf(d: Decided): Basis {
  const exp = d.subject.claims.exp;
  return {
    subject: d.subject,
    grants: d.input.grants,
    // What the decision rested on, not what serves when the watch starts (a second later, for a
    // lingering response): a policy or key changed in between must count as a change.
    revision: d.decision.revision,
    state: d.state,
    expiresMs: typeof exp === 'number' ? exp * 1000 : Infinity,
    keys: d.keysGeneration,
    decidedMs: d.decidedMs,
  };
}

/** Watches an open session until `stop` (call it when the session ends by itself). */
export function watchSession(o: SessionWatchOptions): { stop(): void } {
  const { deps } = o;
  const recheckMs = o.opened.route.config.recheck_seconds * 1000;
  let basis = basisOf(o.opened);
  /** The grants the trail names for this session (its opening record, and any recorded since). */
  const recorded = new Set(o.opened.decision.result.allow ? (o.opened.decision.result.grant_ids ?? []) : []);
  let deciding = false;
  let stopped = false;

  const changed = (nowMs: number): boolean => {
    // Past the token's expiry the verifier still allows its clock skew: checked every second through it.
    if (nowMs - basis.decidedMs >= recheckMs || nowMs >= basis.expiresMs) return true;
    if (deps.state() !== basis.state || deps.policy.revision !== basis.revision) return true;
    if (deps.authenticator.keysGeneration !== basis.keys) return true;
    // A store the cache cannot vouch for is a change too: the decision below then fails.
    return grantsMoved(deps.grants, basis.subject, basis.grants, nowMs);
  };

  const end = (why: string): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    deps.logger.info({ route: o.opened.route.config.name, subject: o.opened.subject.id, decision_id: o.opened.decision.decision_id, request_id: o.requestId, why }, 'session closed: the access that opened it ended');
    o.close();
  };

  const recheck = async (): Promise<void> => {
    let d: Decided;
    try {
      d = await o.decide(o.req, o.requestId, o.opened);
    } catch (err) {
      // No subject, no route, no policy, no store: nothing vouches for the session any more.
      end(err instanceof DecidedError ? err.error.code : isJitgateError(err) ? err.code : toError(err).message);
      return;
    }
    if (stopped) return;
    if (o.websocket && !d.route.config.websocket) {
      logDecision(deps, d, { error_code: 'JITGATE_E_UPGRADE_REFUSED', session: 'closed' });
      end('the route no longer allows WebSockets');
      return;
    }
    if (!d.decision.result.allow) {
      // Audited like any deny; a trail that cannot be written does not keep the session open.
      let errorCode = 'JITGATE_E_FORBIDDEN';
      try {
        await deps.audit.append(auditEntryFor(d, 'proxy.denied', o.requestId, { session: 'closed' }));
      } catch (err) {
        deps.logger.error({ err: toError(err), decision_id: d.decision.decision_id, request_id: o.requestId }, 'audit append failed; the session is closed all the same');
        errorCode = 'JITGATE_E_AUDIT_UNAVAILABLE';
      }
      logDecision(deps, d, { error_code: errorCode, session: 'closed' });
      end(d.decision.result.reason ?? 'denied');
      return;
    }
    const unrecorded = (d.decision.result.grant_ids ?? []).filter((id) => !recorded.has(id));
    if (unrecorded.length > 0) {
      try {
        await deps.audit.append(auditEntryFor(d, 'proxy.allowed_with_grant', o.requestId, { session: 'rechecked' }));
      } catch (err) {
        deps.logger.error({ err: toError(err), decision_id: d.decision.decision_id, request_id: o.requestId }, 'audit append failed; the session is closed');
        logDecision(deps, d, { error_code: 'JITGATE_E_AUDIT_UNAVAILABLE', session: 'closed' });
        end('its access could not be recorded');
        return;
      }
      for (const id of unrecorded) recorded.add(id);
    }
    logDecision(deps, d, { upstream_status: o.status(), session: 'rechecked' });
    basis = basisOf(d);
  };

  const tick = (): void => {
    if (deciding || stopped || !changed(Date.now())) return;
    deciding = true;
    recheck().catch((err: unknown) => { end(toError(err).message); }).finally(() => { deciding = false; });
  };
  const timer = setInterval(tick, CHECK_INTERVAL_MS);
  timer.unref();
  // At once too: a response starts being watched a second after its decision, and a grant that
  // ended within that second must not wait for another before the response is cut.
  tick();

  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
