// The set-up most end-to-end tests of grants share: the demo config in a fresh folder in front of
// a recording upstream, with random upstream keys, gateway processes started on it (and stopped
// at the end of the test), tokens from its dev issuer, and the calls the tests make: a request
// for a writer grant approved by another person, and a write under it.
import { randomBytes } from 'node:crypto';
import { recordingUpstream } from '../proxy/fixtures.js';
import { freshDatabase } from './pg.js';
import { demoConfig, demoEnv, runCli, startGatewayProcess, tempDir, writeConfig, type DemoConfigOptions, type DemoKeys, type GatewayProcess } from './gateway.js';

interface Teardown { teardown(fn: () => unknown): void }

export interface DemoRun {
  dir: string;
  configFile: string;
  /** The PostgreSQL database's URL (with `postgres`), else null. */
  dbUrl: string | null;
  keys: DemoKeys;
  upstream: Awaited<ReturnType<typeof recordingUpstream>>;
  /** Starts `jitgate serve` on the config (with `env` besides the keys); killed at the end of the test. */
  start(env?: NodeJS.ProcessEnv): Promise<GatewayProcess>;
  token(sub: string): Promise<string>;
  /** POSTs `body` as JSON to the control API of `gw`. */
  post(gw: GatewayProcess, path: string, token: string, body: unknown): Promise<{ status: number; body: { id?: string; grant_id?: string; error?: { code?: string } } }>;
  /** `requester` asks for a writer grant of `duration`, `approver` approves it; the grant's id. */
  writerGrant(gw: GatewayProcess, requester: string, approver: string, duration?: string | number): Promise<string>;
  /** `token`'s bearer POSTs to /api/items/<tag> through `gw`: the status and error code it got. */
  write(gw: GatewayProcess, token: string, tag: string): Promise<{ status: number; code?: string }>;
}

/**
 * `postgres`: the store is a fresh PostgreSQL database of the test's own (dropped after it), for
 * several gateway processes to share; its URL is in `dbUrl`. With a `tablespace`, its files are there.
 */
export async function demoRun(t: Teardown, o: Omit<DemoConfigOptions, 'dir' | 'upstreamUrl' | 'store'> & { prefix?: string; postgres?: boolean | { tablespace?: string; server?: string } }): Promise<DemoRun> {
  const { prefix, postgres, ...config } = o;
  let extraEnv: NodeJS.ProcessEnv = {};
  let dbUrl: string | null = null;
  if (postgres !== undefined && postgres !== false) {
    const db = await freshDatabase(postgres === true ? {} : postgres);
    t.teardown(() => db.drop());
    dbUrl = db.url;
    extraEnv = { DEMO_RUN_PG_URL: db.url };
    Object.assign(config, { store: { type: 'postgres', postgres: { url_env: 'DEMO_RUN_PG_URL' } } });
  }
  const keys: DemoKeys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
  const upstream = await recordingUpstream();
  t.teardown(() => upstream.close());
  const dir = tempDir(prefix);
  const configFile = writeConfig(dir, demoConfig({ ...config, dir, upstreamUrl: upstream.url }));
  const env = { ...demoEnv(keys), ...extraEnv };
  const tokens = new Map<string, string>();
  const run: DemoRun = {
    dir, configFile, dbUrl, keys, upstream,
    async start(more = {}) {
      const gw = await startGatewayProcess(configFile, { ...env, ...more });
      t.teardown(() => gw.stop('SIGKILL'));
      return gw;
    },
    async token(sub) {
      let token = tokens.get(sub);
      if (token === undefined) {
        token = (await runCli(['token', '--sub', sub, '--config', configFile])).stdout.trim();
        tokens.set(sub, token);
      }
      return token;
    },
    async post(gw, path, token, body) {
      const res = await fetch(`${gw.controlUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as never };
    },
    async writerGrant(gw, requester, approver, duration = '1h') {
      const asked = await run.post(gw, '/v1/requests', await run.token(requester), { role: 'writer', duration, reason: 'end-to-end test' });
      const approved = await run.post(gw, `/v1/requests/${String(asked.body.id)}/approve`, await run.token(approver), {});
      return String(approved.body.grant_id);
    },
    async write(gw, token, tag) {
      const res = await fetch(`${gw.proxyUrl}/api/items/${tag}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"name":"x"}' });
      const body = (await res.json()) as { error?: { code?: string } };
      return { status: res.status, code: body.error?.code };
    },
  };
  return run;
}
