// `jitgate approve`: approve a pending request, with an optional comment. At a terminal it first
// shows what the request asks for and waits for a yes: a request id passed on in a chat says
// nothing of the role or duration behind it, and an approval cannot be taken back (only the
// grant revoked, after it was usable).
import type { Command } from 'commander';
import type { AccessRequest } from '../../grants/index.js';
import { CliError, connectionOptions, run, type ConnectionOptions } from '../client.js';
import { confirm, interactive } from '../confirm.js';
import { EXIT } from '../context.js';
import { formatDuration, requestDetail } from '../format.js';
import { printable, printableLines, printableName } from '../terminal.js';

interface ApproveOptions extends ConnectionOptions {
  comment?: string;
  yes?: boolean;
}

/**
 * "writer for 8h to alice", or for an extension "8h more of grt_… (writer) to alice"; a name
 * holding characters outside ASCII says so ("to аlice [non-ASCII: Cyrillic U+0430]").
 */
function question(r: AccessRequest): string {
  const duration = formatDuration(r.duration_seconds);
  const [role, to] = [printableName(r.role), printableName(r.requester.id)];
  return r.extends_grant_id === null ? `${role} for ${duration} to ${to}` : `${duration} more of ${r.extends_grant_id} (${role}) to ${to}`;
}

export function register(program: Command): void {
  connectionOptions(
    program
      .command('approve')
      .argument('<id>', 'the request id')
      .description('approve a pending request (at a terminal: shows it and asks first)')
      .option('--comment <text>', 'a comment kept with the decision')
      .option('-y, --yes', 'do not show the request and ask first (what a script gets, whose input is no terminal)')
      .addHelpText('after', '\nExample:\n  jitgate approve req_9ec7f9b0f21e40b4b925cd8967c6048e --comment "ok for INC-42"'),
  ).action(async (id: string, opts: ApproveOptions) => {
    await run(opts, async (client) => {
      const path = `/v1/requests/${encodeURIComponent(id)}`;
      if (opts.yes !== true && interactive()) {
        const request = await client.call<AccessRequest>('GET', path);
        // One that is no longer pending is left to the API to refuse (409, exit 5): nothing to ask.
        if (request.status === 'pending') {
          process.stderr.write(`${printableLines(requestDetail(request))}\n`);
          // The question names what is granted: a reason of 2000 characters can scroll the
          // detail's role and duration off a small terminal, and lines of its own below them.
          if (!(await confirm(printable(`approve ${question(request)}? [y/N] `)))) {
            throw new CliError('CANCELLED', `${id} not approved: nothing was changed`, EXIT.FAILURE);
          }
        }
      }
      const value = await client.call<AccessRequest>('POST', `${path}/approve`, opts.comment ? { comment: opts.comment } : {});
      return { json: value, text: requestDetail(value) };
    });
  });
}
