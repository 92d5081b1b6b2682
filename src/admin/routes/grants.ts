// Grants: list, read, revoke, review (break-glass).
import type { Grant, Workflow } from '../../grants/index.js';
import type { Subject } from '../../policy/index.js';
import { jitgateError } from '../../errors.js';
import { cursorScope, readVisiblePage, type PageQuery } from '../page.js';
import { route, type IdParams, type RouteDef } from '../route.js';
import { commentBody, grantSchema, grantsQuery, idParams, noQuery, pageOf, revokeBody } from '../schemas.js';

interface GrantsQuery extends PageQuery {
  subject?: string;
  active?: boolean;
  break_glass?: boolean;
  reviewed?: boolean;
}

/** One grant, if the caller may see it; one it may not see is answered as absent. */
async function visible(workflow: Workflow, actor: Subject, id: string): Promise<Grant> {
  const grant = await workflow.getGrant(id);
  if (!grant || !workflow.canViewGrant(actor, grant)) throw jitgateError('NOT_FOUND', `no grant ${id}`, { grant_id: id });
  return grant;
}

export function grantRoutes(workflow: Workflow): RouteDef[] {
  return [
    route<never, GrantsQuery>({
      method: 'GET',
      url: '/v1/grants',
      operationId: 'listGrants',
      summary: 'List grants, newest first',
      description: '`active=true` returns only grants in force now (not revoked, not past `expires_at`). `break_glass=true&reviewed=false` returns the break-glass grants nobody has reviewed yet, whatever their status (ended ones too: they still need their review). Only grants the elevation policy lets the caller see (action `view`) are listed, so a page may hold fewer than `limit` items: pass `next_cursor` as `cursor` until it is null.',
      tag: 'grants',
      auth: true,
      status: 200,
      schema: { querystring: grantsQuery, response: pageOf(grantSchema) },
      handler: async ({ subject, query }) =>
        readVisiblePage(query, cursorScope(await workflow.listingKey(), '/v1/grants', subject, query), (window) => workflow.listGrants({
          ...(query.subject ? { subject: query.subject } : {}),
          ...(query.active !== undefined ? { active: query.active } : {}),
          ...(query.break_glass !== undefined ? { break_glass: query.break_glass } : {}),
          ...(query.reviewed !== undefined ? { reviewed: query.reviewed } : {}),
          ...window,
        }), (grant) => ({ at: grant.starts_at, id: grant.id }), (grant) => workflow.canViewGrant(subject, grant)),
    }),
    route<never, never, IdParams>({
      method: 'GET',
      url: '/v1/grants/:id',
      operationId: 'getGrant',
      summary: 'Read one grant',
      tag: 'grants',
      auth: true,
      status: 200,
      schema: { params: idParams, querystring: noQuery, response: grantSchema },
      handler: ({ subject, params }) => visible(workflow, subject, params.id),
    }),
    route<{ reason?: string } | null, never, IdParams>({
      method: 'POST',
      url: '/v1/grants/:id/revoke',
      operationId: 'revokeGrant',
      summary: 'Revoke an active grant',
      description: 'Takes effect on this replica before the call returns.',
      tag: 'grants',
      auth: true,
      status: 200,
      schema: { params: idParams, querystring: noQuery, body: revokeBody, response: grantSchema },
      handler: ({ subject, params, body, call }) => workflow.revoke(subject, params.id, body?.reason, call),
    }),
    route<{ comment?: string } | null, never, IdParams>({
      method: 'POST',
      url: '/v1/grants/:id/review',
      operationId: 'reviewGrant',
      summary: 'Record the after-the-fact review of a break-glass grant',
      tag: 'grants',
      auth: true,
      status: 200,
      schema: { params: idParams, querystring: noQuery, body: commentBody, response: grantSchema },
      handler: ({ subject, params, body, call }) => workflow.review(subject, params.id, body?.comment, call),
    }),
  ];
}
