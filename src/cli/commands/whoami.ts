// `jitgate whoami`: who the control API (and so the policies) think you are.
import type { Command } from 'commander';
import { connectionOptions, run, type ConnectionOptions } from '../client.js';
import { fields } from '../format.js';
import { printableName } from '../terminal.js';

interface Whoami { id: string; kind: string; groups: string[]; can_read_audit: boolean }

export function register(program: Command): void {
  connectionOptions(
    program.command('whoami').description('show the authenticated subject and its groups'),
  ).action(async (opts: ConnectionOptions) => {
    await run(opts, async (client) => {
      const me = await client.call<Whoami>('GET', '/v1/whoami');
      return {
        json: me,
        // Marked as every name the CLI shows: one's own `аlice` (Cyrillic а) is not alice to the policy.
        text: fields([['subject', printableName(me.id)], ['kind', me.kind], ['groups', me.groups.map(printableName).join(', ') || '-'], ['audit reader', me.can_read_audit ? 'yes' : 'no']]),
      };
    });
  });
}
