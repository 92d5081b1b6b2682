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
      .addHelpText('after', '\nExample:\n  jitgate withdraw r_123'),
  ).action(async (id: string, opts: ConnectionOptions) => {
    await act<AccessRequest>(opts, `/v1/requests/${encodeURIComponent(id)}/withdraw`, {}, requestDetail);
  });
}
