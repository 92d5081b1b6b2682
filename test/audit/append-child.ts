// Child process for kill.test.ts: appends under load and prints one line per
// acknowledged append ("ack <seq> <marker>"), until it is killed.
import { createAuditTrail } from '../../src/audit/index.js';
import { PostgresDb } from '../../src/store/postgres.js';
import { SqliteDb } from '../../src/store/sqlite.js';

// Never outlive the test: stop when the parent goes away (stdin closes, stdout breaks) or after a minute.
process.stdin.on('end', () => process.exit(2));
process.stdin.resume();
process.stdout.on('error', () => process.exit(2));
setTimeout(() => process.exit(3), 60_000).unref();

const store = JSON.parse(process.argv[2]!) as { type: 'sqlite'; path: string } | { type: 'postgres'; url: string };
const db = store.type === 'sqlite' ? new SqliteDb(store.path) : new PostgresDb({ url: store.url, poolSize: 4 });
const trail = createAuditTrail(db, { checkpoint_interval_ms: 60000, group_commit_ms: 2 });
await trail.start();
process.stdout.write('ready\n');

let n = 0;
async function worker(w: number): Promise<void> {
  for (;;) {
    const marker = `w${w}-${n++}`;
    const rec = await trail.append({
      kind: 'proxy.allowed_with_grant', actor: 'alice', subject: 'alice', request_id: null, grant_id: marker,
      role: 'writer', route: 'demo', decision_id: marker, policy_revision: 'rev', reason: null, details: { n },
    });
    // Acknowledged only now, after the commit: what the client of a response would see.
    process.stdout.write(`ack ${rec.seq} ${marker}\n`);
  }
}
await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
