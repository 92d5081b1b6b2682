// Runs the real `jitgate` CLI as a child process, as a person or a script would.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startStack, type Stack } from '../admin/stack.js';

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

export interface CliStack {
  stack: Stack;
  /** Tokens of the stack's people (alice, bob, dave, mallory), by subject. */
  tokens: Record<string, string>;
  /** The CLI pointed at the stack's control API. */
  jitgate: (args: string[], env?: Record<string, string | undefined>) => Promise<Run>;
  /** The environment that makes the CLI act as this subject. */
  as: (sub: string) => Record<string, string>;
}

/** A control server with the workflow behind it, and the CLI aimed at it. The caller closes `stack`. */
export async function startCliStack(): Promise<CliStack> {
  const stack = await startStack();
  const tokens: Record<string, string> = {};
  for (const sub of ['alice', 'bob', 'dave', 'mallory']) tokens[sub] = await stack.token(sub);
  return {
    stack,
    tokens,
    jitgate: (args, env = {}) => jitgate(stack.base, args, env),
    as: (sub) => ({ JITGATE_TOKEN: tokens[sub]! }),
  };
}
