// What callers see when the gateway answers instead of the upstream: a stable code, a message that
// never carries secrets or upstream internals, and the ids to quote.
import type { ElevationHint } from '../policy/index.js';
import { ERRORS, type ErrorName, type JitgateError } from '../errors.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

/** A whole HTTP/1.1 answer, written straight to a socket no response object speaks for, that closes it. */
export function rawAnswer(statusLine: string, body: object): string {
  const payload = JSON.stringify(body);
  return `HTTP/1.1 ${statusLine}\r\ncontent-type: ${JSON_TYPE}\r\ncontent-length: ${Buffer.byteLength(payload)}\r\nconnection: close\r\n\r\n${payload}`;
}

export interface ErrorBody {
  error: {
    code: string;
    message: string;
    request_id: string;
    decision_id?: string;
    policy_revision?: string;
    elevation?: { role: string; max_duration_seconds?: number; scope?: ElevationHint['scope']; require_ticket?: true; command: string; url?: string };
  };
}

/** 28800 → "8h", 1800 → "30m", 90 → "90s": the form `jitgate request --duration` takes. */
export function humanDuration(seconds: number): string {
  if (seconds > 0 && seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds > 0 && seconds % 60 === 0) return `${seconds / 60}m`;
  return `${Math.max(1, Math.floor(seconds))}s`;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

export function elevationCommand(hint: ElevationHint): string {
  let cmd = `jitgate request --role ${shellQuote(hint.role)}`;
  if (hint.max_duration_seconds !== undefined) cmd += ` --duration ${humanDuration(hint.max_duration_seconds)}`;
  if (hint.scope?.route !== undefined) cmd += ` --route ${shellQuote(hint.scope.route)}`;
  for (const m of hint.scope?.methods ?? []) cmd += ` --scope-method ${shellQuote(m)}`;
  for (const p of hint.scope?.paths ?? []) cmd += ` --scope-path ${shellQuote(p)}`;
  cmd += ' --reason "..."';
  return hint.require_ticket === true ? `${cmd} --ticket "..."` : cmd;
}

/**
 * The console's request form, filled in with the hint (in the fragment: it never reaches a
 * server or its logs). `consoleUrl` is where users reach the control server.
 */
export function elevationUrl(consoleUrl: string, hint: ElevationHint): string {
  const query = new URLSearchParams({ role: hint.role });
  if (hint.max_duration_seconds !== undefined) query.set('duration', humanDuration(hint.max_duration_seconds));
  if (hint.scope?.route !== undefined) query.set('route', hint.scope.route);
  for (const m of hint.scope?.methods ?? []) query.append('method', m);
  for (const p of hint.scope?.paths ?? []) query.append('path', p);
  return `${consoleUrl}/console/#request?${query.toString()}`;
}

export function errorBody(err: JitgateError, requestId: string, extra: Partial<ErrorBody['error']> = {}): ErrorBody {
  // Clients see the catalogue message plus our own detail; `cause` (upstream internals) never leaves.
  return { error: { code: err.code, message: err.message, request_id: requestId, ...extra } };
}

export function specBody(name: ErrorName, requestId: string, message?: string): ErrorBody {
  const s = ERRORS[name];
  return { error: { code: s.code, message: message ?? s.message, request_id: requestId } };
}

export function denyBody(requestId: string, decisionId: string, revision: string, reason: string | undefined, hint: ElevationHint | undefined, consoleUrl?: string): ErrorBody {
  const body: ErrorBody = {
    error: {
      code: ERRORS.FORBIDDEN.code,
      message: reason ?? ERRORS.FORBIDDEN.message,
      request_id: requestId,
      decision_id: decisionId,
      policy_revision: revision,
    },
  };
  if (hint && typeof hint.role === 'string' && hint.role !== '') {
    body.error.elevation = {
      role: hint.role,
      ...(hint.max_duration_seconds !== undefined ? { max_duration_seconds: hint.max_duration_seconds } : {}),
      ...(hint.scope !== undefined ? { scope: hint.scope } : {}),
      ...(hint.require_ticket === true ? { require_ticket: true as const } : {}),
      command: elevationCommand(hint),
      ...(consoleUrl !== undefined ? { url: elevationUrl(consoleUrl, hint) } : {}),
    };
  }
  return body;
}
