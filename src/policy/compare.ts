// What counts as a change of one decision between two policies. `jitgate replay` (recorded
// traffic) and shadow evaluation (live traffic) both sort decisions by it, so a change means
// the same thing in a replay report, a decision-log event and a metric.
import { isJitgateError } from '../errors.js';
import type { AuthzInput, AuthzResult } from './contract.js';
import type { PolicyEvaluator } from './types.js';

/** The parts of a decision compared. */
export interface ComparedDecision {
  allow: boolean;
  reason: string | null;
  credential: string | null;
}

/** A candidate's decision, or the error code it failed with (a gateway would deny: 503). */
export type CandidateDecision = ComparedDecision | { error: string };

export type DecisionChange = 'unchanged' | 'allow_to_deny' | 'deny_to_allow' | 'credential_changed' | 'reason_changed' | 'error';

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
}

/** The compared parts of a result as logged or returned; null when it has no boolean `allow`. */
export function comparable(result: unknown): ComparedDecision | null {
  const allow = field(result, 'allow');
  if (typeof allow !== 'boolean') return null;
  return { allow, reason: text(field(result, 'reason')), credential: text(field(field(result, 'obligations'), 'credential')) };
}

/** The candidate's decision on `input` (never throws: a failure is its error code). */
export function decideAgain(candidate: Pick<PolicyEvaluator, 'authorize'>, input: AuthzInput): CandidateDecision {
  try {
    // Validated by the engine against the contract's schema, like every live input and result.
    return comparable(candidate.authorize(input).result) ?? { error: 'JITGATE_E_POLICY_RESULT_INVALID' };
  } catch (err) {
    return { error: isJitgateError(err) ? err.code : 'JITGATE_E_POLICY_EVAL' };
  }
}

/** How `after` differs from `before`: allow first, then (still allowed) the credential, then the reason. */
export function decisionChange(before: ComparedDecision, after: CandidateDecision): DecisionChange {
  if ('error' in after) return 'error';
  if (after.allow !== before.allow) return before.allow ? 'allow_to_deny' : 'deny_to_allow';
  if (after.allow && after.credential !== before.credential) return 'credential_changed';
  return after.reason !== before.reason ? 'reason_changed' : 'unchanged';
}

/** What a shadow policy said about one live decision. */
export interface ShadowOutcome {
  revision: string;
  change: DecisionChange;
  decision: CandidateDecision;
}

/**
 * Asks `shadow` the question `live` answered, for comparison only: nothing it says or throws
 * reaches the request. Null while the shadow has no policy loaded.
 */
export function shadowOutcome(shadow: Pick<PolicyEvaluator, 'authorize' | 'revision'>, input: AuthzInput, live: AuthzResult): ShadowOutcome | null {
  const revision = shadow.revision;
  if (revision === null) return null;
  const decision = decideAgain(shadow, input);
  const before = comparable(live);
  return { revision, change: before ? decisionChange(before, decision) : 'error', decision };
}
