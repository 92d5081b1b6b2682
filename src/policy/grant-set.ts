// A subject's active grants as the policy sees them. The grant cache seals one set per subject
// (sealed.ts) and reuses it until a grant of that subject changes, starts or ends.
import type { PolicyGrant } from './contract.js';
import { seal } from './sealed.js';

export type GrantSet = readonly PolicyGrant[];

/** Freezes `grants` deeply and marks the array as a set that never changes (see seal). */
export function sealGrants(grants: PolicyGrant[]): GrantSet {
  return seal(grants);
}

export const NO_GRANTS: GrantSet = sealGrants([]);
