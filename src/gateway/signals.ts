import type { Gateway } from './gateway.js';

/**
 * The SIGHUPs that arrived while the gateway was starting (the command holds them from its first
 * moment: Node's default for SIGHUP would end the process), for `runUntilSignal` to apply.
 */
export interface StartingSignals {
  /** Whether a SIGHUP arrived while the gateway started. */
  readonly reloadAsked: boolean;
  /** Stops holding them: from now on `runUntilSignal` handles SIGHUP. */
  release(): void;
}

/**
 * SIGINT/SIGTERM stop the gateway gracefully (in-flight requests finish); a second signal
 * exits at once. SIGHUP reloads the configuration file; an invalid file changes nothing.
 * `starting`: the SIGHUPs held while the gateway started, applied now (one reload for all).
 */
export function runUntilSignal(gateway: Gateway, configFile: string, starting?: StartingSignals): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      // 128 + the signal's number, as a shell reports a process the signal ended: 143 for SIGTERM, 130 for SIGINT.
      if (stopping) process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
      stopping = true;
      gateway.logger.info({ signal }, 'stopping');
      void gateway.stop().then(() => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        process.off('SIGHUP', hup);
        resolve();
      });
    };
    const hup = (): void => {
      gateway.logger.info({ file: configFile }, 'reloading the configuration');
      void (async () => {
        try {
          await gateway.reload(configFile);
        } catch (err) {
          gateway.logger.error({ err }, 'configuration reload refused; the running configuration stays');
        }
      })();
    };
    // Kept (not once): the second signal must reach `stop`, or Node's default would end the
    // process by the signal, without an exit code.
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    process.on('SIGHUP', hup);
    if (starting) {
      const asked = starting.reloadAsked;
      starting.release();
      if (asked) hup();
    }
  });
}
