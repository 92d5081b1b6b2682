// Offset pagination: fetch one row more than asked to know whether another page exists.

export interface PageQuery {
  limit?: number;
  offset?: number;
}

export interface Page<T> {
  items: T[];
  limit: number;
  offset: number;
  next_offset: number | null;
}

/** Reads the page `query` asks for through `read`, which gets the window to fetch. */
export async function readPage<T>(query: PageQuery, read: (window: { limit: number; offset: number }) => Promise<T[]>): Promise<Page<T>> {
  const limit = query.limit ?? 50;
  const offset = query.offset ?? 0;
  const rows = await read({ limit: limit + 1, offset });
  const more = rows.length > limit;
  return {
    items: more ? rows.slice(0, limit) : rows,
    limit,
    offset,
    next_offset: more ? offset + limit : null,
  };
}
