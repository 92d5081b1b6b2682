// Every benchmark in turn, one command: `npm run bench` (or `node --import tsx bench/run.ts`).
// Each one also runs alone, measures its own baselines in the same run and rewrites its own
// section of docs/benchmarks.md. `node --import tsx bench/run.ts proxy policy` runs a subset.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ALL = ['policy', 'grants', 'audit', 'proxy', 'alloc', 'parts', 'body'] as const;
const chosen = process.argv.slice(2);
const unknown = chosen.filter((name) => !(ALL as readonly string[]).includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${ALL.join(', ')}`);
  process.exit(2);
}

for (const name of chosen.length > 0 ? chosen : ALL) {
  console.log(`\n==> bench/${name}.ts`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, `${name}.ts`)], { stdio: 'inherit' });
  if (run.status !== 0) {
    console.error(`bench/${name}.ts failed (${run.signal ?? `exit ${String(run.status)}`})`);
    process.exit(1);
  }
}
