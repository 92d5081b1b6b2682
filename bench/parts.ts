// The named work in-process, one command: `node --import tsx bench/parts.ts`.
// What bench/proxy-floor.ts does for each request beyond forwarding, run by the same parts in a
// loop with no network and no server: the input built (target normalized, cached token, grant
// set), then one decision (same engine and memo), then the decision logged to the same JSONL
// file. Each stage is measured as CPU per request, 50 requests per event-loop turn as wrk's 50
// connections give them, in interleaved rounds pinned to the proxy's core. Set beside the floor's
// rows under load (bench/proxy.ts), it tells whether the named work costs what it costs there
// because of its own code or because of how it runs among the requests' other work (caches,
// collections). Results go into docs/benchmarks.md `## The named work in-process`.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, tmpdir } from 'node:os';
import { AUTHZ_ENTRYPOINT, seal, type AuthzInput, type AuthzRoute } from '../src/policy/index.js';
import { normalizeTarget } from '../src/proxy/index.js';
import { writeSection } from './docs-section.js';
import { CONNECTIONS, PATH, PROXY_CORE } from './harness.js';
import { jitgateParts } from './jitgate-parts.js';

// Pinned as the proxies under test are: the figures are then of the same core.
if (process.env.JITGATE_BENCH_PINNED !== '1') {
  execFileSync('taskset', ['-c', PROXY_CORE, process.execPath, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, JITGATE_BENCH_PINNED: '1' } });
  process.exit(0);
}

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const HOST = '127.0.0.1:8080';

const parts = await jitgateParts('http://127.0.0.1:9');
const tokenFile = join(tmpdir(), `jg-bench-parts-${String(process.pid)}.jwt`);
await parts.issueToken(tokenFile);
const authorization = `Bearer ${readFileSync(tokenFile, 'utf8')}`;
rmSync(tokenFile);
const { authenticator, grants, decisionLog } = parts;
const engine = parts.built.engine;
const route = parts.cfg.jitgate.routes[0]!;
const inputRoute = seal<AuthzRoute>({ name: route.name, upstream: route.upstream, credentials: ['readonly', 'writer'] });
const bundles = seal({ jitgate: { revision: engine.revision } });
const NO_HEADERS: Record<string, string> = Object.freeze({});

type Stage = 'input' | 'decision' | 'decision log';
const STAGES: readonly Stage[] = ['input', 'decision', 'decision log'];

/** One request's named work up to `stage`, as bench/proxy-floor.ts does it. */
async function request(stage: Stage): Promise<void> {
  const startedNs = process.hrtime.bigint();
  const target = normalizeTarget(PATH, HOST);
  const subject = await authenticator.authenticate({ authorization, 'x-api-key': undefined }, null);
  const nowMs = Date.now();
  const input: AuthzInput = {
    request: { method: 'GET', path: target.path, segments: target.segments, query: target.query, headers: NO_HEADERS, host: HOST, client_ip: '127.0.0.1' },
    subject,
    grants: grants.activeGrants(subject, nowMs),
    route: inputRoute,
    now_ns: nowMs * 1e6,
  };
  if (stage === 'input') return;
  const decision = engine.authorize(input);
  if (stage === 'decision') return;
  decisionLog.log({
    decision_id: decision.decision_id, timestamp: new Date(nowMs).toISOString(), path: AUTHZ_ENTRYPOINT, input, result: decision.result,
    bundles, metrics: { timer_rego_query_eval_ns: decision.eval_ns },
    jitgate: { route: route.name, subject: subject.id, upstream_status: 200, latency_ns: Number(process.hrtime.bigint() - startedNs) },
  }, decision.input_json);
}

/** CPU µs per request for `stage`, the log's file writes included. */
async function measure(stage: Stage): Promise<number> {
  const before = process.cpuUsage();
  for (let done = 0; done < REQUESTS; done += CONNECTIONS) {
    await Promise.all(Array.from({ length: CONNECTIONS }, () => request(stage)));
    // The next batch in the next turn, as a server's next reads come.
    await new Promise<void>((resolve) => { setImmediate(resolve); });
  }
  await decisionLog.flush();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / REQUESTS;
}

for (const stage of STAGES) await measure(stage); // warm-up
const rows = new Map<Stage, number[]>(STAGES.map((s) => [s, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const stage of STAGES) {
    const us = await measure(stage);
    rows.get(stage)?.push(us);
    console.log(`round ${String(round + 1)} ${stage}: ${us.toFixed(2)} µs/request`);
  }
}
await parts.stop();

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const input = median(rows.get('input') ?? []);
const decision = median(rows.get('decision') ?? []);
const logged = median(rows.get('decision log') ?? []);
const f = (n: number): string => n.toFixed(1);
const lines = [
  '## The named work in-process',
  '',
  `Measured by \`node --import tsx bench/parts.ts\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC (Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')} at the end), pinned to core ${PROXY_CORE}.`,
  `The work bench/proxy-floor.ts does per request beyond forwarding, by the same parts, with no network and no server: ${REQUESTS.toLocaleString('en-US')} requests per stage and round, ${String(CONNECTIONS)} per event-loop turn, ${String(ROUNDS)} interleaved rounds, each figure the median of its rounds (CPU per request, the decision log's file writes included). Each stage adds its work to the one before.`,
  '',
  '| stage | CPU per request µs | this stage alone µs | rounds µs |',
  '|---|---:|---:|---|',
  `| the input (target normalized, cached token, grant set) | ${f(input)} | ${f(input)} | ${(rows.get('input') ?? []).map(f).join(', ')} |`,
  `| + one decision (same engine, decision memo on) | ${f(decision)} | ${f(decision - input)} | ${(rows.get('decision') ?? []).map(f).join(', ')} |`,
  `| + the decision logged (masked, encoded, JSONL file) | ${f(logged)} | ${f(logged - decision)} | ${(rows.get('decision log') ?? []).map(f).join(', ')} |`,
  '',
  'The requests are all alike, as wrk\'s are, so the decision memo answers most of them here as it does under load.',
  '',
];
console.log(lines.join('\n'));
console.log(`written to ${writeSection('The named work in-process', lines.join('\n'))}`);
