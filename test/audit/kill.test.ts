// No loss: a writer killed with SIGKILL mid-load has committed every append it
// acknowledged, and the chain it leaves verifies.
import t from 'tap';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { verifyChain } from '../../src/audit/index.js';
import { DIALECTS, openStore } from './stores.js';

const child = fileURLToPath(new URL('./append-child.ts', import.meta.url));

for (const dialect of DIALECTS) {
  t.test(dialect, async (t) => {
    const s = await openStore(dialect);
    t.teardown(() => s.close());
    const proc = spawn(process.execPath, ['--import', 'tsx', child, JSON.stringify(s.store)], { stdio: ['pipe', 'pipe', 'pipe'] });
    t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const acks = new Map<string, number>();
    const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => { resolve(signal); }));
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: proc.stdout }).on('line', (line) => {
        const [tag, seq, marker] = line.split(' ');
        if (tag !== 'ack') return;
        acks.set(marker!, Number(seq));
        // Kill mid-stream, with appends certainly in flight.
        if (acks.size === 1500) {
          proc.kill('SIGKILL');
          resolve();
        }
      });
      // A writer that dies on its own before the kill fails the test at once, saying why.
      proc.on('exit', (code, signal) => {
        if (acks.size < 1500) reject(new Error(`the writer exited (${signal ?? `code ${String(code)}`}) after ${acks.size} acknowledgements: ${stderr}`));
      });
    });
    t.equal(await exited, 'SIGKILL', 'the writer was killed, not stopped');
    // Lines already in the pipe when the kill landed are acknowledgements too.
    t.ok(acks.size >= 1500);

    const rows = await s.db.query('SELECT seq, grant_id FROM jitgate_audit');
    const stored = new Map(rows.map((r) => [String(r.grant_id), Number(r.seq)]));
    const lost = [...acks].filter(([marker, seq]) => stored.get(marker) !== seq);
    t.same(lost, [], 'every acknowledged append is stored under the seq it was acknowledged with');
    const report = await verifyChain(s.db);
    t.ok(report.ok, 'the chain verifies after the crash');
    t.equal(report.records, rows.length);
  });
}
