// Building a decision-log event the way the proxy and the workflow both need it.
import { uuid } from '../uuid.js';
import type { DecisionLogEvent } from './types.js';

export interface DecisionFacts {
  /** Entrypoint, e.g. jitgate/authz (OPA's `path`). */
  path: string;
  input: unknown;
  result: unknown;
  /** Active bundle revision; null when no policy is loaded. */
  revision: string | null;
  /** Nanoseconds spent evaluating (OPA's timer_rego_query_eval_ns). */
  evalNs?: number;
  jitgate?: DecisionLogEvent['jitgate'];
  decisionId?: string;
}

export function decisionEvent(f: DecisionFacts): Omit<DecisionLogEvent, 'labels' | 'erased' | 'masked'> {
  return {
    decision_id: f.decisionId ?? uuid(),
    timestamp: new Date().toISOString(),
    path: f.path,
    input: f.input,
    result: f.result,
    bundles: f.revision === null ? {} : { jitgate: { revision: f.revision } },
    metrics: f.evalNs === undefined ? {} : { timer_rego_query_eval_ns: f.evalNs },
    jitgate: f.jitgate ?? {},
  };
}
