// `jitgate replay`: decides the requests recorded in decision logs again under a candidate
// policy (a policies folder, compiled with opa, or a built bundle) and reports what would change:
// a dry run of a policy change against real traffic, for a pull request or a CI job.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Command } from 'commander';
import { isJitgateError } from '../../errors.js';
import type { ReplayDifference, ReplayReport } from '../../policy/index.js';
import { EXIT } from '../context.js';
import { fields, formatTime, table } from '../format.js';

interface ReplayCommandOptions {
  dir?: string;
  bundle?: string;
  opa?: string;
  limit: string;
  json?: boolean;
  failOnChange?: boolean;
}

/** Exit code of --fail-on-change when a decision would change (distinct from a failure to replay). */
const EXIT_CHANGED = EXIT.DENIED;

const GZIP_MAGIC = [0x1f, 0x8b] as const;

/**
 * `input` as it was before compression when it starts with gzip's magic bytes (an archived
 * log, or an upload body an OPA decision-log service stored as received), else as it is.
 */
async function decompressed(input: Readable): Promise<Readable> {
  const chunks = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  let done = false;
  while (head.length < GZIP_MAGIC.length && !done) {
    const next = await chunks.next();
    if (next.done === true) done = true;
    else head = Buffer.concat([head, next.value]);
  }
  const whole = Readable.from((async function* () {
    yield head;
    if (done) return;
    for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) yield next.value;
  })());
  if (head[0] !== GZIP_MAGIC[0] || head[1] !== GZIP_MAGIC[1]) return whole;
  return pipeline(whole, createGunzip(), (err) => { if (err) input.destroy(err); });
}

/** The lines of each file in turn, gzip or not; `-` is standard input (`cat old.jsonl.gz | jitgate replay -`). */
async function* linesOf(files: readonly string[]): AsyncGenerator<string> {
  for (const file of files) {
    try {
      const input = await decompressed(file === '-' ? process.stdin : createReadStream(file));
      yield* createInterface({ input, crlfDelay: Infinity });
    } catch (err) {
      throw new Error(`${file === '-' ? 'standard input' : file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
}

function outcome(d: ReplayDifference['before'] | ReplayDifference['after']): string {
  if ('error' in d) return `error ${d.error}`;
  return `${d.allow ? 'allow' : 'deny'}${d.allow && d.credential ? ` (${d.credential})` : ''}`;
}

function summary(report: ReplayReport, source: string): string {
  const s = report.skipped;
  const lines = [
    `replayed ${String(report.replayed)} decisions of ${String(report.lines)} log lines under revision ${report.revision ?? '?'} (${source})`,
    fields([
      ['unchanged', String(report.unchanged)],
      ['allow -> deny', String(report.allow_to_deny)],
      ['deny -> allow', String(report.deny_to_allow)],
      ['credential changed', String(report.credential_changed)],
      ['reason changed only', String(report.reason_changed)],
      ['errors', String(report.errors)],
      ['skipped', `${String(s.without_result)} failed when made, ${String(s.without_input)} without input, ${String(s.other_path)} other entrypoints, ${String(s.unreadable)} unreadable`],
    ]),
  ];
  if (report.differences.length > 0) {
    lines.push('', table(
      ['WHEN', 'SUBJECT', 'REQUEST', 'BEFORE', 'AFTER', 'DECISION'],
      report.differences.map((d) => [
        formatTime(d.timestamp),
        d.subject ?? '-',
        `${d.method ?? '?'} ${d.path ?? '?'}${d.masked ? ' (masked input)' : ''}`,
        outcome(d.before),
        outcome(d.after),
        d.decision_id ?? '-',
      ]),
      64,
    ));
    if (report.truncated) lines.push(`(more differences than --limit lists: the counts above are complete)`);
  }
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('replay')
    .description('decide the requests in decision logs again under a candidate policy and report what changes')
    .argument('<log...>', 'decision-log files, oldest first (JSONL, JSON arrays of events as OPA uploads them, or pretty-printed JSON; gzip or not): data/decisions.jsonl.1 data/decisions.jsonl; - reads standard input')
    .option('-d, --dir <dir>', 'candidate policies folder, compiled with opa (default: ./policies)')
    .option('-b, --bundle <file>', 'candidate bundle built by `jitgate build` (instead of --dir; needs no opa)')
    .option('--opa <path>', 'opa binary (default: $JITGATE_OPA, .tools/bin/opa, PATH)')
    .option('--limit <n>', 'differences listed at most (all are counted)', '50')
    .option('--json', 'print the report as JSON')
    .option('--fail-on-change', `exit ${String(EXIT_CHANGED)} when any decision's allow or credential would change, or the candidate fails on a recorded input`)
    .action(async (logs: string[], options: ReplayCommandOptions) => {
      try {
        const limit = Number(options.limit);
        if (!Number.isInteger(limit) || limit < 0) {
          process.stderr.write('jitgate replay: --limit must be a whole number\n');
          process.exitCode = EXIT.USAGE;
          return;
        }
        if (options.dir !== undefined && options.bundle !== undefined) {
          process.stderr.write('jitgate replay: give --dir or --bundle, not both\n');
          process.exitCode = EXIT.USAGE;
          return;
        }
        const { PolicyEngine, buildBundle, readBundleFile, replayChangesDecisions, replayDecisions, requireOpa } = await import('../../policy/index.js');
        let engine;
        let source: string;
        if (options.bundle !== undefined) {
          engine = await PolicyEngine.load(await readBundleFile(options.bundle));
          source = options.bundle;
        } else {
          source = options.dir ?? './policies';
          engine = (await buildBundle({ dir: source, opaPath: await requireOpa(options.opa) })).engine;
        }
        const report = await replayDecisions(engine, linesOf(logs), { limit });
        process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : summary(report, source));
        if (options.failOnChange && replayChangesDecisions(report)) process.exitCode = EXIT_CHANGED;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        process.stderr.write(`jitgate replay: ${message}${isJitgateError(error) ? ` [${error.code}]` : ''}\n`);
        process.exitCode = EXIT.FAILURE;
      }
    });
}
