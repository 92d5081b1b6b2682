// `jitgate request`: ask for an elevation (or extend a grant) with a reason.
import type { Command } from 'commander';
import type { AccessRequest } from '../../grants/index.js';
import { collect, connectionOptions, run, type ConnectionOptions } from '../client.js';
import { formatDuration, formatTime, requestDetail } from '../format.js';

interface RequestOptions extends ConnectionOptions {
  role?: string;
  duration: string;
  reason: string;
  ticket?: string;
  scopeMethod?: string[];
  scopePath?: string[];
  route?: string;
  extend?: string;
  pendingTtl?: string;
}

function summary(r: AccessRequest): string {
  if (r.status === 'approved' && r.grant_id) {
    return `approved: grant ${r.grant_id} (${r.role}, ${formatDuration(r.duration_seconds)})`;
  }
  if (r.status === 'pending') {
    const groups = r.approver_groups.length ? ` from ${r.approver_groups.join(', ')}` : '';
    return `pending: needs ${r.approvals_required} approval(s)${groups} before ${formatTime(r.pending_expires_at)}`;
  }
  return r.status;
}

export function register(program: Command): void {
  connectionOptions(
    program
      .command('request')
      .description('ask for an elevation (a role for a while, with a reason), or extend a grant with --extend')
      .option('--role <role>', 'the role to elevate to')
      .requiredOption('--duration <duration>', 'how long: 30m, 1h, 1h30m, or seconds')
      .requiredOption('--reason <text>', 'why you need it (shown to approvers, kept in the audit trail)')
      .option('--ticket <ref>', 'a ticket or incident reference')
      .option('--scope-method <method>', 'limit the grant to this HTTP method (repeatable)', collect)
      .option('--scope-path <glob>', 'limit the grant to this path glob, e.g. /orders/** (repeatable)', collect)
      .option('--route <name>', 'limit the grant to this gateway route')
      .option('--extend <grant-id>', 'extend this active grant instead of asking for a new role')
      .option('--pending-ttl <duration>', 'how long the request may wait for approvers (default and most: the gateway\'s pending_ttl_seconds)')
      .addHelpText('after', '\nExamples:\n  jitgate request --role writer --duration 30m --reason "INC-42 refund" --ticket INC-42\n  jitgate request --extend grt_403fcbb47a814c3cbe59e21267225e2f --duration 15m --reason "still on it"'),
  ).action(async (opts: RequestOptions, cmd: Command) => {
    if (opts.extend && (opts.role ?? opts.route ?? opts.scopeMethod ?? opts.scopePath)) {
      cmd.error('--extend keeps the grant\'s role and scope: do not combine it with --role, --route or --scope-*');
    }
    if (!opts.extend && !opts.role) cmd.error('either --role or --extend is required');
    await run(opts, async (client) => {
      const scope = {
        ...(opts.route ? { route: opts.route } : {}),
        ...(opts.scopeMethod ? { methods: opts.scopeMethod.map((m) => m.toUpperCase()) } : {}),
        ...(opts.scopePath ? { paths: opts.scopePath } : {}),
      };
      // Durations go as typed ("30m", "1800"): the API reads both forms.
      const body: Record<string, unknown> = {
        duration: opts.duration,
        reason: opts.reason,
        ...(opts.ticket ? { ticket: opts.ticket } : {}),
        ...(opts.pendingTtl ? { pending_ttl: opts.pendingTtl } : {}),
        ...(opts.extend ? { extends_grant_id: opts.extend } : { role: opts.role }),
        ...(Object.keys(scope).length ? { scope } : {}),
      };
      const r = await client.call<AccessRequest>('POST', '/v1/requests', body);
      return { json: r, text: `${summary(r)}\n${requestDetail(r)}` };
    });
  });
}
