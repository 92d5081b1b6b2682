// Locating and running the `opa` CLI. opa runs as a child process, so compiling never
// blocks the event loop that serves decisions.
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jitgateError } from '../errors.js';
import { childEnv } from './child-env.js';

export interface OpaRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs opa with arguments; never throws for a non-zero exit (the caller reads `code`). */
export function runOpa(opaPath: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<OpaRun> {
  // A relative path means relative to our cwd, not to options.cwd; a bare name is looked up on PATH.
  const executablePath = opaPath.includes('/') ? resolve(opaPath) : opaPath;
  return new Promise((resolvePromise, reject) => {
    execFile(
      executablePath,
      args,
      { cwd: options.cwd, env: childEnv(), timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(jitgateError('OPA_NOT_FOUND', `${opaPath}: ${error.message}`, undefined, error));
          return;
        }
        resolvePromise({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}

/** The repository root (where package.json lives), from this module's location in src/ or dist/src/. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds opa: the configured path, then $JITGATE_OPA, then .tools/bin/opa of the project,
 * then PATH. Returns null when there is none (a gateway can still serve a prebuilt bundle).
 */
export async function findOpa(configured?: string): Promise<string | null> {
  const candidates = [
    configured,
    process.env.JITGATE_OPA,
    join(projectRoot(), '.tools', 'bin', 'opa'),
    ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'opa')),
  ];
  for (const candidate of candidates) {
    if (candidate && (await executable(resolve(candidate)))) return resolve(candidate);
  }
  return null;
}

/** Like findOpa, but a missing opa is an error that says how to get one. */
export async function requireOpa(configured?: string): Promise<string> {
  const found = await findOpa(configured);
  if (!found) {
    throw jitgateError('OPA_NOT_FOUND', 'install it with scripts/ensure-opa.sh, put it on PATH, or set JITGATE_OPA / policy.opa_path');
  }
  return found;
}
