// `jitgate deny`: deny a pending request, with an optional comment.
import type { Command } from 'commander';
import type { AccessRequest } from '../../grants/index.js';
import { act, connectionOptions, type ConnectionOptions } from '../client.js';
import { requestDetail } from '../format.js';

export function register(program: Command): void {
  connectionOptions(
    program
      .command('deny')
      .argument('<id>', 'the request id')
      .description('deny a pending request')
      .option('--comment <text>', 'a comment kept with the decision')
      .addHelpText('after', '\nExample:\n  jitgate deny req_9ec7f9b0f21e40b4b925cd8967c6048e --comment "use the read-only report instead"'),
  ).action(async (id: string, opts: ConnectionOptions & { comment?: string }) => {
    await act<AccessRequest>(opts, `/v1/requests/${encodeURIComponent(id)}/deny`, opts.comment ? { comment: opts.comment } : {}, requestDetail);
  });
}
