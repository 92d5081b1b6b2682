// Data-path benchmark, one command: `node --import tsx bench/proxy.ts`.
// Side by side in one run, on loopback, against the same upstream: direct, a bare fastify+undici
// proxy, nginx (Debian), a fastify proxy asking `opa run --server` per request, and jitgate.
// The proxy under test (and its sidecar) is pinned to core 0; upstream and wrk to core 1.
// Results (req/s, p50, p99, proxy CPU per request, ratios) go into docs/benchmarks.md `## Data path`.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { requireOpa } from '../src/policy/index.js';
import { compiled, compileTargets, CONNECTIONS, cpuSeconds, listening, LOAD_CORE, mean, PATH, PROXY_CORE, root, start, stop, stopAll, tree, WARMUP_S, wrk, type WrkResult } from './harness.js';
import { writeSection } from './docs-section.js';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
/** The measured time per target is split into this many interleaved rounds; the best round is reported. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
/**
 * The latency target is also measured at paced loads: each of wrk's connections waits this long
 * after every answer before its next request, so both proxies get the same offered load (about
 * 4,500, 8,500 and 12,000 req/s here: under either one's capacity) and latency shows what a proxy
 * adds to a request rather than how long its queue grows when saturated. The check is at the first.
 */
const PACES_MS = [10, 5, 3];
const PACED_ROUNDS = 3;
const PACED_S = 4;
/** The targets the latency target compares. */
const PACED_TARGETS = ['bare proxy', 'jitgate'];
/** Processes of each target the ratios are taken from (see Target.processes). */
const PROCESSES = 2;

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function ensureTools(): void {
  const missing = ['nginx', 'wrk'].filter((c) => !have(c) && !existsSync(`/usr/sbin/${c}`));
  if (missing.length === 0) return;
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  console.log(`installing ${missing.join(', ')} from Debian...`);
  execFileSync(sudo[0] ?? 'apt-get', [...(sudo.length ? ['apt-get'] : []), 'update'], { stdio: 'inherit' });
  execFileSync(sudo[0] ?? 'apt-get', [...(sudo.length ? ['apt-get'] : []), 'install', '-y', '--no-install-recommends', 'nginx', 'wrk'], { stdio: 'inherit' });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => { resolve(typeof addr === 'object' && addr ? addr.port : 0); });
    });
    s.on('error', reject);
  });
}

interface Target {
  name: string;
  describe: string;
  /** Extra rows that attribute jitgate's cost; not part of the targets' checks. */
  diagnostic?: boolean;
  /**
   * Processes run of this target; its row is their mean. Two processes of the same build can
   * differ by a few µs per request from start to end (where the heap and the compiled code
   * happened to land), so the two the ratios are taken from run as PROCESSES each.
   */
  processes?: number;
  /** Starts the target; returns its URL, the pids whose CPU counts, extra headers, and a stop. */
  up(upstreamPort: number): Promise<{ url: string; pids: () => number[]; headers: string[]; down: () => Promise<void> }>;
}

async function nodeProxy(script: string, args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; port: number }> {
  const child = start(PROXY_CORE, process.execPath, [compiled(script), ...args], env);
  return { child, port: await listening(child) };
}

const work = mkdtempSync(join(tmpdir(), 'jg-bench-proxy-'));

const targets: Target[] = [
  {
    name: 'direct',
    describe: 'wrk straight to the upstream (no proxy)',
    up: (up) => Promise.resolve({ url: `http://127.0.0.1:${up}`, pids: () => [], headers: [], down: () => Promise.resolve() }),
  },
  {
    name: 'bare proxy',
    processes: PROCESSES,
    describe: 'fastify + undici Pool, forwarding through jitgate\'s own relay (undici dispatch), no identity/policy/logging (bench/proxy-bare.ts); the baseline of the targets',
    async up(up) {
      const { child, port } = await nodeProxy('proxy-bare.ts', [`http://127.0.0.1:${up}`]);
      return { url: `http://127.0.0.1:${port}`, pids: () => tree(child.pid!), headers: [], down: () => stop(child) };
    },
  },
  {
    name: 'bare proxy with Pool.request()',
    describe: 'reference: the usual fastify + undici proxy, forwarding with `Pool.request()` and piping its body (bench/proxy-bare-request.ts); not used for the targets',
    diagnostic: true,
    async up(up) {
      const { child, port } = await nodeProxy('proxy-bare-request.ts', [`http://127.0.0.1:${up}`]);
      return { url: `http://127.0.0.1:${port}`, pids: () => tree(child.pid!), headers: [], down: () => stop(child) };
    },
  },
  {
    name: 'nginx',
    describe: 'nginx (Debian) reverse proxy, 1 worker, upstream keep-alive (bench/proxy-nginx.conf.template)',
    async up(up) {
      const port = await freePort();
      const dir = join(work, 'nginx');
      mkdirSync(dir, { recursive: true });
      const conf = readFileSync(join(root, 'bench', 'proxy-nginx.conf.template'), 'utf8')
        .replaceAll('{{PORT}}', String(port)).replaceAll('{{UPSTREAM_PORT}}', String(up)).replaceAll('{{DIR}}', dir);
      writeFileSync(join(dir, 'nginx.conf'), conf);
      const nginx = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
      const child = start(PROXY_CORE, nginx, ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')]);
      await waitHttp(`http://127.0.0.1:${port}${PATH}`);
      return { url: `http://127.0.0.1:${port}`, pids: () => tree(child.pid!), headers: [], down: () => stop(child) };
    },
  },
  {
    name: 'OPA sidecar proxy',
    describe: 'fastify + undici proxy, cached JWT verification, one HTTP call per request to `opa run --server` (same Rego, Go interpreter, same core) (bench/proxy-opa-sidecar.ts)',
    async up(up) {
      const opaPort = await freePort();
      const opaBin = await requireOpa();
      const opa = start(PROXY_CORE, opaBin, ['run', '--server', '--addr', `127.0.0.1:${opaPort}`, '--log-level', 'error', join(root, 'policies')]);
      await waitHttp(`http://127.0.0.1:${opaPort}/health`);
      const tokenFile = join(work, 'opa-token');
      const { child, port } = await nodeProxy('proxy-opa-sidecar.ts', [`http://127.0.0.1:${up}`, `http://127.0.0.1:${opaPort}`, tokenFile]);
      const token = readFileSync(tokenFile, 'utf8').trim();
      return {
        url: `http://127.0.0.1:${port}`,
        pids: () => [...tree(child.pid!), ...tree(opa.pid!)],
        headers: [`Authorization: Bearer ${token}`],
        down: async () => { await stop(child); await stop(opa); },
      };
    },
  },
  {
    name: 'jitgate',
    processes: PROCESSES,
    describe: 'jitgate data path: JWT (dev issuer, verified-token cache), sample policies in opa-wasm with 2 live grants in the input (the same input met again in the same millisecond answered by the decision memo: wrk\'s identical requests are its best case), credential injection + response masking, decision log to a JSONL file, Prometheus metrics (bench/proxy-jitgate.ts)',
    async up(up) {
      return jitgateTarget(up, '');
    },
  },
  {
    name: 'jitgate with a shadow policy',
    describe: 'diagnostic: jitgate with `jitgate.policy.shadow` set (the same sample policies as a second engine, asked every decision, never enforced): what comparing a candidate on live traffic costs',
    diagnostic: true,
    up: (up) => jitgateTarget(up, '', 'shadow'),
  },
  {
    name: 'jitgate without the decision memo',
    describe: 'diagnostic: jitgate evaluating every request, as it does for requests that differ (another path, caller or grant set, or another millisecond)',
    diagnostic: true,
    up: (up) => jitgateTarget(up, 'memo'),
  },
  {
    name: 'jitgate without decision log',
    describe: 'diagnostic: jitgate with the decision logger replaced by a no-op (shows what decision logging costs)',
    diagnostic: true,
    up: (up) => jitgateTarget(up, 'decision-log'),
  },
  {
    name: 'jitgate without decision log and policy',
    describe: 'diagnostic: additionally the opa-wasm evaluation replaced by a constant allow (what remains is identity, routing, normalization, credential injection, masking, metrics)',
    diagnostic: true,
    up: (up) => jitgateTarget(up, 'decision-log,policy'),
  },
  {
    name: 'floor: the named work only',
    describe: 'diagnostic: the bare proxy plus only the work the issue names for every request, with jitgate\'s own parts: request id, target normalized, cached token, grant set, one decision (same engine and memo), credential and forwarding headers, the answer masked, the decision logged to the same file (bench/proxy-floor.ts); none of jitgate\'s other checks, no metrics',
    diagnostic: true,
    processes: PROCESSES,
    async up(up) {
      return jitgateTarget(up, '', '', 'proxy-floor.ts');
    },
  },
  {
    name: 'floor without decision log',
    describe: 'diagnostic: the floor with the decision logger replaced by a no-op',
    diagnostic: true,
    up: (up) => jitgateTarget(up, 'decision-log', '', 'proxy-floor.ts'),
  },
  {
    name: 'floor without decision log and policy',
    describe: 'diagnostic: additionally the opa-wasm evaluation replaced by a constant allow (what remains is the request id, normalization, the cached token, the grant set, the headers and masking)',
    diagnostic: true,
    up: (up) => jitgateTarget(up, 'decision-log,policy', '', 'proxy-floor.ts'),
  },
];

async function jitgateTarget(up: number, without: string, withParts = '', script = 'proxy-jitgate.ts'): ReturnType<Target['up']> {
  const tokenFile = join(work, `jitgate-token-${script}-${without || withParts || 'full'}`);
  const { child, port } = await nodeProxy(script, [`http://127.0.0.1:${up}`, tokenFile], { JITGATE_BENCH_WITHOUT: without, JITGATE_BENCH_WITH: withParts });
  const token = readFileSync(tokenFile, 'utf8').trim();
  return { url: `http://127.0.0.1:${port}`, pids: () => tree(child.pid!), headers: [`Authorization: Bearer ${token}`], down: () => stop(child) };
}

async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const res = await request(url);
      await res.body.dump();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${url} did not come up`);
}

interface Row { target: Target; result: WrkResult; cpuPerReqUs: number | null }

/** A target's paced rounds, and the one with the median p99 (neither its best nor its worst). */
interface PacedRow { target: Target; paceMs: number; rounds: Row[]; median: Row }

interface Running { target: Target; t: Awaited<ReturnType<Target['up']>>; label: string }

function measure({ target, t, label }: Running, round: number, seconds: number, paceMs?: number): Row {
  const pids = t.pids();
  const cpu0 = cpuSeconds(pids);
  const result = wrk(`${t.url}${PATH}`, seconds, t.headers, paceMs);
  const cpu1 = cpuSeconds(pids);
  const cpuPerReqUs = pids.length ? ((cpu1 - cpu0) / result.requests) * 1e6 : null;
  const how = paceMs === undefined ? '' : ` (paced ${String(paceMs)} ms)`;
  console.log(`round ${round} ${label}${how}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, CPU/req ${cpuPerReqUs?.toFixed(1) ?? '-'} µs, errors ${result.errors}`);
  return { target, result, cpuPerReqUs };
}

/** A target's processes' rows as one: their means (requests and errors summed). */
function combined(target: Target, rows: readonly Row[]): Row {
  const meanOf = (f: (r: Row) => number): number => mean(rows.map(f));
  const sumOf = (f: (r: Row) => number): number => rows.reduce((a, r) => a + f(r), 0);
  return {
    target,
    result: { rps: meanOf((r) => r.result.rps), requests: sumOf((r) => r.result.requests), p50: meanOf((r) => r.result.p50), p99: meanOf((r) => r.result.p99), errors: sumOf((r) => r.result.errors) },
    cpuPerReqUs: rows.every((r) => r.cpuPerReqUs !== null) ? meanOf((r) => r.cpuPerReqUs ?? 0) : null,
  };
}

async function main(): Promise<void> {
  if (cpus().length < 2) throw new Error('needs 2 cores (proxy on one, upstream + load on the other)');
  ensureTools();
  compileTargets();
  const upstream = start(LOAD_CORE, process.execPath, [compiled('proxy-upstream.ts')]);
  const upstreamPort = await listening(upstream);
  const rows: Row[] = [];
  const paced: PacedRow[] = [];
  // BENCH_TARGETS='bare proxy,jitgate' runs a subset by exact names (quick iterations; no report).
  const only = process.env.BENCH_TARGETS?.split(',').map((s) => s.trim());
  const chosen = targets.filter((x) => !only || only.includes(x.name));
  // Every target is started up front (idle ones cost nothing), then measured round-robin: a burst
  // of load from elsewhere on the machine hits one round of one target, and the better round counts.
  const running: Running[] = [];
  try {
    for (const target of chosen) for (let p = 1; p <= (target.processes ?? 1); p++) {
      const t = await target.up(upstreamPort);
      running.push({ target, t, label: target.processes === undefined ? target.name : `${target.name} #${String(p)}` });
      const probe = await request(`${t.url}${PATH}`, { headers: Object.fromEntries(t.headers.map((h) => h.split(': ') as [string, string])) });
      await probe.body.dump();
      if (probe.statusCode !== 200) throw new Error(`${target.name}: probe answered ${probe.statusCode}`);
    }
    const best = new Map<Running, Row>();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const r of running) {
        wrk(`${r.t.url}${PATH}`, round === 1 ? WARMUP_S : 1, r.t.headers);
        const row = measure(r, round, Math.max(1, Math.round(DURATION_S / ROUNDS)));
        const prev = best.get(r);
        if (!prev || row.result.rps > prev.result.rps) best.set(r, row);
      }
    }
    for (const target of chosen) rows.push(combined(target, running.filter((r) => r.target === target).map((r) => best.get(r)!)));
    for (const paceMs of PACES_MS) {
      const pacedRounds = new Map<Target, Row[]>();
      for (let round = 1; round <= PACED_ROUNDS; round++) {
        for (const r of running.filter((x) => PACED_TARGETS.includes(x.target.name))) {
          // A second at the pace first, as the saturated rounds settle: the first paced round
          // otherwise met the collections the saturated ones left behind.
          wrk(`${r.t.url}${PATH}`, 1, r.t.headers, paceMs);
          pacedRounds.set(r.target, [...(pacedRounds.get(r.target) ?? []), measure(r, round, PACED_S, paceMs)]);
        }
      }
      for (const [target, rounds] of pacedRounds) {
        const byP99 = [...rounds].sort((a, b) => a.result.p99 - b.result.p99);
        paced.push({ target, paceMs, rounds, median: byP99[Math.floor(byP99.length / 2)]! });
      }
    }
  } finally {
    for (const { t } of running) await t.down();
    await stop(upstream);
  }
  if (rows.length === targets.length) writeReport(rows, paced);
  else console.log('subset run: docs/benchmarks.md not updated');
}

/** Where jitgate's CPU per request goes, from the diagnostic rows measured in the same run. */
function attribution(rows: Row[]): string[] {
  const cpu = (n: string): number | null => rows.find((r) => r.target.name === n)?.cpuPerReqUs ?? null;
  const full = cpu('jitgate');
  const noLog = cpu('jitgate without decision log');
  const core = cpu('jitgate without decision log and policy');
  const bare = cpu('bare proxy');
  const shadow = cpu('jitgate with a shadow policy');
  const noMemo = cpu('jitgate without the decision memo');
  const floor = cpu('floor: the named work only');
  if (full === null || noLog === null || core === null || bare === null) return [];
  const us = (v: number) => `${v.toFixed(0)} µs`;
  const usual = rows.find((r) => r.target.name === 'bare proxy with Pool.request()');
  const jitgate = rows.find((r) => r.target.name === 'jitgate');
  const reference = usual?.cpuPerReqUs && jitgate ? [
    `The targets are checked against the bare proxy forwarding as jitgate does. The usual fastify + undici proxy (\`Pool.request()\`) used ${us(usual.cpuPerReqUs)} per request in this run (${us(usual.cpuPerReqUs - bare)} more than the same proxy forwarding as jitgate does); against it jitgate's ratios would be ${(jitgate.result.rps / usual.result.rps).toFixed(2)}× req/s and ${(full / usual.cpuPerReqUs).toFixed(2)}× CPU per request. Those are not the ones reported above.`,
    '',
  ] : [];
  return [
    `CPU per request, attributed (differences between rows of this run; single runs are noisy to ±10 µs): forwarding as in the bare proxy ${us(bare)}; identity, routing, normalization, credential injection, masking, ids and metrics ${us(core - bare)}; policy evaluation (opa-wasm, with input/result validation) ${us(noLog - core)}; decision logging (masking, serialization, JSONL file sink) ${us(full - noLog)}.${noMemo === null ? '' : ` Evaluating every request, the decision memo off, costs ${us(noMemo - full)} more (${(noMemo / bare).toFixed(2)}× the bare proxy's CPU per request).`}${shadow === null ? '' : ` A shadow policy adds ${us(shadow - full)} (${(shadow / full).toFixed(2)}× jitgate's CPU per request).`}`,
    '',
    ...(floor === null ? [] : [
      `The floor (the bare proxy plus only the work the issue names, with jitgate's own parts) used ${us(floor)} per request: ${(floor / bare).toFixed(2)}× the bare proxy, against the 1.25× target; the named work costs ${us(floor - bare)} there, and jitgate's other checks and the way its pipeline is built ${us(full - floor)} more.`,
      '',
    ]),
    ...reference,
  ];
}

function writeReport(rows: Row[], paced: PacedRow[]): void {
  const by = (n: string) => rows.find((r) => r.target.name === n)!;
  const j = by('jitgate'); const bare = by('bare proxy'); const nginx = by('nginx'); const opa = by('OPA sidecar proxy');
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  const checks: [string, string, boolean][] = [
    ['jitgate req/s ≥ 0.80 × bare proxy', ratio(j.result.rps, bare.result.rps), j.result.rps >= 0.8 * bare.result.rps],
    ['jitgate CPU/req ≤ 1.25 × bare proxy', ratio(j.cpuPerReqUs!, bare.cpuPerReqUs!), j.cpuPerReqUs! <= 1.25 * bare.cpuPerReqUs!],
    ['jitgate req/s ≥ 0.5 × nginx', ratio(j.result.rps, nginx.result.rps), j.result.rps >= 0.5 * nginx.result.rps],
    ['jitgate req/s ≥ 2 × OPA sidecar proxy', ratio(j.result.rps, opa.result.rps), j.result.rps >= 2 * opa.result.rps],
    ['jitgate p99 ≤ bare proxy p99 + 1 ms, saturated (as fast as each answers)', `${(j.result.p99 - bare.result.p99).toFixed(2)} ms`, j.result.p99 <= bare.result.p99 + 1],
  ];
  const pace = PACES_MS[0]!;
  const pacedBy = (n: string) => paced.find((r) => r.target.name === n && r.paceMs === pace)!.median.result;
  const pj = pacedBy('jitgate'); const pb = pacedBy('bare proxy');
  checks.push([`jitgate p99 ≤ bare proxy p99 + 1 ms, paced (${String(pace)} ms between a connection's requests)`, `${(pj.p99 - pb.p99).toFixed(2)} ms`, pj.p99 <= pb.p99 + 1]);
  const when = new Date().toISOString();
  const load = loadavg().map((l) => l.toFixed(2)).join(' / ');
  const lines = [
    '## Data path',
    '',
    `Command: \`node --import tsx bench/proxy.ts\` (run ${when}, ${cpus().length} cores: ${cpus()[0]?.model ?? '?'}; Node ${process.version}; load average at the end ${load}: other work on the machine inflates every row alike, the ratios are what compare).`,
    `Loopback, one upstream (bench/proxy-upstream.ts, small JSON body) for every target; \`wrk -t1 -c${CONNECTIONS} --latency\` on \`GET ${PATH}\`, ${DURATION_S} s per target in ${ROUNDS} interleaved rounds after a ${WARMUP_S} s warm-up; each row is the target's better round (for the bare proxy and jitgate, the mean of ${String(PROCESSES)} processes' better rounds). The Node targets (and the upstream) run as tsc's JavaScript output (\`tsconfig.bench.json\`, compiled by this command), as the gateway runs from dist/.`,
    `The proxy under test (and its OPA sidecar) is pinned to core ${PROXY_CORE} with taskset; the upstream and wrk share core ${LOAD_CORE}.`,
    'CPU/request: utime+stime of the proxy process tree (plus the OPA process for the sidecar) from /proc/<pid>/stat before and after the measured run, divided by the requests wrk completed.',
    '',
    '| target | req/s | p50 (ms) | p99 (ms) | proxy CPU / request (µs) | errors |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.target.name} | ${r.result.rps.toFixed(0)} | ${r.result.p50.toFixed(2)} | ${r.result.p99.toFixed(2)} | ${r.cpuPerReqUs === null ? '—' : r.cpuPerReqUs.toFixed(1)} | ${r.result.errors} |`),
    '',
    `At paced loads: each connection waits ${PACES_MS.join(', ')} ms after every answer before its next request (a wrk \`delay()\` script), ${String(PACED_ROUNDS)} interleaved rounds of ${String(PACED_S)} s per process and pace (each after a second at that pace) after the rounds above; each row is the round with the median p99 among its processes' rounds (the upper one of an even count).`,
    '',
    '| target | pace (ms) | req/s | p50 (ms) | p99 (ms) | p99 of each round (ms) | proxy CPU / request (µs) | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...paced.map(({ target, paceMs, rounds, median: m }) => `| ${target.name} | ${String(paceMs)} | ${m.result.rps.toFixed(0)} | ${m.result.p50.toFixed(2)} | ${m.result.p99.toFixed(2)} | ${rounds.map((x) => x.result.p99.toFixed(2)).join(', ')} | ${m.cpuPerReqUs?.toFixed(1) ?? '—'} | ${rounds.reduce((a, x) => a + x.result.errors, 0)} |`),
    '',
    '| target (ratio measured in this run) | value | met |',
    '|---|---:|:---:|',
    ...checks.map(([name, value, ok]) => `| ${name} | ${value} | ${ok ? 'yes' : '**no**'} |`),
    '',
    ...attribution(rows),
    'What each target is:',
    '',
    ...rows.map((r) => `- **${r.target.name}**: ${r.target.describe}.`),
    '',
  ];
  const section = lines.join('\n');
  writeSection('Data path', section);
  console.log(`\n${section}`);
}

try {
  await main();
} finally {
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}
