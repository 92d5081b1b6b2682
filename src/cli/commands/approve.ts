// `jitgate approve`: approve a pending request, with an optional comment.
import type { Command } from 'commander';
import type { AccessRequest } from '../../grants/index.js';
import { act, connectionOptions, type ConnectionOptions } from '../client.js';
import { requestDetail } from '../format.js';

export function register(program: Command): void {
  connectionOptions(
    program
      .command('approve')
      .argument('<id>', 'the request id')
      .description('approve a pending request')
      .option('--comment <text>', 'a comment kept with the decision')
      .addHelpText('after', '\nExample:\n  jitgate approve req_9ec7f9b0f21e40b4b925cd8967c6048e --comment "ok for INC-42"'),
  ).action(async (id: string, opts: ConnectionOptions & { comment?: string }) => {
    await act<AccessRequest>(opts, `/v1/requests/${encodeURIComponent(id)}/approve`, opts.comment ? { comment: opts.comment } : {}, requestDetail);
  });
}
