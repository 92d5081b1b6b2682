// Interleaved A/B of the data path, one command:
//   node --import tsx bench/ab.ts <git-rev> [rounds=8] [seconds=5] [processes=2]
// jitgate built from <git-rev> (in a temporary worktree) against jitgate as in this checkout,
// all running at once on the proxy core, measured in alternating order round after round under
// the same load (bench/proxy-jitgate.ts and wrk, pinned as in bench/proxy.ts). A change of a
// microsecond or two per request is within one run's noise; it shows as one side ahead in most
// rounds. Each side runs as several processes: two processes of the same build can differ by a
// few µs per request from start to end (where the heap and the compiled code happened to land),
// and with one process per side that luck was once read as a 4 µs gain.
// `JITGATE_BENCH_WITHOUT` (as in bench/proxy.ts's diagnostic rows) applies to both sides.
// Prints each round and a summary; it writes nothing to docs/ (cite its output there by hand).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiled, compileTargets, cpuSeconds, listening, LOAD_CORE, mean, PATH, PROXY_CORE, root, start, stop, stopAll, tree, WARMUP_S, wrk } from './harness.js';

const [rev, roundsArg = '8', secondsArg = '5', processesArg = '2'] = process.argv.slice(2);
const ROUNDS = Number(roundsArg);
const SECONDS = Number(secondsArg);
const PROCESSES = Number(processesArg);

interface Side {
  label: string;
  /** The checkout it is built from. */
  dir: string;
  /** Per round: the mean of the side's processes. */
  cpuUs: number[];
  rps: number[];
}

interface Running { side: Side; label: string; child: ChildProcess; url: string; headers: string[]; cpuUs: number[]; rps: number[] }

function git(args: string[]): string {
  return execFileSync('git', ['-C', root, ...args], { encoding: 'utf8' }).trim();
}

/** A checkout of `revision` beside this one, sharing its installed packages and tools. */
function worktree(revision: string, dir: string): void {
  git(['worktree', 'add', '--detach', dir, revision]);
  for (const shared of ['node_modules', '.tools']) {
    if (existsSync(join(root, shared))) symlinkSync(join(root, shared), join(dir, shared));
  }
  if (!existsSync(join(dir, 'bench', 'proxy-jitgate.ts'))) throw new Error(`${revision} has no bench/proxy-jitgate.ts to compare`);
}

async function up(side: Side, label: string, upstreamPort: number, tokenFile: string): Promise<Running> {
  const child = start(PROXY_CORE, process.execPath, [compiled('proxy-jitgate.ts', side.dir), `http://127.0.0.1:${String(upstreamPort)}`, tokenFile],
    { JITGATE_BENCH_WITHOUT: process.env.JITGATE_BENCH_WITHOUT ?? '' }, side.dir);
  const port = await listening(child);
  return { side, label, child, url: `http://127.0.0.1:${String(port)}${PATH}`, headers: [`Authorization: Bearer ${readFileSync(tokenFile, 'utf8').trim()}`], cpuUs: [], rps: [] };
}

/** One round of one process: a second to settle, then SECONDS measured. */
function measure(r: Running): string {
  wrk(r.url, 1, r.headers);
  const pids = tree(r.child.pid ?? 0);
  const before = cpuSeconds(pids);
  const result = wrk(r.url, SECONDS, r.headers);
  const us = ((cpuSeconds(pids) - before) / result.requests) * 1e6;
  if (result.errors > 0) throw new Error(`${r.label}: ${String(result.errors)} errors in a round`);
  r.cpuUs.push(us);
  r.rps.push(result.rps);
  return `${r.label} ${us.toFixed(1)} µs/req ${result.rps.toFixed(0)} req/s`;
}

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] ?? NaN : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
};

async function main(): Promise<void> {
  if (rev === undefined || !(ROUNDS >= 2) || !(SECONDS >= 1) || !(PROCESSES >= 1)) {
    throw new Error('usage: node --import tsx bench/ab.ts <git-rev> [rounds>=2] [seconds>=1] [processes>=1]');
  }
  if (cpus().length < 2) throw new Error('needs 2 cores (proxies on one, upstream + load on the other)');
  const work = mkdtempSync(join(tmpdir(), 'jg-bench-ab-'));
  const baseDir = join(work, 'base');
  const current: Side = { label: 'this checkout', dir: root, cpuUs: [], rps: [] };
  try {
    const base: Side = { label: `base ${git(['rev-parse', '--short', rev])}`, dir: baseDir, cpuUs: [], rps: [] };
    worktree(rev, baseDir);
    compileTargets(baseDir);
    compileTargets();
    const upstream = start(LOAD_CORE, process.execPath, [compiled('proxy-upstream.ts')]);
    const upstreamPort = await listening(upstream);
    const running: Running[] = [];
    for (let p = 1; p <= PROCESSES; p++) {
      for (const [side, name] of [[base, 'base'], [current, 'this']] as const) {
        const label = PROCESSES === 1 ? side.label : `${side.label} #${String(p)}`;
        running.push(await up(side, label, upstreamPort, join(work, `token-${name}-${String(p)}`)));
      }
    }
    for (const r of running) wrk(r.url, WARMUP_S, r.headers);
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternating order: whatever drifts during a round weighs on both sides alike.
      const order = round % 2 === 1 ? running : [...running].reverse();
      console.log(`round ${String(round)}: ${order.map(measure).join(' | ')}`);
      for (const side of [base, current]) {
        const mine = running.filter((r) => r.side === side);
        side.cpuUs.push(mean(mine.map((r) => r.cpuUs.at(-1) ?? NaN)));
        side.rps.push(mean(mine.map((r) => r.rps.at(-1) ?? NaN)));
      }
    }
    const ahead = current.cpuUs.filter((us, i) => us < (base.cpuUs[i] ?? Infinity)).length;
    console.log('');
    if (PROCESSES > 1) {
      for (const r of running) console.log(`${r.label}: CPU ${mean(r.cpuUs).toFixed(1)} µs/req, ${mean(r.rps).toFixed(0)} req/s`);
    }
    for (const side of [base, current]) {
      console.log(`${side.label}: CPU ${mean(side.cpuUs).toFixed(1)} µs/req (median of the rounds ${median(side.cpuUs).toFixed(1)}), ${mean(side.rps).toFixed(0)} req/s`);
    }
    const delta = mean(current.cpuUs) - mean(base.cpuUs);
    console.log(`this checkout: ${delta >= 0 ? '+' : ''}${delta.toFixed(1)} µs/req (${(mean(current.cpuUs) / mean(base.cpuUs)).toFixed(3)}×), less CPU than the base in ${String(ahead)} of ${String(ROUNDS)} rounds`);
    await stop(upstream);
  } finally {
    await stopAll();
    if (existsSync(baseDir)) git(['worktree', 'remove', '--force', baseDir]);
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
