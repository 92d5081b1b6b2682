// What the policy part offers the rest of the gateway.
import type { AuthzInput, AuthzResult, Decision, DecisionLogRules, ElevationInput, ElevationResult } from './contract.js';

/** Read-only view of the currently active policy; swapped atomically on reload. */
export interface PolicyEvaluator {
  /** Revision of the bundle now serving, or null before the first good load. */
  readonly revision: string | null;
  /** Throws JitgateError (POLICY_*) on any failure: callers deny. Synchronous by design. */
  authorize(input: AuthzInput): Decision<AuthzResult>;
  elevation(input: ElevationInput): Decision<ElevationResult>;
}

/** The active policy's decision-log rules (system.log.drop / system.log.mask), for the decision logger. */
export interface DecisionLogRulesSource {
  /**
   * The rules of the policy revision that made the decision (`revision`; the serving one when
   * null): an event logged after a reload, as a long response's is, is ruled as its decision was.
   * Null when that policy defines no such rules (then `eventJson` is not called). Throws
   * JitgateError when they fail, or when that revision's rules are no longer held.
   */
  decisionLogRules(eventJson: () => string, revision: string | null): DecisionLogRules | null;
}

export type PolicyEvent =
  | {
    type: 'loaded';
    revision: string;
    source: 'policies' | 'bundle';
    previous: string | null;
    /**
     * This revision served earlier in this process and was replaced since: a revert, or an older
     * bundle handed out again (a signature does not say which bundle is the newest).
     */
    returned?: true;
  }
  | {
    type: 'rejected';
    revision: string | null;
    source: 'policies' | 'bundle';
    error: string;
    /** The catalogue code of the refusal (POLICY_COMPILE, BUNDLE_INVALID, ...): what tools match on, not `error`. */
    code: string;
  };
