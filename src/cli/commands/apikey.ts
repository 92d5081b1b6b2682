// `jitgate apikey`: mints a service account's API key. The key is printed once, for the
// service; only its SHA-256 goes into the configuration (identity.api_keys[].sha256).
import type { Command } from 'commander';
import { checkIdentityNames, generateApiKey } from '../../identity/index.js';

export function register(program: Command): void {
  program
    .command('apikey')
    .description('mint an API key for a service account: prints the key (give it to the service) and the config entry (only its hash)')
    .requiredOption('--id <id>', 'the key id (lower-case letters, digits, dashes), e.g. reporting')
    .requiredOption('--subject <subject>', 'the service subject the key maps to, e.g. svc-reporting')
    .option('--groups <list>', 'comma-separated groups of the service subject', '')
    .action((opts: { id: string; subject: string; groups: string }, cmd: Command) => {
      if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(opts.id)) cmd.error('--id: lower-case letters, digits and dashes, up to 63 characters');
      const groups = opts.groups.split(',').map((g) => g.trim()).filter(Boolean);
      // Before the entry is printed: the config would refuse it, and the terminal would be shown
      // the subject with its invisible or terminal-driving character.
      try {
        checkIdentityNames(opts.subject, groups);
      } catch (err) {
        cmd.error(`jitgate apikey: ${(err as Error).message}`);
      }
      const { key, sha256 } = generateApiKey(opts.id);
      process.stdout.write(`key (shown once; send it as the x-api-key header): ${key}\n\n` +
        'add to jitgate.identity.api_keys in the configuration:\n' +
        `  - id: ${opts.id}\n    subject: ${opts.subject}\n    groups: [${groups.join(', ')}]\n    sha256: ${sha256}\n`);
    });
}
