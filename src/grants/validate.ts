// Shape checks for what callers hand the workflow; the policy decides everything else.
import { jitgateError } from '../errors.js';
import type { GrantScope, Subject } from '../policy/index.js';
import type { NewRequest } from './types.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

function fail(detail: string): never {
  throw jitgateError('VALIDATION', detail);
}

function isString(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length <= max;
}

export function checkActor(actor: Subject): void {
  if (!isString(actor.id, 256) || actor.id.trim() === '') fail('the actor has no id');
}

function checkScope(scope: unknown): GrantScope | null {
  if (scope === null || scope === undefined) return null;
  if (typeof scope !== 'object' || Array.isArray(scope)) fail('scope must be an object');
  const s = scope as Record<string, unknown>;
  const out: GrantScope = {};
  for (const key of Object.keys(s)) {
    if (!['route', 'methods', 'paths'].includes(key)) fail(`scope: unknown field ${key}`);
  }
  if (s.route !== undefined) {
    if (!isString(s.route, 200) || s.route === '') fail('scope.route must be a route name');
    out.route = s.route;
  }
  if (s.methods !== undefined) {
    if (!Array.isArray(s.methods) || s.methods.length === 0) fail('scope.methods must be a non-empty list');
    out.methods = s.methods.map((m: unknown) => {
      if (typeof m !== 'string' || !METHODS.has(m.toUpperCase())) fail(`scope.methods: unknown method ${String(m)}`);
      return m.toUpperCase();
    });
  }
  if (s.paths !== undefined) {
    if (!Array.isArray(s.paths) || s.paths.length === 0) fail('scope.paths must be a non-empty list');
    out.paths = s.paths.map((p: unknown) => {
      if (!isString(p, 1000) || !p.startsWith('/')) fail('scope.paths: each pattern starts with /');
      return p;
    });
  }
  return out;
}

export interface CheckedAsk {
  duration_seconds: number;
  reason: string;
  ticket: string | null;
  pending_ttl_seconds: number | null;
}

export function checkAsk(req: { duration_seconds: unknown; reason: unknown; ticket?: unknown; pending_ttl_seconds?: unknown }): CheckedAsk {
  const d = req.duration_seconds;
  if (typeof d !== 'number' || !Number.isInteger(d) || d < 1) fail('duration_seconds must be a positive integer');
  if (!isString(req.reason, 2000)) fail('reason must be a string of at most 2000 characters');
  const ticket = req.ticket ?? null;
  if (ticket !== null && !isString(ticket, 200)) fail('ticket must be a string of at most 200 characters');
  const ttl = req.pending_ttl_seconds ?? null;
  if (ttl !== null && (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1)) fail('pending_ttl_seconds must be a positive integer');
  return { duration_seconds: d, reason: req.reason, ticket: ticket === null || ticket.trim() === '' ? null : ticket, pending_ttl_seconds: ttl };
}

export function checkNewRequest(req: NewRequest): CheckedAsk & { role: string; scope: GrantScope | null } {
  if (!isString(req.role, 100) || req.role.trim() === '') fail('role is required');
  return { ...checkAsk(req), role: req.role, scope: checkScope(req.scope) };
}
