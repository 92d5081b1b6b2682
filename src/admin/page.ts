// Offset pagination: fetch one row more than asked to know whether another page exists.
// Offsets count stored rows, so a page of what the caller may see can hold fewer items than
// `limit` (and `next_offset` says where the next look starts).

export interface PageQuery {
  limit?: number;
  offset?: number;
}

export interface PageOptions {
  /**
   * The query names a subject other than the caller: a look that finds none of its rows visible
   * ends the listing. Otherwise where the look stopped would tell a caller who may see none of
   * them how many there are (probing offsets with `limit=1`).
   */
  anotherSubject: boolean;
}

export interface Page<T> {
  items: T[];
  limit: number;
  offset: number;
  next_offset: number | null;
}

/** Stored rows looked at per call, at most, in pages' worth: what one caller can make the store read. */
const MAX_SCAN_PAGES = 10;

/**
 * Reads the page `query` asks for through `read` (which gets the window to fetch), keeping
 * only the rows `visible` allows. It reads on until the page is full, the rows run out, or
 * MAX_SCAN_PAGES pages' worth were looked at; `next_offset` is the first row not looked at
 * (null when none is left).
 */
export async function readVisiblePage<T>(
  query: PageQuery,
  read: (window: { limit: number; offset: number }) => Promise<T[]>,
  visible: (row: T) => boolean,
  options: PageOptions = { anotherSubject: false },
): Promise<Page<T>> {
  const limit = query.limit ?? 50;
  const offset = query.offset ?? 0;
  const items: T[] = [];
  let next = offset;
  for (;;) {
    const rows = await read({ limit: limit + 1, offset: next });
    let looked = 0;
    for (; looked < rows.length && items.length < limit; looked++) {
      const row = rows[looked] as T;
      if (visible(row)) items.push(row);
    }
    next += looked;
    // Every row of a short window looked at: nothing is left.
    if (looked === rows.length && rows.length <= limit) return { items, limit, offset, next_offset: null };
    if (items.length === limit) return { items, limit, offset, next_offset: next };
    if (next - offset >= limit * MAX_SCAN_PAGES) return { items, limit, offset, next_offset: items.length === 0 && options.anotherSubject ? null : next };
  }
}
