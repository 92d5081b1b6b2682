// Elevation requests: ask, list, read, approve, deny, withdraw.
import type { AccessRequest, RequestStatus, Workflow } from '../../grants/index.js';
import type { GrantScope, Subject } from '../../policy/index.js';
import { jitgateError } from '../../errors.js';
import { parseDuration } from '../duration.js';
import { cursorScope, readVisiblePage, type PageQuery } from '../page.js';
import { route, type IdParams, type RouteDef } from '../route.js';
import {
  accessRequestSchema, commentBody, emptyBody, idParams, newRequestBody, noQuery, pageOf, requestsQuery,
} from '../schemas.js';

interface NewRequestBody {
  role?: string;
  scope?: GrantScope;
  duration: number | string;
  reason: string;
  ticket?: string;
  extends_grant_id?: string;
  pending_ttl?: number | string;
}

interface RequestsQuery extends PageQuery {
  status?: RequestStatus;
  requester?: string;
  role?: string;
}

/** One request, if the caller may see it; one it may not see is answered as absent. */
async function visible(workflow: Workflow, actor: Subject, id: string): Promise<AccessRequest> {
  const request = await workflow.getRequest(id);
  if (!request || !workflow.canViewRequest(actor, request)) throw jitgateError('NOT_FOUND', `no request ${id}`, { request_id: id });
  return request;
}

export function requestRoutes(workflow: Workflow): RouteDef[] {
  return [
    route<NewRequestBody>({
      method: 'POST',
      url: '/v1/requests',
      operationId: 'createRequest',
      summary: 'Ask for an elevation, or for an extension of an active grant',
      description:
        'The elevation policy decides at once: the request may be refused (403 JITGATE_E_ELEVATION_DENIED), ' +
        'auto-approved (status `approved`, `grant_id` set) or left pending for approvers.',
      tag: 'requests',
      auth: true,
      status: 201,
      schema: { body: newRequestBody, querystring: noQuery, response: accessRequestSchema },
      async handler({ subject, body, call }) {
        const duration_seconds = parseDuration(body.duration);
        const pending_ttl_seconds = body.pending_ttl === undefined ? null : parseDuration(body.pending_ttl, 'pending_ttl');
        const ask = { duration_seconds, reason: body.reason, ticket: body.ticket ?? null, pending_ttl_seconds };
        if (body.extends_grant_id !== undefined) return workflow.extend(subject, body.extends_grant_id, ask, call);
        if (body.role === undefined) throw jitgateError('VALIDATION', 'body.role is required', { in: 'body', field: 'role' });
        return workflow.request(subject, { ...ask, role: body.role, scope: body.scope ?? null }, call);
      },
    }),
    route<never, RequestsQuery>({
      method: 'GET',
      url: '/v1/requests',
      operationId: 'listRequests',
      summary: 'List requests, newest first',
      description: 'Only requests the elevation policy lets the caller see (action `view`) are listed, so a page may hold fewer than `limit` items: pass `next_cursor` as `cursor` until it is null.',
      tag: 'requests',
      auth: true,
      status: 200,
      schema: { querystring: requestsQuery, response: pageOf(accessRequestSchema) },
      handler: async ({ subject, query }) =>
        readVisiblePage(query, cursorScope(await workflow.listingKey(), '/v1/requests', subject, query), (window) => workflow.listRequests({
          ...(query.status ? { status: query.status } : {}),
          ...(query.requester ? { requester: query.requester } : {}),
          ...(query.role ? { role: query.role } : {}),
          ...window,
        }), (request) => ({ at: request.created_at, id: request.id }), (request) => workflow.canViewRequest(subject, request)),
    }),
    route<never, never, IdParams>({
      method: 'GET',
      url: '/v1/requests/:id',
      operationId: 'getRequest',
      summary: 'Read one request',
      tag: 'requests',
      auth: true,
      status: 200,
      schema: { params: idParams, querystring: noQuery, response: accessRequestSchema },
      handler: ({ subject, params }) => visible(workflow, subject, params.id),
    }),
    route<{ comment?: string } | null, never, IdParams>({
      method: 'POST',
      url: '/v1/requests/:id/approve',
      operationId: 'approveRequest',
      summary: 'Approve a pending request',
      description: 'Requesters can never approve their own request (403 JITGATE_E_SELF_APPROVAL). When the last required approval arrives the grant starts. '
        + 'A requester the policy in force no longer makes eligible for the role is not approved (409 JITGATE_E_REQUESTER_NOT_ELIGIBLE): nothing changes. '
        + 'Nor is a request that no longer meets the role\'s settings in force, e.g. a duration over a maximum lowered since it was made, or a ticket now required (409 JITGATE_E_REQUEST_OUTSIDE_SETTINGS): nothing changes, nothing is cut down to fit.',
      tag: 'requests',
      auth: true,
      status: 200,
      schema: { params: idParams, querystring: noQuery, body: commentBody, response: accessRequestSchema },
      handler: ({ subject, params, body, call }) => workflow.approve(subject, params.id, body?.comment, call),
    }),
    route<{ comment?: string } | null, never, IdParams>({
      method: 'POST',
      url: '/v1/requests/:id/deny',
      operationId: 'denyRequest',
      summary: 'Deny a pending request',
      description: 'Requesters cannot deny their own request (403 JITGATE_E_SELF_APPROVAL, as for approving): they withdraw it.',
      tag: 'requests',
      auth: true,
      status: 200,
      schema: { params: idParams, querystring: noQuery, body: commentBody, response: accessRequestSchema },
      handler: ({ subject, params, body, call }) => workflow.deny(subject, params.id, body?.comment, call),
    }),
    route<null, never, IdParams>({
      method: 'POST',
      url: '/v1/requests/:id/withdraw',
      operationId: 'withdrawRequest',
      summary: 'Withdraw your own pending request',
      tag: 'requests',
      auth: true,
      status: 200,
      schema: { params: idParams, querystring: noQuery, body: emptyBody, response: accessRequestSchema },
      handler: ({ subject, params, call }) => workflow.withdraw(subject, params.id, call),
    }),
  ];
}
