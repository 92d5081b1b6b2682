// Sealed values: deeply frozen parts of a policy input that the gateway hands in again and
// again (a subject's grant set, a verified token's subject, a route), so their JSON and their
// parsed form inside each engine's wasm memory can be kept for as long as the same object
// comes back. Anything not sealed is still accepted and serialized every time.

/** JSON of each sealed value, computed on first use. */
const sealed = new WeakMap<object, { json: string | undefined | null }>();

function deepFreeze(value: unknown, seen: Set<object>): void {
  if (typeof value !== 'object' || value === null || seen.has(value)) return;
  seen.add(value);
  // Children too when the value itself is frozen already: shallow freezing is common.
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child, seen);
}

/**
 * Freezes `value` (deeply) and marks it as never changing, so engines may cache what they
 * derive from it. The caller hands it over: nothing may share it and expect to mutate it.
 */
export function seal<T extends object>(value: T): T {
  deepFreeze(value, new Set());
  sealed.set(value, { json: null });
  return value;
}

export function isSealed(value: unknown): value is object {
  return typeof value === 'object' && value !== null && sealed.has(value);
}

/** JSON.stringify(value): computed once for a sealed value, every time for anything else. */
export function jsonOf(value: unknown): string | undefined {
  const memo = typeof value === 'object' && value !== null ? sealed.get(value) : undefined;
  if (!memo) return JSON.stringify(value);
  if (memo.json === null) memo.json = JSON.stringify(value);
  return memo.json;
}

/** `"key":` as JSON.stringify writes a member's name; inputs and events repeat a few dozen. */
const memberNames = new Map<string, string>();

export function memberName(key: string): string {
  let name = memberNames.get(key);
  if (name === undefined) {
    name = `${JSON.stringify(key)}:`;
    // Bounded: hostile key names cannot grow it without limit.
    if (memberNames.size >= 4096) memberNames.clear();
    memberNames.set(key, name);
  }
  return name;
}
