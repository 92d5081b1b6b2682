// Who the caller is, and the audit trail for those allowed to read it.
import { jitgateError } from '../../errors.js';
import type { Subject } from '../../policy/contract.js';
import { route, type RouteDef } from '../route.js';
import { auditPageSchema, auditQuery, whoamiSchema } from '../schemas.js';
import type { AuditQuery, AuditQueryFilter } from '../types.js';

type AuditQueryString = Omit<AuditQueryFilter, 'kinds'> & { kind?: string };

export function identityRoutes(query: AuditQuery, readerGroups: readonly string[]): RouteDef[] {
  const mayReadAudit = (subject: Subject): boolean => subject.groups.some((g) => readerGroups.includes(g));
  return [
    route({
      method: 'GET',
      url: '/v1/whoami',
      operationId: 'whoami',
      summary: 'The authenticated caller, as the policies see it',
      tag: 'identity',
      auth: true,
      status: 200,
      schema: { response: whoamiSchema },
      handler: ({ subject }) =>
        Promise.resolve({ id: subject.id, kind: subject.kind, groups: subject.groups, claims: subject.claims, can_read_audit: mayReadAudit(subject) }),
    }),
    route<never, AuditQueryString>({
      method: 'GET',
      url: '/v1/audit',
      operationId: 'listAudit',
      summary: 'Read the hash-chained audit trail (oldest first unless order=desc)',
      description: `Only members of the audit reader groups (default: ${readerGroups.join(', ')}) may read it; others get 403 JITGATE_E_AUDIT_READ_DENIED.`,
      tag: 'audit',
      auth: true,
      status: 200,
      schema: { querystring: auditQuery, response: auditPageSchema },
      async handler({ subject, query: q }) {
        if (!mayReadAudit(subject)) {
          throw jitgateError('AUDIT_READ_DENIED', `members of ${readerGroups.join(', ')} only`);
        }
        const { kind, ...rest } = q;
        const page = await query({ ...rest, ...(kind ? { kinds: kind.split(',') } : {}) });
        return { items: page.records, next_cursor: page.next_cursor };
      },
    }),
  ];
}
