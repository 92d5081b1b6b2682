// A listing filtered by what the caller may see goes on past any number of rows it may not:
// alice lists requests while 12,001 newer ones by carol (which alice may not see) lie on top of
// her own. Each call reads at most MAX_SCAN_ROWS rows (test/admin/page.test.ts); here, through
// the real control API on both stores, the listing must neither end early as if complete nor
// name, in its cursors, a row alice may not see.
import t from 'tap';
import { MAX_SCAN_ROWS } from '../../src/admin/page.js';
import { api, startStack } from './stack.js';

const HIDDEN = 2 * MAX_SCAN_ROWS + 2001;

for (const store of ['sqlite', 'postgres'] as const) {
  t.test(`${store}: a requester's own request under ${String(HIDDEN)} newer ones she may not see`, async (t) => {
    const stack = await startStack({ store });
    t.teardown(() => stack.close());
    const [alice, carol] = await Promise.all([stack.token('alice'), stack.token('carol')]);
    const mine = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: '1h', reason: 'mine' } });
    const theirs = await api(stack.base, 'POST', '/v1/requests', { token: carol, body: { role: 'writer', duration: '1h', reason: 'theirs' } });
    t.equal(mine.status, 201);
    t.equal(theirs.status, 201);
    // carol's request, copied: newer than alice's, one millisecond apart, with ids of their own.
    const [row] = await stack.db.query('SELECT * FROM jitgate_requests WHERE id = $1', [theirs.body.id]);
    const columns = Object.keys(row!);
    const start = Date.parse(String(row!.created_at));
    for (let i = 0; i < HIDDEN - 1; i += 200) {
      const rows = Array.from({ length: Math.min(200, HIDDEN - 1 - i) }, (_, n) => ({ ...row, id: `req_hidden_${String(i + n).padStart(6, '0')}`, created_at: new Date(start + 1 + i + n).toISOString() }));
      const values = rows.map((_r, n) => `(${columns.map((_c, c) => `$${String(n * columns.length + c + 1)}`).join(', ')})`).join(', ');
      await stack.db.query(`INSERT INTO jitgate_requests (${columns.join(', ')}) VALUES ${values}`, rows.flatMap((r) => columns.map((c) => (r as Record<string, unknown>)[c])));
    }

    const hiddenIds = new Set((await stack.db.query("SELECT id FROM jitgate_requests WHERE requester_id = 'carol'")).map((r) => String(r.id)));
    t.equal(hiddenIds.size, HIDDEN);
    const seen: string[] = [];
    const cursors: string[] = [];
    let calls = 0;
    for (let cursor: string | null = ''; cursor !== null && calls < 10; calls++) {
      const page: { status: number; body: { items: { id: string }[]; next_cursor: string | null } } = await api(stack.base, 'GET', `/v1/requests?limit=50${cursor === '' ? '' : `&cursor=${cursor}`}`, { token: alice });
      t.equal(page.status, 200);
      seen.push(...page.body.items.map((r) => r.id));
      cursor = page.body.next_cursor;
      if (cursor !== null) cursors.push(Buffer.from(cursor.split('.')[0] ?? '', 'base64url').toString('utf8'));
    }
    t.same(seen, [mine.body.id], 'alice finds her own request, and nothing of carol\'s');
    t.equal(calls, Math.ceil(HIDDEN / MAX_SCAN_ROWS), 'the listing went on after each call that could read no more, and then ended');
    t.ok(cursors.length > 0 && cursors.every((c) => ![...hiddenIds].some((id) => c.includes(id))), `no cursor names a row she may not see (${cursors.join(' ')})`);
  });
}
