// `jitgate withdraw`: take back your own pending request.
import type { Command } from 'commander';
import type { AccessRequest } from '../../grants/index.js';
import { act, connectionOptions, type ConnectionOptions } from '../client.js';
import { requestDetail } from '../format.js';

export function register(program: Command): void {
  connectionOptions(
    program
      .command('withdraw')
      .argument('<id>', 'the request id')
      .description('withdraw your own pending request')
      .addHelpText('after', '\nExample:\n  jitgate withdraw req_9ec7f9b0f21e40b4b925cd8967c6048e'),
  ).action(async (id: string, opts: ConnectionOptions) => {
    await act<AccessRequest>(opts, `/v1/requests/${encodeURIComponent(id)}/withdraw`, {}, requestDetail);
  });
}
