// `jitgate review`: record the after-the-fact review of a break-glass grant.
import type { Command } from 'commander';
import type { Grant } from '../../grants/index.js';
import { act, connectionOptions, type ConnectionOptions } from '../client.js';
import { grantDetail } from '../format.js';

export function register(program: Command): void {
  connectionOptions(
    program
      .command('review')
      .argument('<grant-id>', 'the break-glass grant id')
      .description('mark a break-glass grant as reviewed')
      .option('--comment <text>', 'what the review found')
      .addHelpText('after', '\nExample:\n  jitgate review grt_403fcbb47a814c3cbe59e21267225e2f --comment "justified: INC-42"'),
  ).action(async (id: string, opts: ConnectionOptions & { comment?: string }) => {
    await act<Grant>(opts, `/v1/grants/${encodeURIComponent(id)}/review`, opts.comment ? { comment: opts.comment } : {}, grantDetail);
  });
}
