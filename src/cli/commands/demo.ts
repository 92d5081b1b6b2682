import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { startDemoUpstream } from '../../demo/index.js';
import { runUntilSignal, startGateway } from '../../gateway/index.js';
import { reportStartupError } from './serve.js';

const UPSTREAM = { host: '127.0.0.1', port: 9001 };

function banner(proxy: string, control: string): string {
  return `
  jitgate demo is running (Ctrl-C stops it)
    proxy        http://${proxy}      -> demo upstream http://${UPSTREAM.host}:${UPSTREAM.port}
    control API  http://${control}
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
        const config = loadConfig(opts.config);
        const upstream = await startDemoUpstream({ ...UPSTREAM, keys });
        const gateway = await startGateway(config);
        process.stdout.write(
          banner(`${gateway.proxyAddress.host}:${gateway.proxyAddress.port}`, `${gateway.controlAddress.host}:${gateway.controlAddress.port}`),
        );
        await runUntilSignal(gateway, opts.config);
        await upstream.close();
      } catch (err) {
        reportStartupError(err);
      }
    });
}
