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

/** The demo upstream's three keys, which the gateway injects by role. */
export interface DemoKeys { readonly: string; writer: string; admin: string }

export interface DemoConfigOptions {
  /** Holds the store, bundles, dev-issuer key, checkpoint and decision log. */
  dir: string;
  upstreamUrl: string;
  /** Dev-issuer subjects and their groups. */
  subjects: Record<string, string[]>;
  /** Default: SQLite in `dir`. */
  store?: Record<string, unknown>;
  checkpointIntervalMs?: number;
  logLevel?: string;
  labels?: Record<string, string>;
  /** The route's `match` (default: `{ path_prefix: '/' }`). */
  match?: { path_prefix: string; case_sensitive?: boolean };
  /** `identity.api_keys`, beside the dev issuer. */
  apiKeys?: { id: string; subject: string; groups: string[]; sha256: string }[];
  /** More keys of the `jitgate` block (workflow, ...). */
  jitgate?: Record<string, unknown>;
}

/**
 * A gateway config for the sample policies in front of the demo upstream: one route `demo`
 * with the readonly/writer/admin credentials read from the variables of demoEnv().
 */
export function demoConfig(o: DemoConfigOptions): Record<string, unknown> {
  return {
    ...(o.labels ? { labels: o.labels } : {}),
    decision_logs: { file: { path: join(o.dir, 'decisions.jsonl') } },
    jitgate: {
      data_dir: o.dir,
      listen: { proxy: '127.0.0.1:0', control: '127.0.0.1:0' },
      policy: { dir: join(repoRoot, 'policies'), bundles_dir: join(o.dir, 'bundles'), watch: false },
      store: o.store ?? { type: 'sqlite', sqlite: { path: join(o.dir, 'jitgate.db') } },
      identity: {
        dev_issuer: { enabled: true, key_file: join(o.dir, 'dev-issuer.jwk.json'), subjects: o.subjects },
        ...(o.apiKeys ? { api_keys: o.apiKeys } : {}),
      },
      routes: [{
        name: 'demo',
        match: o.match ?? { path_prefix: '/' },
        upstream: o.upstreamUrl,
        credentials: {
          readonly: { type: 'header', header: 'X-Api-Key', from_env: 'DEMO_READ_KEY' },
          writer: { type: 'header', header: 'X-Api-Key', from_env: 'DEMO_WRITE_KEY' },
          admin: { type: 'bearer', from_env: 'DEMO_ADMIN_KEY' },
        },
        default_credential: 'readonly',
        // As in opa.config.yaml: the sample policy decides refunds on the body's amount.
        policy_body: {},
      }],
      audit: {
        checkpoint_file: join(o.dir, 'audit.checkpoint'),
        ...(o.checkpointIntervalMs === undefined ? {} : { checkpoint_interval_ms: o.checkpointIntervalMs }),
      },
      ...(o.logLevel ? { observability: { log_level: o.logLevel } } : {}),
      ...o.jitgate,
    },
  };
}

/** The environment that hands demoConfig()'s route its upstream keys. */
export function demoEnv(keys: DemoKeys): NodeJS.ProcessEnv {
  return { DEMO_READ_KEY: keys.readonly, DEMO_WRITE_KEY: keys.writer, DEMO_ADMIN_KEY: keys.admin };
}

/** The status a GET of `path` through `gw`'s proxy gets with `token` (the body is read and dropped). */
export async function readStatus(gw: Pick<GatewayProcess, 'proxyUrl'>, token: string, path = '/api/items'): Promise<number> {
  const res = await fetch(`${gw.proxyUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
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

/** `onSpawn`: the process as soon as it is spawned, for a test that acts on it while it starts. */
export function startGatewayProcess(configFile: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000, onSpawn?: (proc: ChildProcess) => void): Promise<GatewayProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', cliEntry, 'serve', '--config', configFile], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onSpawn?.(proc);
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
      let entry: { msg?: string; proxy_url?: string; control_url?: string };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      if (entry.msg === 'jitgate listening' && entry.proxy_url && entry.control_url) {
        clearTimeout(timer);
        resolve({
          proc,
          output,
          proxyUrl: entry.proxy_url,
          controlUrl: entry.control_url,
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
