// What the data-path benchmarks share (bench/proxy.ts, bench/ab.ts): the bench targets compiled
// by tsc, processes pinned to a core, wrk's load on the other, and CPU time read from /proc.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
export const CONNECTIONS = 50;
export const PATH = '/api/orders/7';
/** The proxy under test (and its sidecar) runs here; the upstream and wrk on the other core. */
export const PROXY_CORE = '0';
export const LOAD_CORE = '1';
/**
 * Load before a target's first measured round. After 3 s jitgate's first round once ran a fifth
 * above its second (89.5 against 73.6 µs: JIT tiers, the heap and the log's slabs still growing);
 * after 6 s, in three runs, its first and second rounds differed no more than rounds do anyway.
 */
export const WARMUP_S = 6;

/**
 * The Node targets run as tsc's JavaScript, as `jitgate serve` runs from dist/: under tsx every
 * function gets a naming wrapper (esbuild's keepNames), which costs each proxy a few percent.
 */
const BUILD = join('bench', '.out', 'build');

/** Compiles the checkout at `dir` (this one by default) for the bench, with this checkout's tsc. */
export function compileTargets(dir = root): void {
  rmSync(join(dir, BUILD), { recursive: true, force: true });
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.bench.json'], { cwd: dir, stdio: 'inherit' });
}

/** The compiled form of a bench/ script of the checkout at `dir`. */
export function compiled(script: string, dir = root): string {
  return join(dir, BUILD, 'bench', script.replace(/\.ts$/, '.js'));
}

const children: ChildProcess[] = [];

/** Starts `cmd` pinned to `core`; its stderr is passed on but for the lines the bench expects. */
export function start(core: string, cmd: string, args: string[], env: Record<string, string> = {}, cwd = root): ChildProcess {
  const child = spawn('taskset', ['-c', core, cmd, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.push(child);
  child.stderr.on('data', (d: Buffer) => {
    const text = d.toString();
    // The benchmark's dev issuer warns loudly on purpose; that line is expected here.
    if (!text.includes('DEVELOPMENT TOKEN ISSUER') && !text.includes('uid or gid 0')) process.stderr.write(`[${cmd}] ${text}`);
  });
  return child;
}

/** The port a bench target prints as `LISTENING <port>`. */
export function listening(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { reject(new Error('child did not start in 120 s')); }, 120_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /LISTENING (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`child exited (${String(code)})`)); });
  });
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once('exit', () => { r(); }));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(timer);
}

/** Stops every process started here (what a failed run left behind too). */
export async function stopAll(): Promise<void> {
  await Promise.all(children.map(stop));
}

/** A pid and all its descendants (nginx workers). */
export function tree(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch { /* exited */ }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(parents.get(out[i]!) ?? []));
  return out;
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
/** utime+stime in seconds, summed over the processes. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch { /* exited */ }
  }
  return ticks / CLK_TCK;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

export interface WrkResult { rps: number; requests: number; p50: number; p99: number; errors: number }

/**
 * A wrk script that holds each connection `ms` after every answer before it sends again: the
 * offered load is then set by the pace (about CONNECTIONS / (ms + latency) requests a second),
 * not by how fast the proxy answers, so latency shows what the proxy adds rather than its queue.
 */
const paceScripts = new Map<number, string>();
function paceScript(ms: number): string {
  let file = paceScripts.get(ms);
  if (file === undefined) {
    file = join(tmpdir(), `jitgate-bench-pace-${String(ms)}ms.lua`);
    writeFileSync(file, `function delay()\n  return ${String(ms)}\nend\n`);
    paceScripts.set(ms, file);
  }
  return file;
}

/** wrk on the load core: one thread, CONNECTIONS connections, `seconds` long; paced when `paceMs` is given. */
export function wrk(url: string, seconds: number, headers: string[], paceMs?: number): WrkResult {
  const pace = paceMs === undefined ? [] : ['-s', paceScript(paceMs)];
  const args = ['-c', LOAD_CORE, 'wrk', '-t1', `-c${String(CONNECTIONS)}`, `-d${String(seconds)}s`, '--latency', ...pace, ...headers.flatMap((h) => ['-H', h]), url];
  const out = execFileSync('taskset', args, { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps, requests, p50, p99, errors };
}
