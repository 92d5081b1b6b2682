// The paging rule on its own, over rows the test lays out: where a page ends depends on the
// items it shows, and MAX_SCAN_ROWS bounds what one call reads, whatever the limit, without
// ending a listing early.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { CHUNK_ROWS, cursorScope, decodeCursor, encodeCursor, MAX_CONCURRENT_SCANS, MAX_SCAN_ROWS, readVisiblePage, type Page } from '../../src/admin/page.js';
import type { ListPosition } from '../../src/grants/index.js';

interface Row { id: string; at: string; mine: boolean }

/** `n` rows newest first; `mine(i)` says which the caller may see. */
function rows(n: number, mine: (i: number) => boolean): Row[] {
  const start = Date.parse('2027-01-01T00:00:00.000Z');
  return Array.from({ length: n }, (_, i) => ({ id: `r${String(n - i).padStart(6, '0')}`, at: new Date(start + (n - i) * 1000).toISOString(), mine: mine(i) }));
}

function store(all: Row[]): { read: (w: { limit: number; after?: ListPosition }) => Promise<Row[]>; looked: () => number } {
  let looked = 0;
  return {
    read: (w) => {
      const after = w.after;
      const from = after === undefined ? 0 : all.findIndex((r) => (after.id === undefined ? r.at <= after.at : r.at < after.at || (r.at === after.at && r.id < after.id)));
      const out = from < 0 ? [] : all.slice(from, from + w.limit);
      looked += out.length;
      return Promise.resolve(out);
    },
    looked: () => looked,
  };
}

const position = (r: Row): ListPosition => ({ at: r.at, id: r.id });
const mine = (r: Row): boolean => r.mine;
const alice = { kind: 'user', id: 'alice' };
const key = randomBytes(32);
const scope = cursorScope(key, '/v1/requests', alice, {});

t.test('a full page ends at its last item, however many hidden rows lie around it', async (t) => {
  for (const hidden of [0, 3, 40]) {
    const all = rows(hidden + 2, (i) => i === 0 || i === hidden + 1);
    const first = await readVisiblePage({ limit: 1 }, scope, store(all).read, position, mine);
    t.same(first, { items: [all[0]], limit: 1, next_cursor: encodeCursor(position(all[0]!), scope) }, `${String(hidden)} hidden: the same page`);
    const second = await readVisiblePage({ limit: 1, cursor: first.next_cursor! }, scope, store(all).read, position, mine);
    t.same(second.items, [all[hidden + 1]], 'the next page begins after it');
  }
});

t.test('one call reads at most MAX_SCAN_ROWS rows, and a look that finds none there still says there is more', async (t) => {
  const hidden = rows(MAX_SCAN_ROWS + 10, (i) => i === MAX_SCAN_ROWS + 5);
  for (const limit of [1, 50, 500]) {
    const s = store(hidden);
    const page = await readVisiblePage({ limit }, scope, s.read, position, mine);
    const last = hidden[MAX_SCAN_ROWS - 1]!;
    t.same(page, { items: [], limit, next_cursor: encodeCursor({ at: last.at }, scope) }, `limit ${String(limit)}: an empty page, resuming at the time of the last row looked at, naming no row`);
    t.equal(s.looked(), MAX_SCAN_ROWS, 'whatever the limit');
    const next = await readVisiblePage({ limit, cursor: page.next_cursor! }, scope, store(hidden).read, position, mine);
    const found = hidden[MAX_SCAN_ROWS + 5]!;
    t.same(next, { items: [found], limit, next_cursor: limit === 1 ? encodeCursor(position(found), scope) : null }, 'and the next call finds the row the caller may see');
  }
  // Visible: the 4th row, and one 2 * MAX_SCAN_ROWS rows after it (past two calls' reach).
  const far = 3 + 2 * MAX_SCAN_ROWS;
  const some = rows(far + 10, (i) => i === 3 || i === far);
  const listed: Row[] = [];
  let calls = 0;
  for (let cursor: string | null | undefined; cursor !== null && calls < 10; calls++) {
    const s = store(some);
    const page: Page<Row> = await readVisiblePage({ limit: 5, ...(cursor === undefined ? {} : { cursor }) }, scope, s.read, position, mine);
    t.ok(s.looked() <= MAX_SCAN_ROWS, `call ${String(calls + 1)} read ${String(s.looked())} rows`);
    listed.push(...page.items);
    cursor = page.next_cursor;
  }
  t.same(listed, [some[3], some[far]], 'every row the caller may see, each once');
  t.equal(calls, 4, 'found some, then none (twice, saying there is more), then the last');
});

t.test('more than MAX_SCAN_ROWS hidden rows in one millisecond: the listing goes on, past them', async (t) => {
  const at = '2027-01-01T00:00:00.000Z';
  const all: Row[] = [
    ...Array.from({ length: MAX_SCAN_ROWS + 3 }, (_, i) => ({ id: `r${String(99999 - i)}`, at, mine: false })),
    { id: 'r00001', at: '2026-12-31T23:59:59.999Z', mine: true },
  ];
  const first = await readVisiblePage({ limit: 5 }, scope, store(all).read, position, mine);
  t.same(first.items, []);
  t.not(first.next_cursor, null, 'says there is more');
  const second = await readVisiblePage({ limit: 5, cursor: first.next_cursor! }, scope, store(all).read, position, mine);
  t.same(second, { items: [all.at(-1)], limit: 5, next_cursor: null }, 'and the next call reads on from the last row looked at');
});

t.test('cursors: what the API gave round-trips; anything else is a 400', (t) => {
  const p = { at: '2027-01-01T00:00:00.000Z', id: 'req_1' };
  t.same(decodeCursor(encodeCursor(p, scope), scope), p);
  t.same(decodeCursor(encodeCursor({ at: p.at }, scope), scope), { at: p.at }, 'a place between rows: a time alone');
  t.same(decodeCursor(encodeCursor(p, scope), cursorScope(key, '/v1/requests', alice, { limit: 7, cursor: 'x' })), p, 'a page size of its own: the same listing');
  const written = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const given = encodeCursor({ at: p.at }, scope);
  const elsewhere: [string, string][] = [
    ['', 'empty'],
    ['!!', 'not base64url'],
    [written([p.at]), 'written by hand, unsigned (a time the caller chose)'],
    [`${written(['2026-01-01T00:00:00.000Z'])}.${given.split('.')[1] ?? ''}`, 'another time under a given signature'],
    [encodeCursor({ at: p.at }, cursorScope(key, '/v1/grants', alice, {})), 'given for another route'],
    [encodeCursor({ at: p.at }, cursorScope(key, '/v1/requests', alice, { requester: 'alice' })), 'given for another filter (one where the caller makes the rows, and so their times)'],
    [encodeCursor({ at: p.at }, cursorScope(key, '/v1/requests', { kind: 'user', id: 'bob' }, {})), 'given to another caller'],
    [encodeCursor({ at: p.at }, cursorScope(randomBytes(32), '/v1/requests', alice, {})), 'signed with another key'],
  ];
  for (const [bad, what] of elsewhere) t.throws(() => decodeCursor(bad, scope), { code: 'JITGATE_E_VALIDATION' }, what);
  t.end();
});

// A caller looping on a listing it can see nothing of made every check a policy evaluation, with
// SQLite answering at once: the scan held the event loop, and the data path waited (0.7 s per
// proxied request behind one such caller, 3.7 s behind three).
t.test('a scan gives the event loop a turn after each chunk of rows', async (t) => {
  const s = store(rows(MAX_SCAN_ROWS, () => false));
  let lookedAtFirstTurn = -1;
  setImmediate(() => { lookedAtFirstTurn = s.looked(); });
  const page = await readVisiblePage({ limit: 50 }, scope, s.read, position, mine);
  t.same(page.items, [], 'nothing visible');
  t.equal(s.looked(), MAX_SCAN_ROWS, 'every row was still looked at');
  t.ok(lookedAtFirstTurn >= 0 && lookedAtFirstTurn <= CHUNK_ROWS, `the loop turned after at most one chunk (rows read by then: ${String(lookedAtFirstTurn)})`);
});

t.test(`at most ${String(MAX_CONCURRENT_SCANS)} scans run at once, whatever the number of callers; the others wait and are answered`, async (t) => {
  const all = rows(1000, (i) => i === 999);
  let running = 0;
  let most = 0;
  const calls = Array.from({ length: 8 }, async () => {
    const s = store(all);
    let started = false;
    const read: typeof s.read = (w) => {
      if (!started) {
        started = true;
        running++;
        most = Math.max(most, running);
      }
      return s.read(w);
    };
    const page = await readVisiblePage({ limit: 5 }, scope, read, position, mine);
    running--;
    return page;
  });
  const pages = await Promise.all(calls);
  t.equal(most, MAX_CONCURRENT_SCANS, 'scans under way at once');
  t.same(pages.map((p) => p.items.map((r) => r.id)), pages.map(() => [all[999]!.id]), 'every caller got its page');
});
