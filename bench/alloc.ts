// Data-path allocation, one command: `node --import tsx bench/alloc.ts`.
// Bytes the JavaScript heap allocates per proxied request, for the bare proxy and jitgate under the
// same wrk load as bench/proxy.ts, from V8's sampling heap profiler (bench/alloc-probe.ts). Unlike
// CPU time, this does not move with other work on the machine: it shows whether a change adds
// per-request garbage (each young-generation collection costs the data path CPU and latency) and
// where jitgate's extra allocations come from. Results go into docs/benchmarks.md
// `## Data path allocation`.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compiled, compileTargets, LOAD_CORE, listening, PATH, PROXY_CORE, root, start, stop, stopAll, wrk } from './harness.js';
import { writeSection } from './docs-section.js';

const WARMUP_S = 4;
const MEASURE_S = Number(process.env.BENCH_DURATION_S ?? 6);
/** Files listed in the attribution table (by the difference jitgate makes). */
const TOP_FILES = 20;

interface ProfileNode {
  callFrame: { url: string };
  selfSize: number;
  children: ProfileNode[];
}

interface Target {
  name: string;
  script: string;
  /** JITGATE_BENCH_WITHOUT for bench/proxy-jitgate.ts. */
  without?: string;
}

const TARGETS: Target[] = [
  { name: 'bare proxy', script: 'proxy-bare.ts' },
  { name: 'jitgate', script: 'proxy-jitgate.ts' },
  { name: 'jitgate without decision log', script: 'proxy-jitgate.ts', without: 'decision-log' },
  { name: 'jitgate without decision log and policy', script: 'proxy-jitgate.ts', without: 'decision-log,policy' },
];

interface Measured {
  target: Target;
  requests: number;
  bytes: number;
  byFile: Map<string, number>;
}

const buildRoot = join(root, 'bench', '.out', 'build');

/** Where an allocation's frame lives: a package, a file of this repository, a Node internal, or V8 itself. */
function placeOf(url: string): string {
  if (url === '') return '(V8 and native)';
  if (url.startsWith('node:')) return url;
  const path = url.startsWith('file:') ? fileURLToPath(url) : url;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return `npm: ${pkg[1] ?? ''}`;
  return relative(buildRoot, path).replace(/\.js$/, '.ts');
}

function sumByPlace(node: ProfileNode, into: Map<string, number>): number {
  let total = node.selfSize;
  if (node.selfSize > 0) {
    const place = placeOf(node.callFrame.url);
    into.set(place, (into.get(place) ?? 0) + node.selfSize);
  }
  for (const child of node.children) total += sumByPlace(child, into);
  return total;
}

async function profileOf(file: string, child: ChildProcess): Promise<ProfileNode> {
  for (let i = 0; i < 300 && !existsSync(file); i++) {
    if (child.exitCode !== null) throw new Error('the proxy exited before writing its profile');
    await sleep(100);
  }
  return (JSON.parse(readFileSync(file, 'utf8')) as { head: ProfileNode }).head;
}

async function measure(target: Target, upstream: string, work: string): Promise<Measured> {
  const profile = join(work, `profile-${String(TARGETS.indexOf(target))}.json`);
  const tokenFile = join(work, `token-${String(TARGETS.indexOf(target))}`);
  const args = ['--import', pathToFileURL(compiled('alloc-probe.ts')).href, compiled(target.script), upstream];
  if (target.script === 'proxy-jitgate.ts') args.push(tokenFile);
  const child = start(PROXY_CORE, process.execPath, args, { JITGATE_ALLOC_PROFILE: profile, JITGATE_BENCH_WITHOUT: target.without ?? '' });
  const port = await listening(child);
  const headers = target.script === 'proxy-jitgate.ts' ? [`Authorization: Bearer ${readFileSync(tokenFile, 'utf8').trim()}`] : [];
  const url = `http://127.0.0.1:${String(port)}${PATH}`;
  wrk(url, WARMUP_S, headers);
  child.kill('SIGUSR2');
  // The profiler starts on the proxy's next turn; the requests before it are not counted either way.
  await sleep(300);
  const run = wrk(url, MEASURE_S, headers);
  child.kill('SIGUSR2');
  const head = await profileOf(profile, child);
  await stop(child);
  if (run.errors > 0) throw new Error(`${target.name}: ${String(run.errors)} requests failed`);
  const byFile = new Map<string, number>();
  const bytes = sumByPlace(head, byFile);
  return { target, requests: run.requests, bytes, byFile };
}

const perRequest = (m: Measured, bytes: number): number => bytes / m.requests;
const kb = (bytes: number): string => (bytes / 1024).toFixed(1);

compileTargets();
const work = mkdtempSync(join(tmpdir(), 'jitgate-alloc-'));
try {
  const upstream = start(LOAD_CORE, process.execPath, [compiled('proxy-upstream.ts')]);
  const upstreamUrl = `http://127.0.0.1:${String(await listening(upstream))}`;
  const results: Measured[] = [];
  for (const target of TARGETS) {
    const m = await measure(target, upstreamUrl, work);
    console.log(`${target.name}: ${kb(perRequest(m, m.bytes))} KiB per request over ${String(m.requests)} requests`);
    results.push(m);
  }
  const [bare, jitgate] = results as [Measured, Measured];
  const rows = results.map((m) => `| ${m.target.name} | ${String(m.requests)} | ${kb(perRequest(m, m.bytes))} | ${(perRequest(m, m.bytes) / perRequest(bare, bare.bytes)).toFixed(2)}× |`);
  const places = new Set([...bare.byFile.keys(), ...jitgate.byFile.keys()]);
  const diff = [...places].map((place) => {
    const b = perRequest(bare, bare.byFile.get(place) ?? 0);
    const j = perRequest(jitgate, jitgate.byFile.get(place) ?? 0);
    return { place, b, j, d: j - b };
  }).sort((x, y) => y.d - x.d).slice(0, TOP_FILES);
  const section = [
    '## Data path allocation',
    '',
    `Command: \`node --import tsx bench/alloc.ts\` (run ${new Date().toISOString()}, Node ${process.version}).`,
    `The targets of bench/proxy.ts (the same build, pinning, upstream and \`wrk -t1 -c50\` load on \`GET ${PATH}\`), each run alone: ${String(WARMUP_S)} s of warm-up, then ${String(MEASURE_S)} s with V8's sampling heap profiler on (a sample every 512 bytes, objects freed by either collection counted: every allocation, not only what lives on; bench/alloc-probe.ts). Bytes per request are the profile's total over the requests wrk completed. Unlike CPU time this figure does not move with other work on the machine, so it tells a change that adds per-request garbage from noise; every young-generation collection it causes costs the data path CPU and delays the requests waiting behind it. The sampling slows each proxy several times over, and jitgate's figure depends a little on how many requests it answers a second: its decision memo answers a repeat of an input in the same millisecond without evaluating it (at about 400 req/s nearly none are repeats, at 2,500 some), so two runs differ by a few percent.`,
    '',
    '| target | requests | KiB allocated per request | vs bare proxy |',
    '|---|---:|---:|---:|',
    ...rows,
    '',
    'Where jitgate allocates more than the bare proxy (KiB per request, by the file of the allocating function: this repository\'s files, npm packages, Node internals, and V8 itself for what native code allocates, such as strings made by concatenation and JSON):',
    '',
    '| allocated in | bare proxy | jitgate | difference |',
    '|---|---:|---:|---:|',
    ...diff.map((r) => `| ${r.place} | ${kb(r.b)} | ${kb(r.j)} | ${kb(r.d)} |`),
  ].join('\n');
  console.log(`written to ${writeSection('Data path allocation', section)}`);
} finally {
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}
