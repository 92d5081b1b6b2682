// Sealed grant sets: a subject's active grants, frozen, so their JSON and their parsed form
// inside each engine's wasm memory can be kept for as long as the same set is handed in again.
// The grant cache seals one set per subject and reuses it until a grant of that subject
// changes, starts or ends; an unsealed array is still accepted and serialized every time.
import type { PolicyGrant } from './contract.js';

export type GrantSet = readonly PolicyGrant[];

/** JSON of each sealed set, computed on first use. */
const sealed = new WeakMap<GrantSet, { json: string | null }>();

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}

/**
 * Freezes `grants` (deeply) and marks the array as a set that never changes, so engines may
 * cache what they derive from it. The caller hands over the array and its grants: they must
 * not be shared with anything that mutates them.
 */
export function sealGrants(grants: PolicyGrant[]): GrantSet {
  deepFreeze(grants);
  sealed.set(grants, { json: null });
  return grants;
}

export const NO_GRANTS: GrantSet = sealGrants([]);

export function isSealed(grants: GrantSet): boolean {
  return sealed.has(grants);
}

/** The set's JSON: computed once for a sealed set, every time for any other array. */
export function grantsJson(grants: GrantSet): string {
  const memo = sealed.get(grants);
  if (!memo) return JSON.stringify(grants);
  return (memo.json ??= JSON.stringify(grants));
}
