// Drives real gateway processes for end-to-end tests: writes a config, spawns
// `jitgate serve`, waits for its listening line, and keeps every log line it printed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cliEntry = join(repoRoot, 'src/cli/main.ts');

export function tempDir(prefix = 'jg-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface GatewayProcess {
  proc: ChildProcess;
  proxyUrl: string;
  controlUrl: string;
  /** Every stdout/stderr line so far. */
  output: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function writeConfig(dir: string, doc: Record<string, unknown>): string {
  const file = join(dir, 'opa.config.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

/** Runs the CLI to completion: stdout, stderr, exit code. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', cliEntry, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => { resolve({ code, stdout, stderr }); });
  });
}

export function startGatewayProcess(configFile: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<GatewayProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', cliEntry, 'serve', '--config', configFile], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  let exited: number | null | undefined;
  const exitPromise = new Promise<number | null>((resolve) => proc.on('exit', (code) => { exited = code; resolve(code); }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`gateway did not start in ${timeoutMs} ms:\n${output.join('\n')}`));
    }, timeoutMs);
    const onLine = (line: string): void => {
      output.push(line);
      let entry: { msg?: string; proxy?: string; control?: string };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      if (entry.msg === 'jitgate listening' && entry.proxy && entry.control) {
        clearTimeout(timer);
        resolve({
          proc,
          output,
          proxyUrl: `http://${entry.proxy}`,
          controlUrl: `http://${entry.control}`,
          async stop(signal: NodeJS.Signals = 'SIGTERM') {
            if (exited !== undefined) return exited;
            proc.kill(signal);
            return exitPromise;
          },
        });
      }
    };
    for (const stream of [proc.stdout, proc.stderr]) {
      let buf = '';
      stream.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    }
    void exitPromise.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code} before listening:\n${output.join('\n')}`));
    });
  });
}
