// Who the caller is, and the audit trail for those the elevation policy lets read it.
import { jitgateError } from '../../errors.js';
import type { Workflow } from '../../grants/index.js';
import { route, type RouteDef } from '../route.js';
import { auditPageSchema, auditQuery, noQuery, whoamiSchema } from '../schemas.js';
import type { AuditQuery, AuditQueryFilter } from '../types.js';

type AuditQueryString = Omit<AuditQueryFilter, 'kinds'> & { kind?: string };

export function identityRoutes(query: AuditQuery, workflow: Workflow): RouteDef[] {
  return [
    route({
      method: 'GET',
      url: '/v1/whoami',
      operationId: 'whoami',
      summary: 'The authenticated caller, as the policies see it',
      tag: 'identity',
      auth: true,
      status: 200,
      schema: { querystring: noQuery, response: whoamiSchema },
      handler: ({ subject }) =>
        Promise.resolve({
          id: subject.id, kind: subject.kind, groups: subject.groups, claims: subject.claims,
          can_read_audit: workflow.auditReadDecision(subject).allow,
        }),
    }),
    route<never, AuditQueryString>({
      method: 'GET',
      url: '/v1/audit',
      operationId: 'listAudit',
      summary: 'Read the hash-chained audit trail (oldest first unless order=desc)',
      description: 'The elevation policy decides who may read it (action audit_read; with the sample policies, members of data.jitgate.audit_reader_groups); others get 403 JITGATE_E_AUDIT_READ_DENIED with the policy\'s reason.',
      tag: 'audit',
      auth: true,
      status: 200,
      schema: { querystring: auditQuery, response: auditPageSchema },
      async handler({ subject, query: q }) {
        const decision = workflow.auditReadDecision(subject);
        if (!decision.allow) throw jitgateError('AUDIT_READ_DENIED', decision.reason);
        const { kind, ...rest } = q;
        const page = await query({ ...rest, ...(kind ? { kinds: kind.split(',') } : {}) });
        return { items: page.records, next_cursor: page.next_cursor };
      },
    }),
  ];
}
