// A new policy is tried on questions the serving one answered lately before it serves. Whether a
// policy fails to decide (a conflict, a result outside the contract, no decision at all) cannot be
// told from its text; swapped in, such a change would turn every request it fails on into a 503
// until the next save. Asked again of the candidate, a question the serving policy answered
// tells before any caller does.
import { jitgateError, isJitgateError } from '../errors.js';
import type { AuthzInput, ElevationInput } from './contract.js';
import type { PolicyEngine } from './engine.js';

/** How many of the latest questions of each kind are kept: a few, for a reload to ask again. */
const KEPT = 16;

/** The failures that are the policy's own (an input the gateway built wrongly is not). */
const POLICY_FAILURES = new Set(['JITGATE_E_POLICY_EVAL', 'JITGATE_E_POLICY_RESULT_INVALID', 'JITGATE_E_POLICY_UNDEFINED']);

export class RecentQuestions {
  readonly #authz: AuthzInput[] = [];
  readonly #elevation: ElevationInput[] = [];
  #nextAuthz = 0;
  #nextElevation = 0;

  /** An authz input the serving policy decided (without an error). */
  authz(input: AuthzInput): void {
    this.#authz[this.#nextAuthz] = input;
    this.#nextAuthz = (this.#nextAuthz + 1) % KEPT;
  }

  /** An elevation input the serving policy decided (without an error). */
  elevation(input: ElevationInput): void {
    this.#elevation[this.#nextElevation] = input;
    this.#nextElevation = (this.#nextElevation + 1) % KEPT;
  }

  /**
   * Throws BUNDLE_INVALID when `candidate` fails one of the kept questions that the serving
   * policy answered, naming the first failure.
   */
  vet(candidate: PolicyEngine): void {
    const asks: (() => unknown)[] = [
      ...this.#authz.map((input) => () => candidate.authorize(input)),
      ...this.#elevation.map((input) => () => candidate.elevation(input)),
    ];
    let failed = 0;
    let first: Error | null = null;
    for (const ask of asks) {
      try {
        ask();
      } catch (error) {
        if (!isJitgateError(error) || !POLICY_FAILURES.has(error.code)) continue;
        failed++;
        first ??= error;
      }
    }
    if (first !== null) {
      throw jitgateError('BUNDLE_INVALID', `revision ${candidate.revision} fails ${String(failed)} of the ${String(asks.length)} latest decisions the serving policy made: ${first.message}`, { revision: candidate.revision });
    }
  }
}
