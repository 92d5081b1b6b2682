// The paging rule on its own, over rows the test lays out: where a page ends depends on the
// items it shows, and MAX_SCAN_ROWS bounds what one call reads, whatever the limit.
import t from 'tap';
import { decodeCursor, encodeCursor, MAX_SCAN_ROWS, readVisiblePage } from '../../src/admin/page.js';
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
      const from = w.after === undefined ? 0 : all.findIndex((r) => r.at < w.after!.at || (r.at === w.after!.at && r.id < w.after!.id));
      const out = from < 0 ? [] : all.slice(from, from + w.limit);
      looked += out.length;
      return Promise.resolve(out);
    },
    looked: () => looked,
  };
}

const position = (r: Row): ListPosition => ({ at: r.at, id: r.id });
const mine = (r: Row): boolean => r.mine;

t.test('a full page ends at its last item, however many hidden rows lie around it', async (t) => {
  for (const hidden of [0, 3, 40]) {
    const all = rows(hidden + 2, (i) => i === 0 || i === hidden + 1);
    const first = await readVisiblePage({ limit: 1 }, store(all).read, position, mine);
    t.same(first, { items: [all[0]], limit: 1, next_cursor: encodeCursor(position(all[0]!)) }, `${String(hidden)} hidden: the same page`);
    const second = await readVisiblePage({ limit: 1, cursor: first.next_cursor! }, store(all).read, position, mine);
    t.same(second.items, [all[hidden + 1]], 'the next page begins after it');
  }
});

t.test('one call reads at most MAX_SCAN_ROWS rows; a look that finds none there ends the listing', async (t) => {
  const hidden = rows(MAX_SCAN_ROWS + 10, (i) => i === MAX_SCAN_ROWS + 5);
  for (const limit of [1, 50, 500]) {
    const s = store(hidden);
    const page = await readVisiblePage({ limit }, s.read, position, mine);
    t.same(page, { items: [], limit, next_cursor: null }, `limit ${String(limit)}`);
    t.equal(s.looked(), MAX_SCAN_ROWS, 'whatever the limit');
  }
  // Visible: the 4th row, and one MAX_SCAN_ROWS - 1 rows after it (past the first call's reach).
  const some = rows(MAX_SCAN_ROWS + 10, (i) => i === 3 || i === MAX_SCAN_ROWS + 2);
  const page = await readVisiblePage({ limit: 5 }, store(some).read, position, mine);
  t.same(page.items, [some[3]]);
  t.equal(page.next_cursor, encodeCursor(position(some[3]!)), 'a look that found some goes on after the last it found');
  const next = await readVisiblePage({ limit: 5, cursor: page.next_cursor! }, store(some).read, position, mine);
  t.same(next, { items: [some[MAX_SCAN_ROWS + 2]], limit: 5, next_cursor: encodeCursor(position(some[MAX_SCAN_ROWS + 2]!)) }, 'and finds the next within its own reach');
  const last = await readVisiblePage({ limit: 5, cursor: next.next_cursor! }, store(some).read, position, mine);
  t.same(last, { items: [], limit: 5, next_cursor: null }, 'the rows run out');
});

t.test('cursors: what the API gave round-trips; anything else is a 400', (t) => {
  const p = { at: '2027-01-01T00:00:00.000Z', id: 'req_1' };
  t.same(decodeCursor(encodeCursor(p)), p);
  for (const bad of ['', '!!', Buffer.from('{"at":1}').toString('base64url'), Buffer.from('["2027-01-01","x"]').toString('base64url')]) {
    t.throws(() => decodeCursor(bad), { code: 'JITGATE_E_VALIDATION' });
  }
  t.end();
});
