// How deep a data.json nests, found by one pass over its bytes, before anything parses it.
//
// OPA reads data.json with Go's encoding/json, which refuses more than 10,000 nested levels
// ("invalid character '[' exceeded max depth": `opa eval -b`, `opa run -b`, `opa build -b`).
// The module's parser has no limit of its own: it recurses until the thread's stack runs out,
// which is somewhere else for arrays and objects, and for the main thread and a worker. So
// the limit is OPA's, checked here; and how deep the data is decides where it may be parsed.

/** OPA's limit (Go's encoding/json maxNestingDepth): 10,000 levels load, 10,001 do not. */
export const OPA_MAX_DATA_DEPTH = 10_000;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * The deepest nesting of arrays and objects in `bytes`, counted as Go counts it: each `[` or
 * `{` outside a string is one level (`[]` is 1, `{"a": [1]}` is 2, a lone scalar 0). Stops at
 * the first level past `stopAbove` and returns `{ depth: stopAbove + 1, at }`, `at` being that
 * bracket's byte offset. Brackets inside strings do not count: a `"` opens or closes a string
 * unless escaped, and a `\` inside one skips the byte after it (multi-byte UTF-8 holds no byte
 * below 0x80, so it cannot be taken for either). Text that is not JSON still gets a depth: the
 * parse after this refuses it for what it is.
 */
export function nestingDepth(bytes: Uint8Array, stopAbove: number = Number.POSITIVE_INFINITY): { depth: number; at: number } {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      depth++;
      if (depth > stopAbove) return { depth, at: i };
      if (depth > deepest) deepest = depth;
    } else if ((byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) && depth > 0) {
      // Not below 0: a stray closing bracket cannot buy room for deeper nesting after it.
      depth--;
    }
  }
  return { depth: deepest, at: -1 };
}

/** Throws, as OPA refuses it, when `data` nests more than OPA_MAX_DATA_DEPTH levels. */
export function assertOpaDepth(data: Uint8Array): void {
  const found = nestingDepth(data, OPA_MAX_DATA_DEPTH);
  if (found.depth > OPA_MAX_DATA_DEPTH) {
    throw new Error(`data.json nests more than ${OPA_MAX_DATA_DEPTH.toLocaleString('en')} levels deep (byte ${String(found.at)}), which OPA refuses ("exceeded max depth")`);
  }
}
