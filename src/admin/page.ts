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

export function pageParams(query: PageQuery): { limit: number; offset: number; fetch: number } {
  const limit = query.limit ?? 50;
  return { limit, offset: query.offset ?? 0, fetch: limit + 1 };
}

export function toPage<T>(rows: T[], page: { limit: number; offset: number }): Page<T> {
  const more = rows.length > page.limit;
  return {
    items: more ? rows.slice(0, page.limit) : rows,
    limit: page.limit,
    offset: page.offset,
    next_offset: more ? page.offset + page.limit : null,
  };
}
