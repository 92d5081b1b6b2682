// What the other parts report to; the observability part implements it with prom-client.
export interface Metrics {
  proxyRequest(route: string, decision: 'allow' | 'deny' | 'error' | 'unauthenticated', status: number): void;
  /** A decision the policy evaluated, and how long that took. */
  decisionLatency(entrypoint: string, seconds: number): void;
  /** A decision the decision memo answered (no evaluation ran). */
  decisionMemoHit(entrypoint: string): void;
  upstreamLatency(route: string, seconds: number): void;
  policyReload(outcome: 'success' | 'failure'): void;
  policyRevision(revision: string): void;
  decisionLogDropped(count: number): void;
  webhookDropped(count: number): void;
  storeError(operation: string): void;
  /** A request refused because the bodies held for the policy filled their budget (POLICY_BODY_BUSY). */
  policyBodyRefused(): void;
  /** A connection closed as accepted: the listener had its `max_connections` open. */
  connectionDropped(listener: 'proxy' | 'control'): void;
  /** How a shadow policy's decision differed from the live one (DecisionChange). */
  shadowDecision(change: string): void;
  /** Sampled on scrape. */
  setGauges(sample: () => GaugeSample): void;
}

export interface GaugeSample { activeGrants: number; pendingRequests: number }

/** A token issuer's key refreshes, as the metrics sample them on scrape. */
export interface KeyRefreshSample {
  issuer: string;
  /** When a refresh of its keys last succeeded (ms since the epoch); null: never. */
  lastSuccessMs: number | null;
}
