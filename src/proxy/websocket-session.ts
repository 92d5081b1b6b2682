// An open WebSocket is access that outlives its handshake: left alone, a socket opened under a
// grant would stay open after the grant expired or was revoked, after the token expired, after
// the policy changed. So the handshake is decided again whenever something it rests on changes
// (the subject's live grants, the policy revision, the routes, the token's expiry) and at least
// every `websocket_recheck_seconds`; a deny, or anything that keeps the gateway from deciding,
// closes both sockets. Every such decision is logged like any other, and a deny is audited.
import type { IncomingMessage } from 'node:http';
import { isJitgateError, toError } from '../errors.js';
import type { GrantSet } from '../policy/index.js';
import { DecidedError, logDecision, type Decided, type PipelineDeps, type RoutingState } from './pipeline.js';

/** How often the cheap checks run (a change is acted on within this). */
const CHECK_INTERVAL_MS = 1_000;

export interface SessionWatchOptions {
  req: IncomingMessage;
  /** The decision that opened the session. */
  opened: Decided;
  decide: (req: IncomingMessage) => Promise<Decided>;
  deps: PipelineDeps;
  /** Audits a deny (as for any denied request); throws when the trail cannot be written. */
  auditDenied: (d: Decided) => Promise<void>;
  /** Closes both sockets; `why` for the log. */
  close: (why: string) => void;
}

/** What the last decision rested on: when any of it changes, the session is decided again. */
interface Basis {
  subjectId: string;
  grants: GrantSet;
  revision: string | null;
  state: RoutingState;
  /** The token's `exp` in milliseconds (Infinity without one: API keys). */
  expiresMs: number;
  decidedMs: number;
}

function basisOf(d: Decided, deps: PipelineDeps, nowMs: number): Basis {
  const exp = d.subject.claims.exp;
  return {
    subjectId: d.subject.id,
    grants: d.input.grants,
    revision: deps.policy.revision,
    state: d.state,
    expiresMs: typeof exp === 'number' ? exp * 1000 : Infinity,
    decidedMs: nowMs,
  };
}

/** Watches an open session until `stop` (call it when either socket closes). */
export function watchSession(o: SessionWatchOptions): { stop(): void } {
  const { deps } = o;
  const recheckMs = o.opened.route.config.websocket_recheck_seconds * 1000;
  let basis = basisOf(o.opened, deps, Date.now());
  let deciding = false;
  let stopped = false;

  const changed = (nowMs: number): boolean => {
    if (nowMs - basis.decidedMs >= recheckMs || nowMs >= basis.expiresMs) return true;
    if (deps.state() !== basis.state || deps.policy.revision !== basis.revision) return true;
    // A store the cache cannot vouch for is a change too: the decision below then denies.
    return !deps.grants.ready || deps.grants.activeGrants(basis.subjectId, nowMs) !== basis.grants;
  };

  const end = (why: string): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    deps.logger.info({ route: o.opened.route.config.name, subject: o.opened.subject.id, decision_id: o.opened.decision.decision_id, why }, 'websocket closed: the access that opened it ended');
    o.close(why);
  };

  const recheck = async (): Promise<void> => {
    let d: Decided;
    try {
      d = await o.decide(o.req);
    } catch (err) {
      // No subject, no route, no policy, no store: nothing vouches for the session any more.
      const reason = err instanceof DecidedError ? err.error.code : isJitgateError(err) ? err.code : toError(err).message;
      end(reason);
      return;
    }
    if (stopped) return;
    if (!d.decision.result.allow || !d.route.config.websocket) {
      try {
        await o.auditDenied(d);
      } finally {
        logDecision(deps, d, { error_code: 'JITGATE_E_FORBIDDEN', websocket: 'closed' });
        end(d.decision.result.reason ?? 'denied');
      }
      return;
    }
    logDecision(deps, d, { upstream_status: 101, websocket: 'rechecked' });
    basis = basisOf(d, deps, Date.now());
  };

  const timer = setInterval(() => {
    if (deciding || stopped || !changed(Date.now())) return;
    deciding = true;
    recheck().catch((err: unknown) => { end(toError(err).message); }).finally(() => { deciding = false; });
  }, CHECK_INTERVAL_MS);
  timer.unref();

  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
