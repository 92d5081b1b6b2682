// `jitgate requests`: list requests (pending ones to approve, your own), or show one.
import type { Command } from 'commander';
import type { AccessRequest } from '../../grants/index.js';
import { LIST_LIMIT_MAX, parseLimit } from '../limit.js';
import { callerId, connectionOptions, pageOutput, run, type ConnectionOptions, type Page } from '../client.js';
import { requestDetail, requestTable } from '../format.js';

interface RequestsOptions extends ConnectionOptions {
  status?: string;
  mine?: boolean;
  requester?: string;
  role?: string;
  limit?: string;
  cursor?: string;
}

export function register(program: Command): void {
  connectionOptions(
    program
      .command('requests')
      .argument('[id]', 'show this one request')
      .description('list elevation requests, newest first (or show one by id)')
      .option('--status <status>', 'pending, approved, denied, withdrawn or expired')
      .option('--mine', 'only requests you made')
      .option('--requester <subject>', 'only requests by this subject')
      .option('--role <role>', 'only requests for this role')
      .option('--limit <n>', `at most this many: 1 to ${String(LIST_LIMIT_MAX)} (default 50; anything else is refused, exit 2)`)
      .option('--cursor <cursor>', 'continue a listing where the page before ended (its "more:" line says how)')
      .addHelpText('after', '\nExamples:\n  jitgate requests --status pending\n  jitgate requests --mine\n  jitgate requests req_9ec7f9b0f21e40b4b925cd8967c6048e --json'),
  ).action(async (id: string | undefined, opts: RequestsOptions, cmd: Command) => {
    if (opts.mine && opts.requester) cmd.error('--mine and --requester exclude each other');
    await run(opts, async (client) => {
      if (id) {
        const r = await client.call<AccessRequest>('GET', `/v1/requests/${encodeURIComponent(id)}`);
        return { json: r, text: requestDetail(r) };
      }
      // Checked before any call: a refused flag makes no request.
      const limit = parseLimit(opts.limit, LIST_LIMIT_MAX);
      const requester = opts.mine ? await callerId(client) : opts.requester;
      const page = await client.call<Page<AccessRequest>>('GET', '/v1/requests', undefined, {
        status: opts.status, requester, role: opts.role, limit, cursor: opts.cursor,
      });
      return pageOutput(page, requestTable);
    });
  });
}
