// Paging through what the caller may see. The store lists rows newest first; the elevation
// policy hides some of them from the caller. Where a page ends must say nothing of the rows it
// hid: a page ends after its last visible item, and the next begins there (`next_cursor`, the
// item's own place in the list, which the caller has read anyway). Offsets counted stored rows,
// so `next_offset` told a caller how many rows it could not see (`?role=breakglass&limit=1`).
import { jitgateError } from '../errors.js';
import type { ListPosition } from '../grants/index.js';

export interface PageQuery {
  limit?: number;
  /** Only 0 (or absent): stored-row offsets are gone, `cursor` follows a listing. */
  offset?: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  limit: number;
  next_cursor: string | null;
}

/**
 * Stored rows looked at per call, at most, whatever `limit` is: what one caller can make the
 * store and the policy read. Fixed, so that a caller cannot vary it (with `limit`) to measure
 * how many rows it may not see.
 */
export const MAX_SCAN_ROWS = 5000;

/** Rows read from the store per query while a page fills. */
const CHUNK_ROWS = 200;

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

export function encodeCursor(p: ListPosition): string {
  return Buffer.from(JSON.stringify([p.at, p.id]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): ListPosition {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = null;
  }
  if (Array.isArray(value) && value.length === 2) {
    const [at, id] = value as unknown[];
    if (typeof at === 'string' && ISO_TIME.test(at) && typeof id === 'string' && id !== '' && id.length <= 200) return { at, id };
  }
  throw jitgateError('VALIDATION', 'cursor: pass the next_cursor of an earlier page, as it was given', { in: 'query', field: 'cursor' });
}

/**
 * Reads the page `query` asks for through `read` (rows after a place, newest first), keeping
 * only the rows `visible` allows, until the page is full, the rows run out, or MAX_SCAN_ROWS were
 * looked at. `next_cursor` is the place of the page's last item: set when the page is full (so
 * a caller learns nothing from it that the items do not say), and when the look stopped at
 * MAX_SCAN_ROWS after finding some; null otherwise. A look that finds nothing in MAX_SCAN_ROWS
 * ends the listing: the only thing a caller learns of the rows it may not see is that there are
 * at least that many in a row.
 */
export async function readVisiblePage<T>(
  query: PageQuery,
  read: (window: { limit: number; after?: ListPosition }) => Promise<T[]>,
  position: (row: T) => ListPosition,
  visible: (row: T) => boolean,
): Promise<Page<T>> {
  if ((query.offset ?? 0) > 0) {
    throw jitgateError('VALIDATION', 'offset: lists are paged with cursor now (pass the next_cursor of the page before)', { in: 'query', field: 'offset' });
  }
  const limit = query.limit ?? 50;
  let after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const items: T[] = [];
  let looked = 0;
  for (;;) {
    const want = Math.min(CHUNK_ROWS, MAX_SCAN_ROWS - looked);
    const rows = await read({ limit: want, ...(after ? { after } : {}) });
    for (const row of rows) {
      looked++;
      after = position(row);
      if (!visible(row)) continue;
      items.push(row);
      if (items.length === limit) return { items, limit, next_cursor: encodeCursor(after) };
    }
    if (rows.length < want) return { items, limit, next_cursor: null };
    if (looked >= MAX_SCAN_ROWS) {
      const last = items.at(-1);
      return { items, limit, next_cursor: last === undefined ? null : encodeCursor(position(last)) };
    }
  }
}
