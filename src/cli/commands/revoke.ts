// `jitgate revoke`: end a grant now.
import type { Command } from 'commander';
import type { Grant } from '../../grants/index.js';
import { act, connectionOptions, type ConnectionOptions } from '../client.js';
import { grantDetail } from '../format.js';

export function register(program: Command): void {
  connectionOptions(
    program
      .command('revoke')
      .argument('<grant-id>', 'the grant id')
      .description('revoke an active grant (effective before the command returns)')
      .option('--reason <text>', 'why (kept in the audit trail)')
      .addHelpText('after', '\nExample:\n  jitgate revoke grt_403fcbb47a814c3cbe59e21267225e2f --reason "done early"'),
  ).action(async (id: string, opts: ConnectionOptions & { reason?: string }) => {
    await act<Grant>(opts, `/v1/grants/${encodeURIComponent(id)}/revoke`, opts.reason ? { reason: opts.reason } : {}, grantDetail);
  });
}
