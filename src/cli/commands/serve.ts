import type { Command } from 'commander';
import { isJitgateError } from '../../errors.js';
import type { StartingSignals } from '../../gateway/index.js';
import { EXIT } from '../context.js';

/**
 * Call first thing. Node's default for SIGHUP ends the process, and a start takes seconds (the
 * modules loaded, a policy compiled, a bundle downloaded, a store migrated): a reload asked
 * meanwhile (a config tool, `systemctl reload`) would kill the gateway it meant to reload. It is
 * held instead, and applied once the gateway runs (the file may have changed after the start read it).
 */
export function holdReloadsWhileStarting(): StartingSignals {
  let asked = false;
  const hold = (): void => { asked = true; };
  process.on('SIGHUP', hold);
  return {
    get reloadAsked() { return asked; },
    release() { process.off('SIGHUP', hold); },
  };
}

/** Prints a refused configuration the way an operator needs it: every problem on its own line. */
export function reportStartupError(err: unknown): never {
  if (isJitgateError(err)) {
    process.stderr.write(`${err.code}: ${err.message}\n`);
  } else {
    // What the system said (a port in use, a store out of reach, a file that cannot be read),
    // with its code; the stack only when asked for, as it says nothing an operator can act on.
    const e = err instanceof Error ? (err as NodeJS.ErrnoException) : null;
    const what = e ? `${e.code === undefined ? '' : `${e.code}: `}${e.message}` : String(err);
    process.stderr.write(`jitgate failed to start: ${what}\n`);
    if (e?.stack && process.env.JITGATE_DEBUG === '1') process.stderr.write(`${e.stack}\n`);
  }
  process.exit(EXIT.FAILURE);
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the gateway: proxy and control API, as configured')
    .option('-c, --config <file>', 'configuration file', 'opa.config.yaml')
    .action(async (opts: { config: string }) => {
      const starting = holdReloadsWhileStarting();
      try {
        // Loaded here, not at the top: the people's commands (request, approve...) stay quick to start.
        const { loadConfig } = await import('../../config/index.js');
        const { runUntilSignal, startGateway } = await import('../../gateway/index.js');
        const gateway = await startGateway(loadConfig(opts.config));
        await runUntilSignal(gateway, opts.config, starting);
      } catch (err) {
        reportStartupError(err);
      }
    });
}
