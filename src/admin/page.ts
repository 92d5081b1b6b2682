// Paging through what the caller may see. The store lists rows newest first; the elevation
// policy hides some of them from the caller. Where a page ends must say nothing of the rows it
// hid: a page ends after its last visible item, and the next begins there (`next_cursor`, the
// item's own place in the list, which the caller has read anyway). Offsets counted stored rows,
// so `next_offset` told a caller how many rows it could not see (`?role=breakglass&limit=1`).
// One call reads at most MAX_SCAN_ROWS rows; a call that finds nothing in them still says there
// is more (an empty page with a `next_cursor`), which then names a time, not a hidden row.
// Cursors are signed, for the listing and caller they were given to: one written by hand (a time
// chosen a millisecond at a time) would have a page that finds nothing say when each hidden row
// was made.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
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
export const CHUNK_ROWS = 200;

/**
 * Scans under way at once, across every caller and listing; the others wait their turn, first
 * come first served. Each row costs an elevation-policy evaluation (about 0.1 ms) and SQLite reads
 * block the event loop, so scans run side by side would each add a chunk's work between two turns
 * of the data path: one caller looping on `GET /v1/requests` held proxied requests for 0.7 s each,
 * three for 3.7 s.
 */
export const MAX_CONCURRENT_SCANS = 2;

let scanning = 0;
const waiting: (() => void)[] = [];

/** Waits for a place among the MAX_CONCURRENT_SCANS; the place is handed on by leaveScan(). */
async function enterScan(): Promise<void> {
  if (scanning < MAX_CONCURRENT_SCANS) {
    scanning++;
    return;
  }
  await new Promise<void>((resolve) => waiting.push(resolve));
}

function leaveScan(): void {
  const next = waiting.shift();
  if (next) next();
  else scanning--;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** What a cursor is good for: one listing (its route and filters) for one caller, under the key every replica shares. */
export interface CursorScope {
  key: Buffer;
  listing: string;
}

/** The scope of `route` listed with `filter` (paging members aside) by `caller`. */
export function cursorScope(key: Buffer, route: string, caller: { kind: string; id: string }, filter: object): CursorScope {
  const members = Object.entries(filter).filter(([name, value]) => value !== undefined && name !== 'limit' && name !== 'offset' && name !== 'cursor');
  members.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { key, listing: JSON.stringify([route, caller.kind, caller.id, members]) };
}

/** 128 bits of HMAC-SHA256 over the listing and the cursor's body. */
function signature(scope: CursorScope, body: string): Buffer {
  return createHmac('sha256', scope.key).update(scope.listing).update('\n').update(body).digest().subarray(0, 16);
}

/** An item's place is [at, id]; a place between rows (no id) is [at]; then `.` and its signature. */
export function encodeCursor(p: ListPosition, scope: CursorScope): string {
  const body = Buffer.from(JSON.stringify(p.id === undefined ? [p.at] : [p.at, p.id]), 'utf8').toString('base64url');
  return `${body}.${signature(scope, body).toString('base64url')}`;
}

export function decodeCursor(cursor: string, scope: CursorScope): ListPosition {
  let value: unknown = null;
  const dot = cursor.indexOf('.');
  const body = dot < 0 ? '' : cursor.slice(0, dot);
  const given = Buffer.from(dot < 0 ? '' : cursor.slice(dot + 1), 'base64url');
  const expected = signature(scope, body);
  if (given.length === expected.length && timingSafeEqual(given, expected)) {
    try {
      value = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      value = null;
    }
  }
  if (Array.isArray(value) && (value.length === 1 || value.length === 2)) {
    const [at, id] = value as unknown[];
    if (typeof at === 'string' && ISO_TIME.test(at)) {
      if (value.length === 1) return { at };
      if (typeof id === 'string' && id !== '' && id.length <= 200) return { at, id };
    }
  }
  throw jitgateError('VALIDATION', 'cursor: pass the next_cursor of an earlier page of this listing, as it was given', { in: 'querystring', field: 'cursor' });
}

/**
 * Where a call that looked at MAX_SCAN_ROWS rows, `first` to `last`, and could see none of them
 * resumes: at `last`'s time, so that the cursor names no row the caller may not see. Every row
 * at that time or older not looked at yet is listed next; rows at that time looked at already
 * are looked at again, which shows nothing twice (none was visible). When every row looked at
 * shares that time (more than MAX_SCAN_ROWS in one millisecond), resuming there would read the
 * same rows again for ever: the place of `last` itself, a hidden row's, is the only way on.
 */
function resumePlace(first: ListPosition, last: ListPosition): ListPosition {
  return last.at < first.at ? { at: last.at } : last;
}

/**
 * Reads the page `query` asks for through `read` (rows after a place, newest first), keeping
 * only the rows `visible` allows, until the page is full, the rows run out, or MAX_SCAN_ROWS were
 * looked at. `next_cursor` is null only when the rows ran out: a listing never ends early as if
 * complete. A full page, or a look stopped at MAX_SCAN_ROWS after finding some, goes on after its
 * last item (so a caller learns nothing from the cursor that the items do not say); a look that
 * found nothing in MAX_SCAN_ROWS answers an empty page whose cursor resumes after the rows it
 * looked at (resumePlace). So a caller learns of the rows it may not see that there are at least
 * MAX_SCAN_ROWS of them in a row, and the time of the last one looked at.
 */
export async function readVisiblePage<T>(
  query: PageQuery,
  scope: CursorScope,
  read: (window: { limit: number; after?: ListPosition }) => Promise<T[]>,
  position: (row: T) => ListPosition,
  visible: (row: T) => boolean,
): Promise<Page<T>> {
  if ((query.offset ?? 0) > 0) {
    throw jitgateError('VALIDATION', 'offset: lists are paged with cursor now (pass the next_cursor of the page before)', { in: 'querystring', field: 'offset' });
  }
  const limit = query.limit ?? 50;
  const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor, scope);
  await enterScan();
  try {
    return await scanPage(limit, cursor, scope, read, position, visible);
  } finally {
    leaveScan();
  }
}

async function scanPage<T>(
  limit: number,
  cursor: ListPosition | undefined,
  scope: CursorScope,
  read: (window: { limit: number; after?: ListPosition }) => Promise<T[]>,
  position: (row: T) => ListPosition,
  visible: (row: T) => boolean,
): Promise<Page<T>> {
  let after = cursor;
  let first: ListPosition | undefined;
  const items: T[] = [];
  let looked = 0;
  for (;;) {
    // The event loop gets a turn before every chunk: a store answering at once (SQLite) would
    // otherwise hold it for the whole scan, MAX_SCAN_ROWS policy evaluations.
    if (looked > 0) await nextTurn();
    const want = Math.min(CHUNK_ROWS, MAX_SCAN_ROWS - looked);
    const rows = await read({ limit: want, ...(after ? { after } : {}) });
    for (const row of rows) {
      looked++;
      after = position(row);
      first ??= after;
      if (!visible(row)) continue;
      items.push(row);
      if (items.length === limit) return { items, limit, next_cursor: encodeCursor(after, scope) };
    }
    if (rows.length < want) return { items, limit, next_cursor: null };
    if (looked >= MAX_SCAN_ROWS) {
      const last = items.at(-1);
      const resume = last !== undefined ? position(last) : first && after ? resumePlace(first, after) : null;
      return { items, limit, next_cursor: resume === null ? null : encodeCursor(resume, scope) };
    }
  }
}
