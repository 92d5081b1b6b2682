// `jitgate grants`: list grants (active ones, a subject's), or show one.
import type { Command } from 'commander';
import type { Grant } from '../../grants/index.js';
import { LIST_LIMIT_MAX, parseLimit } from '../limit.js';
import { callerId, connectionOptions, pageOutput, run, type ConnectionOptions, type Page } from '../client.js';
import { grantDetail, grantTable } from '../format.js';

interface GrantsOptions extends ConnectionOptions {
  active?: boolean;
  subject?: string;
  mine?: boolean;
  unreviewed?: boolean;
  limit?: string;
  cursor?: string;
}

export function register(program: Command): void {
  connectionOptions(
    program
      .command('grants')
      .argument('[id]', 'show this one grant')
      .description('list grants, newest first (or show one by id)')
      .option('--active', 'only grants in force now')
      .option('--subject <subject>', 'only grants held by this subject')
      .option('--mine', 'only your grants')
      .option('--unreviewed', 'only break-glass grants nobody has reviewed yet, active or ended (what `jitgate review` is for)')
      .option('--limit <n>', `at most this many: 1 to ${String(LIST_LIMIT_MAX)} (default 50; anything else is refused, exit 2)`)
      .option('--cursor <cursor>', 'continue a listing where the page before ended (its "more:" line says how)')
      .addHelpText('after', '\nExamples:\n  jitgate grants --active\n  jitgate grants --unreviewed\n  jitgate grants --mine --json'),
  ).action(async (id: string | undefined, opts: GrantsOptions, cmd: Command) => {
    if (opts.mine && opts.subject) cmd.error('--mine and --subject exclude each other');
    await run(opts, async (client) => {
      if (id) {
        const g = await client.call<Grant>('GET', `/v1/grants/${encodeURIComponent(id)}`);
        return { json: g, text: grantDetail(g) };
      }
      // Checked before any call: a refused flag makes no request.
      const limit = parseLimit(opts.limit, LIST_LIMIT_MAX);
      const subject = opts.mine ? await callerId(client) : opts.subject;
      const page = await client.call<Page<Grant>>('GET', '/v1/grants', undefined, {
        subject, active: opts.active ? true : undefined,
        ...(opts.unreviewed ? { break_glass: true, reviewed: false } : {}),
        limit, cursor: opts.cursor,
      });
      return pageOutput(page, grantTable);
    });
  });
}
