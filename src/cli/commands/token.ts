// `jitgate token`: prints a development token signed by the demo's dev issuer. Refuses unless the
// config turns dev_issuer on; never a way to mint identities in a real deployment.
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { isJitgateError } from '../../errors.js';
import { checkIdentityNames, createDevIssuer } from '../../identity/index.js';
import { EXIT } from '../context.js';
import { printable } from '../terminal.js';

interface TokenOptions {
  sub: string;
  groups?: string;
  ttl?: string;
  config: string;
}

function parseTtl(value: string): number {
  const m = /^([0-9]+)(s|m|h)?$/.exec(value.trim());
  if (!m?.[1]) throw new Error(`invalid --ttl "${value}" (use 3600, 30m, 1h)`);
  const n = Number(m[1]);
  return m[2] === 'h' ? n * 3600 : m[2] === 'm' ? n * 60 : n;
}

export function register(program: Command): void {
  program
    .command('token')
    .description('print a development token from the dev issuer (demo only; requires identity.dev_issuer.enabled)')
    .requiredOption('--sub <subject>', 'the subject (sample subjects in the config carry their groups)')
    .option('--groups <list>', 'comma-separated groups (default: the sample subject\'s groups from the config)')
    .option('--ttl <duration>', 'lifetime: seconds, 30m or 1h (default: dev_issuer.token_ttl_seconds)')
    .option('-c, --config <file>', 'configuration file', './opa.config.yaml')
    .addHelpText('after', '\nExamples:\n  jitgate token --sub alice\n  jitgate token --sub zoe --groups eng,oncall --ttl 30m')
    .action(async (opts: TokenOptions) => {
      try {
        const config = loadConfig(opts.config);
        const dev = config.jitgate.identity.dev_issuer;
        if (!dev.enabled) {
          process.stderr.write('jitgate token: the development issuer is not enabled (identity.dev_issuer.enabled is false)\n');
          process.exitCode = EXIT.FAILURE;
          return;
        }
        const groups = opts.groups === undefined ? undefined : opts.groups.split(',').map((g) => g.trim()).filter((g) => g !== '');
        // First: a subject the gateway would refuse is refused, with or without --groups, before
        // any message shows it (an invisible or terminal-driving character would reach the screen).
        checkIdentityNames(opts.sub, groups);
        if (groups === undefined && !(opts.sub in dev.subjects)) {
          process.stderr.write(`jitgate token: ${printable(opts.sub)} is not a sample subject of the config; pass --groups (or --groups "" for none)\n`);
          process.exitCode = EXIT.USAGE;
          return;
        }
        let ttl: number | undefined;
        try {
          ttl = opts.ttl === undefined ? undefined : parseTtl(opts.ttl);
        } catch {
          ttl = Number.NaN;
        }
        if (ttl !== undefined && !(ttl >= 1 && ttl <= 86400)) {
          process.stderr.write('jitgate token: --ttl must be between 1s and 24h (seconds, 30m or 1h)\n');
          process.exitCode = EXIT.USAGE;
          return;
        }
        // Anyone who can read this config can mint any identity with it: fine for a demo on this
        // machine, said loudly for a gateway that trusts a real identity provider or listens beyond it.
        const { proxy, control } = config.jitgate.listen;
        const exposed = [proxy, control].some((address) => !/^(127\.0\.0\.1|localhost|\[::1\]):/.test(address));
        if (config.jitgate.identity.jwt || exposed) {
          process.stderr.write(`jitgate token: warning: the development issuer is on in ${printable(opts.config)}${config.jitgate.identity.jwt ? ', beside a real identity provider' : ''}${exposed ? ', on a gateway listening beyond loopback' : ''}: anyone who can read its key can be anyone; turn identity.dev_issuer off outside a demo\n`);
        }
        const token = await createDevIssuer(dev).issue(opts.sub, groups, ttl);
        process.stdout.write(`${token}\n`);
      } catch (err) {
        process.stderr.write(`jitgate token: ${printable(isJitgateError(err) || err instanceof Error ? err.message : String(err))}\n`);
        process.exitCode = EXIT.FAILURE;
      }
    });
}
