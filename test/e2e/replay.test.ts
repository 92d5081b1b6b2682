// `jitgate replay`: the decisions a running gateway recorded, decided again by the CLI under the
// policies as they are and under a changed copy. A policy author sees which real requests the
// change would refuse (by decision id, as the callers got them) before it is merged.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { startDemoUpstream } from '../../src/demo/index.js';
import type { ReplayReport } from '../../src/policy/index.js';
import { demoConfig, demoEnv, repoRoot, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';
import { startReceiver } from '../helpers/receiver.js';

t.test('replay reports exactly the recorded decisions a policy change flips', async (t) => {
  const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-replay-');
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  // A decision-log service as OPA's protocol has it: each upload body is kept as received
  // (gzip-compressed JSON arrays of events), as a collector might store them.
  const collector = await startReceiver();
  t.teardown(() => collector.close());
  const config = demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } });
  config.services = { collector: { url: collector.url } };
  // Uploads start as soon as an event is buffered: the first request's event leaves alone, so
  // the stored bodies are several gzip members back to back.
  config.decision_logs = { ...(config.decision_logs as object), service: 'collector', reporting: { min_delay_seconds: 0 } };
  const file = writeConfig(dir, config);
  const gw = await startGatewayProcess(file, demoEnv(keys));
  const token = (await runCli(['token', '--sub', 'alice', '--config', file])).stdout.trim();
  const auth = { authorization: `Bearer ${token}` };

  // Reads are allowed, writes without a grant and /admin/ denied: the sample policies' rules.
  const reads: string[] = [];
  for (const path of ['/api/items', '/api/items/1', '/api/reports/daily']) {
    const res = await fetch(`${gw.proxyUrl}${path}`, { headers: auth });
    await res.arrayBuffer();
    t.equal(res.status, 200, `GET ${path} is allowed`);
    reads.push(res.headers.get('x-jitgate-decision-id') ?? '');
  }
  for (const [method, path] of [['POST', '/api/items'], ['DELETE', '/api/items/1'], ['GET', '/admin/users']]) {
    const res = await fetch(`${gw.proxyUrl}${path}`, { method, headers: auth });
    await res.arrayBuffer();
    t.equal(res.status, 403, `${method} ${path} is denied`);
  }
  await gw.stop();
  const log = join(dir, 'decisions.jsonl');
  const logged = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { timestamp: string; input: { now_ns: number } });
  t.equal(logged.length, 6, 'the gateway logged six decisions');
  t.ok(logged.every((e) => e.timestamp === new Date(Math.round(e.input.now_ns / 1e6)).toISOString()), 'each stamped with the millisecond it was decided in (now_ns as a double is that, rounded)');

  const replay = async (args: string[]): Promise<{ code: number | null; report: ReplayReport; stderr: string }> => {
    const run = await runCli(['replay', log, '--json', ...args]);
    return { code: run.code, report: JSON.parse(run.stdout || 'null') as ReplayReport, stderr: run.stderr };
  };

  const same = await replay(['--dir', join(repoRoot, 'policies'), '--fail-on-change']);
  t.equal(same.code, 0, `the policies as they are change nothing: ${same.stderr}`);
  t.match(same.report, { lines: 6, replayed: 6, unchanged: 6, allow_to_deny: 0, deny_to_allow: 0, errors: 0, differences: [] });

  // The candidate pauses reads under /api/ and rewords the write refusal.
  const candidate = join(dir, 'candidate');
  cpSync(join(repoRoot, 'policies'), candidate, { recursive: true });
  const access = join(candidate, 'jitgate', 'lib', 'access.rego');
  const before = readFileSync(access, 'utf8');
  const after = before
    .replace('allow("employees may read under /api/", "readonly", [])', 'deny("reads under /api/ are paused")')
    .replace('"writes under /api/ need an active writer grant"', '"writes under /api/ need a writer grant"');
  t.not(after, before, 'the candidate differs from the sample policies');
  writeFileSync(access, after);

  const changed = await replay(['--dir', candidate, '--fail-on-change']);
  t.equal(changed.code, 3, '--fail-on-change fails the job when a decision would flip');
  t.match(changed.report, { replayed: 6, allow_to_deny: 3, deny_to_allow: 0, reason_changed: 2, unchanged: 1, errors: 0, truncated: false });
  t.same(changed.report.differences.map((d) => d.decision_id), reads, 'the flipped decisions are the three reads, by the ids their callers got');
  t.match(changed.report.differences[0], {
    subject: 'alice', method: 'GET', path: '/api/items', route: 'demo', masked: false,
    before: { allow: true, credential: 'readonly', reason: 'employees may read under /api/' },
    after: { allow: false, reason: 'reads under /api/ are paused' },
  });
  t.equal((await runCli(['replay', log, '--dir', candidate])).code, 0, 'without --fail-on-change a report is not a failure');

  // `-` reads standard input: compressed or remote logs are piped in.
  const piped = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'src', 'cli', 'main.ts'), 'replay', '-', '--dir', candidate, '--json'], { cwd: repoRoot, input: readFileSync(log), encoding: 'utf8' });
  t.match(JSON.parse(piped.stdout) as ReplayReport, { replayed: 6, allow_to_deny: 3 }, 'the same report from standard input');

  // What the gateway uploaded to the decision-log service, stored as received (one gzip body
  // per upload, bodies appended), and the log file archived with gzip: the same report.
  const uploads = collector.received.map((r) => r.body);
  t.ok(uploads.length > 1 && uploads.every((u) => u[0] === 0x1f && u[1] === 0x8b), `the gateway uploaded ${String(uploads.length)} gzip bodies`);
  const received = join(dir, 'received.json.gz');
  writeFileSync(received, Buffer.concat(uploads));
  const archived = join(dir, 'decisions.jsonl.gz');
  writeFileSync(archived, gzipSync(readFileSync(log)));
  for (const [what, path] of [['the uploads the collector received', received], ['the gzip-archived log', archived]] as const) {
    const run = await runCli(['replay', path, '--dir', candidate, '--json']);
    t.match(JSON.parse(run.stdout || 'null') as ReplayReport, { replayed: 6, allow_to_deny: 3, reason_changed: 2, skipped: { unreadable: 0 } }, `the same report from ${what}`);
  }
  // The same events pretty-printed (as `jq .` or an editor leaves them), one by one and as
  // one array; and a pretty-printed event cut off halfway, then a JSONL line.
  const events = readFileSync(log, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  const pretty = join(dir, 'pretty.json');
  writeFileSync(pretty, events.map((e) => JSON.stringify(e, null, 2)).join('\n') + '\n');
  const prettyArray = join(dir, 'pretty-array.json');
  writeFileSync(prettyArray, JSON.stringify(events, null, 2));
  for (const [what, path] of [['the events pretty-printed', pretty], ['one pretty-printed array', prettyArray]] as const) {
    const run = await runCli(['replay', path, '--dir', candidate, '--json']);
    t.match(JSON.parse(run.stdout || 'null') as ReplayReport, { replayed: 6, allow_to_deny: 3, reason_changed: 2, skipped: { unreadable: 0 } }, `the same report from ${what}`);
  }
  const halfPretty = join(dir, 'half-pretty.json');
  const firstPretty = JSON.stringify(events[0], null, 2).split('\n');
  writeFileSync(halfPretty, [...firstPretty.slice(0, firstPretty.length / 2), ...events.map((e) => JSON.stringify(e))].join('\n') + '\n');
  const halfRun = await runCli(['replay', halfPretty, '--dir', candidate, '--json']);
  t.match(JSON.parse(halfRun.stdout || 'null') as ReplayReport, { replayed: 6, allow_to_deny: 3, skipped: { unreadable: 1 } }, 'a pretty-printed event cut off is unreadable, and the lines after it are still read');
  const fromStdin = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'src', 'cli', 'main.ts'), 'replay', '-', '--dir', candidate, '--json'], { cwd: repoRoot, input: readFileSync(received), encoding: 'utf8' });
  t.match(JSON.parse(fromStdin.stdout) as ReplayReport, { replayed: 6, allow_to_deny: 3 }, 'and from the uploads piped to standard input');
  const cut = join(dir, 'cut.json.gz');
  writeFileSync(cut, readFileSync(received).subarray(0, 30));
  const broken = await runCli(['replay', cut, '--dir', candidate]);
  t.equal(broken.code, 1, 'a damaged gzip file is a failure, not an empty report');
  t.match(broken.stderr, /jitgate replay: .*cut\.json\.gz: unexpected end of file/, 'naming the file');

  const text = await runCli(['replay', log, '--dir', candidate, '--limit', '1']);
  t.match(text.stdout, /allow -> deny:\s+3/, 'the text report counts the flips');
  t.match(text.stdout, new RegExp(`GET /api/items\\s+allow \\(readonly\\)\\s+deny\\s+${reads[0] ?? ''}`), 'and lists one per row');
  t.notMatch(text.stdout, reads[1] ?? '', '--limit bounds the list');
  t.match(text.stdout, /more differences than --limit lists/);

  // Lines a replay cannot use are counted, never guessed at: a truncated line, another
  // entrypoint, a decision that failed when made, and an input the contract refuses.
  const first = JSON.parse(readFileSync(log, 'utf8').split('\n')[0] ?? '') as Record<string, unknown> & { input: Record<string, unknown> };
  const { subject: _dropped, ...withoutSubject } = first.input;
  appendFileSync(log, [
    '{"decision_id":"cut-off',
    JSON.stringify({ ...first, decision_id: 'elevation-1', path: 'jitgate/elevation' }),
    JSON.stringify({ ...first, decision_id: 'failed-1', result: undefined }),
    JSON.stringify({ ...first, decision_id: 'no-subject', input: withoutSubject, erased: ['/input/subject'] }),
    JSON.stringify([42, { ...first, decision_id: 'in-an-array' }]),
    // Two events back to back on one line, brackets and an escaped quote inside a string.
    JSON.stringify({ ...first, decision_id: 'brackets-in-strings', note: '] } \\" [ {' }) + JSON.stringify({ ...first, decision_id: 'second-on-the-line' }),
  ].join('\n') + '\n');
  const messy = await replay(['--dir', join(repoRoot, 'policies'), '--fail-on-change']);
  t.equal(messy.code, 3, 'an input the policy cannot decide is a change: a gateway would refuse that request');
  t.match(messy.report, {
    lines: 12, replayed: 10, unchanged: 9, errors: 1,
    skipped: { unreadable: 2, other_path: 1, without_result: 1, without_input: 0 },
  });
  t.match(messy.report.differences, [{ decision_id: 'no-subject', masked: true, after: { error: 'JITGATE_E_POLICY_INPUT_INVALID' } }], 'flagged: the log had erased part of its input');
});

t.test('replay refuses bad usage with a clear message and exit 2', async (t) => {
  const both = await runCli(['replay', 'x.jsonl', '--dir', 'policies', '--bundle', 'b.tar.gz']);
  t.equal(both.code, 2);
  t.match(both.stderr, /--dir or --bundle, not both/);
  const limit = await runCli(['replay', 'x.jsonl', '--limit', 'many']);
  t.equal(limit.code, 2);
  t.match(limit.stderr, /--limit must be a whole number/);
  const missing = await runCli(['replay', join(repoRoot, 'no-such-dir', 'absent.jsonl'), '--bundle', join(repoRoot, 'bundles', 'jitgate.tar.gz')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /jitgate replay: .*absent\.jsonl/);
});
