// `jitgate audit`: the auditor's tools. They open the store named in the config file
// directly and only read: verify the hash chain, answer questions, export JSONL.
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import type { Command } from 'commander';
import {
  AUDIT_LIMIT_MAX, queryAudit, readCheckpoint, verifyChain, verifyExport, type AuditFilter, type AuditRecord, type Checkpoint, type VerifyReport,
} from '../../audit/index.js';
import { loadConfig, type GatewayConfig } from '../../config/index.js';
import { ERRORS, isJitgateError, jitgateError } from '../../errors.js';
import { openDb, type Db } from '../../store/index.js';
import { EXIT } from '../context.js';
import { formatTime, table } from '../format.js';
import { parseLimit } from '../limit.js';
import { jsonText, printable, printableLines, printableName } from '../terminal.js';

interface StoreOptions {
  config: string;
}

interface QueryOptions extends StoreOptions {
  subject?: string;
  actor?: string;
  who?: string;
  role?: string;
  grant?: string;
  request?: string;
  route?: string;
  decisionId?: string;
  httpRequest?: string;
  revision?: string;
  kind?: string[];
  decision?: string;
  since?: string;
  until?: string;
  limit?: string;
  cursor?: string;
  desc?: boolean;
  json?: boolean;
  jsonl?: boolean;
}

class CliFailure extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

function withStoreOption(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'gateway configuration (its store is opened read-only)', './opa.config.yaml');
}

function withFilters(cmd: Command): Command {
  return cmd
    .option('--subject <id>', 'records concerning this subject (requester, grant holder, caller)')
    .option('--actor <id>', 'records of what this subject did (approved, revoked, ...)')
    .option('--who <id>', 'either subject or actor')
    .option('--role <role>', 'records about this role')
    .option('--grant <id>', 'records about this grant (its life and its use)')
    .option('--request <id>', 'records about this elevation request')
    .option('--route <name>', 'proxy decisions on this route')
    .option('--decision-id <id>', 'the record of one decision (matches the decision log), and of every decision that replaced it, round by round')
    .option('--http-request <id>', 'records of one HTTP request: the x-request-id of a proxy answer or control API call')
    .option('--revision <rev>', 'records under this policy revision')
    .option('--kind <kind...>', 'record kinds, e.g. grant.revoked or grant.*')
    .option('--decision <allow|deny>', 'allow: grants used and requests approved; deny: proxy denials, requests not forwarded, denied requests')
    .option('--since <time>', 'from this time (inclusive): a date (UTC) or a time with its zone (digits past the millisecond count)')
    .option('--until <time>', 'before this time (exclusive): a date (UTC) or a time with its zone (digits past the millisecond count)');
}

function filterFrom(opts: QueryOptions): AuditFilter {
  if (opts.decision !== undefined && opts.decision !== 'allow' && opts.decision !== 'deny') {
    throw new CliFailure('--decision must be allow or deny', EXIT.USAGE);
  }
  // Decimal digits only: Number() also reads "", "0x10" and "1e2".
  const seq = (v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^[0-9]{1,15}$/.test(v)) throw jitgateError('VALIDATION', `--cursor must be a record's seq (a whole number), not "${v}"`, { field: 'cursor' });
    return Number(v);
  };
  const filter: AuditFilter = {
    subject: opts.subject, actor: opts.actor, who: opts.who, role: opts.role, grant_id: opts.grant, request_id: opts.request,
    route: opts.route, decision_id: opts.decisionId, http_request_id: opts.httpRequest, policy_revision: opts.revision,
    kinds: opts.kind, decision: opts.decision,
    since: opts.since, until: opts.until, limit: parseLimit(opts.limit, AUDIT_LIMIT_MAX), cursor: seq(opts.cursor),
    order: opts.desc ? 'desc' : 'asc',
  };
  for (const key of Object.keys(filter) as (keyof AuditFilter)[]) if (filter[key] === undefined) Reflect.deleteProperty(filter, key);
  return filter;
}

/** The store answered, and has no audit table (PostgreSQL's undefined_table, SQLite's "no such table"). */
function noTrailTable(err: unknown): boolean {
  return (err as { code?: unknown }).code === '42P01' || /no such table/.test((err as Error).message);
}

async function withStore<T>(opts: StoreOptions, fn: (db: Db, config: GatewayConfig) => Promise<T>): Promise<T> {
  const config = loadConfig(opts.config);
  let db: Db;
  try {
    // Read-only: a command that checks the trail must not create a store where there is none.
    db = openDb(config.jitgate.store, { readOnly: true });
  } catch (err) {
    throw new CliFailure(`cannot open the store of ${opts.config}: ${(err as Error).message}`, EXIT.UNAVAILABLE);
  }
  try {
    try {
      await db.query('SELECT seq FROM jitgate_audit WHERE seq = 0');
    } catch (err) {
      // "No trail" only when the table is not there: a refused login or an unreachable server read
      // as a trail gone would send an auditor looking for a deletion that did not happen.
      const what = noTrailTable(err) ? 'no audit trail in the store of' : 'cannot read the store of';
      throw new CliFailure(`${what} ${opts.config}: ${(err as Error).message}`, EXIT.UNAVAILABLE);
    }
    return await fn(db, config);
  } finally {
    await db.close();
  }
}

/**
 * Runs an action: known failures become a message and an exit code, never a stack trace.
 * `failure`: the code of any other error (verify: 6, could not check; 1 would say tampering).
 */
async function run(action: () => Promise<number>, failure: number = EXIT.FAILURE): Promise<void> {
  try {
    process.exitCode = await action();
  } catch (err) {
    // A catalogue error names its code, as the commands that call the API do: scripts match on it.
    const code = isJitgateError(err) ? ` [${err.code}]` : '';
    process.stderr.write(`jitgate audit: ${printable((err as Error).message)}${code}\n`);
    const usage = err instanceof RangeError || (isJitgateError(err) && err.code === ERRORS.VALIDATION.code);
    process.exitCode = err instanceof CliFailure ? err.exitCode : usage ? EXIT.USAGE : failure;
  }
}

function who(r: AuditRecord): string {
  return r.subject && r.subject !== r.actor ? `${printableName(r.actor)} → ${printableName(r.subject)}` : printableName(r.actor);
}

/**
 * The reason in quotes (JSON's, so a quote inside it is escaped and cannot end it), after its
 * author when that is not the actor (grant.granted: `details.reason_by`): `erin wrote "..."`.
 * A reason is its writer's free text: unquoted, one reading `bob: approved already` would pass
 * for the author label of a reason bob gave.
 */
function reasonOf(r: AuditRecord): string {
  const by = r.details['reason_by'];
  if (r.reason === null) return '-';
  const quoted = JSON.stringify(r.reason);
  return typeof by === 'string' && by !== r.actor ? `${printableName(by)} wrote ${quoted}` : quoted;
}

function recordTable(records: readonly AuditRecord[]): string {
  return table(
    ['SEQ', 'TIME', 'KIND', 'WHO', 'ROLE', 'GRANT', 'REQUEST', 'ROUTE', 'REVISION', 'REASON'],
    records.map((r) => [
      String(r.seq), formatTime(r.at), r.kind, who(r), r.role === null ? '-' : printableName(r.role), r.grant_id ?? '-', r.request_id ?? '-',
      r.route ?? '-', r.policy_revision ?? '-', reasonOf(r),
    ]),
    40,
    ['SEQ', 'WHO', 'ROLE', 'GRANT', 'REQUEST', 'REVISION'],
  );
}

export function register(program: Command): void {
  const audit = program
    .command('audit')
    .description('verify and query the hash-chained audit trail (reads the store directly)');

  withStoreOption(
    audit
      .command('verify')
      .description('check every record of the chain (and the checkpoint) and name the first bad record')
      .option('--checkpoint <file>', 'checkpoint file (default: jitgate.audit.checkpoint_file of the config)')
      .option('--file <export.jsonl>', 'verify an export (jitgate audit export) instead of the store; the config is not read')
      .option('--from-genesis', 'with --file: the export must begin at record 1 (otherwise its first link is taken on trust)')
      .option('--json', 'the report as JSON'),
  ).action(async (opts: StoreOptions & { checkpoint?: string; file?: string; fromGenesis?: boolean; json?: boolean }) => {
    /** `configured`: the config's checkpoint file, when it is the one compared with. */
    const print = (report: VerifyReport, configured?: string): number => {
      const problem = report.problem;
      const range = report.first === null ? '' : ` (records ${report.first}..${report.head?.seq ?? report.first})`;
      if (opts.json) {
        process.stdout.write(`${jsonText(report)}\n`);
      } else if (report.ok) {
        // The configured file may not be written yet (the gateway writes it every checkpoint_interval_ms): said, not hidden.
        const cp = !report.checkpoint ? (configured === undefined ? '; no checkpoint to compare' : `; checkpoint file ${configured} missing: nothing to compare`)
          : report.checkpoint_compared ? `; checkpoint at record ${report.checkpoint.seq} (${formatTime(report.checkpoint.at)}) matches`
          : `; checkpoint at record ${report.checkpoint.seq} not compared (the records begin after it)`;
        const trusted = report.first !== null && report.first > 1 ? `\nnote: begins at record ${report.first}: its link to record ${report.first - 1} is taken on trust, and nothing before it is vouched for (--from-genesis refuses that)` : '';
        process.stdout.write(printableLines(`OK: ${report.records} records${range}, chain intact${cp}${trusted}\n`));
      } else if (problem?.kind === 'empty') {
        process.stdout.write(printableLines(`NO TRAIL: ${problem.message}\n`));
      } else {
        // The message quotes the checkpoint file's `at`, which its hash does not cover: an escape
        // sequence there could redraw this line as "OK".
        // A checkpoint that disagrees is found once the whole chain has been read: its records then
        // all link up, and saying they were "verified before" an earlier record would be false.
        const checked = problem?.kind === 'checkpoint_mismatch' ? `${report.records} records checked: each follows the one before it, so the chain was rewritten from there on` : `${report.records} records verified before it`;
        process.stdout.write(printableLines(`BROKEN${problem?.seq == null ? '' : ` at record ${problem.seq}`}: ${problem?.message ?? ''}\n(${checked})\n`));
      }
      // No records is not tampering, but nothing is vouched for either: "no trail".
      return report.ok ? EXIT.OK : problem?.kind === 'empty' ? EXIT.UNAVAILABLE : EXIT.FAILURE;
    };
    // A checkpoint named but not there is not "no checkpoint": the comparison asked for cannot be made.
    const named = async (): Promise<Checkpoint | null> => {
      if (opts.checkpoint === undefined) return null;
      const checkpoint = await readCheckpoint(opts.checkpoint);
      if (!checkpoint) throw new CliFailure(`the checkpoint file ${opts.checkpoint} does not exist`, EXIT.UNAVAILABLE);
      return checkpoint;
    };
    if (opts.file !== undefined) {
      const file = opts.file;
      await run(async () => {
        const checkpoint = await named();
        const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
        return print(await verifyExport(lines, { checkpoint, fromGenesis: opts.fromGenesis === true }));
      }, EXIT.UNAVAILABLE);
      return;
    }
    await run(() => withStore(opts, async (db, config) => {
      await named();
      const configured = opts.checkpoint === undefined ? config.jitgate.audit.checkpoint_file : undefined;
      return print(await verifyChain(db, { checkpointFile: opts.checkpoint ?? configured }), configured);
    }), EXIT.UNAVAILABLE);
  });

  withFilters(withStoreOption(
    audit
      .command('query')
      .alias('list')
      .description('answer an auditor\'s question: records matching every filter given, oldest first')
      .option('--limit <n>', `at most this many: 1 to ${String(AUDIT_LIMIT_MAX)} (default 100; anything else is refused, exit 2)`)
      .option('--cursor <seq>', 'continue after this seq (printed at the end of a page)')
      .option('--desc', 'newest first')
      .option('--json', 'one JSON document: {records, next_cursor}')
      .option('--jsonl', 'one record per line')
      .addHelpText('after', `
Examples:
  jitgate audit query --grant grt_403fcbb47a814c3cbe59e21267225e2f   # the life of a grant and every use of it
  jitgate audit query --request req_9ec7f9b0f21e40b4b925cd8967c6048e --kind approval.added request.approved   # who approved, when
  jitgate audit query --subject alice --since 2026-11-01 --until 2026-12-01
  jitgate audit query --decision deny --route demo --json`),
  )).action(async (opts: QueryOptions) => {
    await run(() => {
      // The flags are checked before the store is opened: a refused one reads nothing.
      const filter = filterFrom(opts);
      return withStore(opts, async (db) => {
        const page = await queryAudit(db, filter);
        if (opts.json) process.stdout.write(`${jsonText(page)}\n`);
        // Each line exactly as JSON.stringify writes the record, as export does: verify --file reads them so.
        else if (opts.jsonl) for (const r of page.records) process.stdout.write(`${JSON.stringify(r)}\n`);
        else {
          process.stdout.write(page.records.length ? `${recordTable(page.records)}\n` : 'no matching records\n');
          if (page.next_cursor !== null) process.stdout.write(`(more: --cursor ${page.next_cursor})\n`);
        }
        return EXIT.OK;
      });
    });
  });

  withFilters(withStoreOption(
    audit
      .command('export')
      .description('every matching record as JSONL (with hashes, so the export can be re-verified)')
      .option('-o, --out <file>', 'write to this file instead of stdout'),
  )).action(async (opts: QueryOptions & { out?: string }) => {
    await run(() => {
      const filter = { ...filterFrom(opts), limit: AUDIT_LIMIT_MAX, order: 'asc' as const };
      return withStore(opts, async (db) => {
        const out = opts.out ? createWriteStream(opts.out, { flags: 'wx', mode: 0o600 }) : process.stdout;
        let count = 0;
        for (let cursor: number | null | undefined = undefined; ;) {
          const page = await queryAudit(db, cursor === undefined ? filter : { ...filter, cursor });
          for (const r of page.records) {
            if (!out.write(`${JSON.stringify(r)}\n`)) await once(out, 'drain');
            count++;
          }
          if (page.next_cursor === null) break;
          cursor = page.next_cursor;
        }
        if (out !== process.stdout) {
          out.end();
          await once(out, 'finish');
          process.stderr.write(`exported ${count} records to ${opts.out ?? ''}\n`);
        }
        return EXIT.OK;
      });
    });
  });
}
