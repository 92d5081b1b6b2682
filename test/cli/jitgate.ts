// Runs the real `jitgate` CLI as a child process, as a person or a script would.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Run { code: number; stdout: string; stderr: string }

export function jitgate(base: string, args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      // Only what the CLI should see: no inherited JITGATE_* from the developer's shell.
      { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, JITGATE_URL: base, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
