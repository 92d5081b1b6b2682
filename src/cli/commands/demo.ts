import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { holdReloadsWhileStarting, reportStartupError } from './serve.js';

const UPSTREAM = { host: '127.0.0.1', port: 9001 };
/** The committed sample bundle: what the demo serves where opa is not installed. */
const SAMPLE_BUNDLE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bundles/jitgate.tar.gz');

/** The demo builds into its data folder; seed it with the sample bundle so it starts without opa. */
async function seedBundles(bundlesDir: string): Promise<void> {
  // Made before the store makes the data folder (0700): not left to the umask either.
  await mkdir(bundlesDir, { recursive: true, mode: 0o700 });
  const present = (await readdir(bundlesDir)).some((f) => f.endsWith('.tar.gz'));
  if (!present) await copyFile(SAMPLE_BUNDLE, join(bundlesDir, 'jitgate.tar.gz'));
}

function banner(proxy: string, control: string): string {
  return `
  jitgate demo is running (Ctrl-C stops it)
    proxy        http://${proxy}      -> demo upstream http://${UPSTREAM.host}:${UPSTREAM.port}
    control API  http://${control}
    web console  http://${control}/console/   (sign in with a token: ./jitgate token --sub bob)
  Try, in another terminal:
    export JITGATE_TOKEN=$(./jitgate token --sub alice)
    curl -s localhost:8080/api/items -H "authorization: Bearer $JITGATE_TOKEN"
    curl -s -XPOST localhost:8080/api/items -H "authorization: Bearer $JITGATE_TOKEN" -H 'content-type: application/json' -d '{"name":"x"}'
    ./jitgate request --role writer --duration 15m --reason "fix item 42"
    JITGATE_TOKEN=$(./jitgate token --sub bob) ./jitgate approve <request-id>
  Subjects: alice, erin (eng) · bob, carol (approvers) · dave (admin) · svc-reporting (x-api-key: jg_reporting.demo-only-service-key)
`;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the demo: the gateway with the sample policies in front of a demo upstream API')
    .option('-c, --config <file>', 'configuration file', 'opa.config.yaml')
    .action(async (opts: { config: string }) => {
      const starting = holdReloadsWhileStarting();
      try {
        // The upstream's keys are made fresh for each run and handed to both sides through the
        // environment: the gateway injects them, no caller ever sees them.
        const keys = {
          readonly: randomBytes(24).toString('base64url'),
          writer: randomBytes(24).toString('base64url'),
          admin: randomBytes(24).toString('base64url'),
        };
        process.env.DEMO_UPSTREAM_READ_KEY = keys.readonly;
        process.env.DEMO_UPSTREAM_WRITE_KEY = keys.writer;
        process.env.DEMO_UPSTREAM_ADMIN_KEY = keys.admin;
        const { loadConfig } = await import('../../config/index.js');
        const { startDemoUpstream } = await import('../../demo/index.js');
        const { runUntilSignal, startGateway } = await import('../../gateway/index.js');
        const config = loadConfig(opts.config);
        await seedBundles(config.jitgate.policy.bundles_dir);
        const upstream = await startDemoUpstream({ ...UPSTREAM, keys });
        const gateway = await startGateway(config);
        process.stdout.write(
          banner(`${gateway.proxyAddress.host}:${gateway.proxyAddress.port}`, `${gateway.controlAddress.host}:${gateway.controlAddress.port}`),
        );
        await runUntilSignal(gateway, opts.config, starting);
        await upstream.close();
      } catch (err) {
        reportStartupError(err);
      }
    });
}
