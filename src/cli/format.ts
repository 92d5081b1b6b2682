// Human output: aligned tables, short durations ("1h30m"), times relative to now.
// Types only from the grants part: the CLI never loads server code.
import type { AccessRequest, Grant } from '../grants/index.js';
import { printable, printableName } from './terminal.js';

/** "1h30m", "45s", "2d3h"; at most the two largest units, so tables stay narrow. */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  if (s === 0) return '0s';
  const units: [string, number][] = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];
  const parts: string[] = [];
  let rest = s;
  for (const [name, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || parts.length > 0) parts.push(`${n}${name}`);
  }
  return parts.filter((p) => !p.startsWith('0')).slice(0, 2).join('') || '0s';
}

/** "in 29m" or "5m ago", relative to now. */
export function relative(iso: string | null, now = Date.now()): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const delta = (t - now) / 1000;
  if (Math.abs(delta) < 1) return 'now';
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

/** "2026-11-29 02:55:00Z": ISO without milliseconds, readable in a terminal. */
export function formatTime(iso: string | null): string {
  if (!iso) return '-';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  return `${t.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

function clip(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

/**
 * A plain aligned table with a header row; cells are clipped to maxWidth, except in the columns
 * named in `whole`: ids and revisions, which are read to be pasted back as arguments, and which
 * clipping could make two different values look the same.
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], maxWidth = 48, whole: readonly string[] = []): string {
  const keep = headers.map((h) => whole.includes(h));
  const cells = [headers, ...rows].map((row) => row.map((c, i) => (keep[i] === true ? printable(c) : clip(printable(c), maxWidth))));
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => row[i]?.length ?? 0)));
  return cells
    .map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd())
    .join('\n');
}

/** "key: value" lines, keys aligned. */
export function fields(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${printable(v)}`).join('\n');
}

// What the CLI shows of requests and grants. Names (subjects, roles, tickets, scopes) go through
// printableName: one holding characters outside ASCII says so, and is never clipped.

function scopeText(scope: AccessRequest['scope']): string {
  if (!scope) return 'any';
  const parts = [
    scope.route ? `route=${printableName(scope.route)}` : '',
    scope.methods?.length ? scope.methods.join(',') : '',
    scope.paths?.length ? scope.paths.map(printableName).join(',') : '',
  ].filter(Boolean);
  return parts.join(' ') || 'any';
}

/**
 * "grt_… (ends in 25m)": an extension's duration is added to the end of the grant it extends,
 * so an approver must not take it for a request that starts now.
 */
function extendsText(r: AccessRequest): string {
  if (r.extends_grant_id === null) return '-';
  const end = r.extends_grant_expires_at;
  return `${r.extends_grant_id} (ends ${end === null ? '?' : `${formatTime(end)}, ${relative(end)}`})`;
}

export function requestDetail(r: AccessRequest): string {
  const pairs: [string, string][] = [
    ['request', r.id],
    ['status', r.status],
    ['requester', printableName(r.requester.id)],
    ['role', printableName(r.role)],
    ['scope', scopeText(r.scope)],
    ['duration', formatDuration(r.duration_seconds)],
    ['reason', r.reason],
    ['ticket', r.ticket === null ? '-' : printableName(r.ticket)],
    ['approvals', `${r.approvals.length}/${r.approvals_required}${r.approver_groups.length ? ` (from ${r.approver_groups.map(printableName).join(', ')})` : ''}`],
  ];
  if (r.extends_grant_id) pairs.push(['extends', extendsText(r)]);
  if (r.break_glass) pairs.push(['break-glass', 'yes (review required)']);
  if (r.status === 'pending') pairs.push(['pending until', `${formatTime(r.pending_expires_at)} (${relative(r.pending_expires_at)})`]);
  if (r.decided_by) pairs.push(['decided by', `${printableName(r.decided_by)}${r.decision_comment ? `: ${r.decision_comment}` : ''}`]);
  if (r.grant_id) pairs.push(['grant', r.grant_id]);
  return fields(pairs);
}

export function requestTable(items: readonly AccessRequest[]): string {
  if (items.length === 0) return 'no requests';
  // The EXTENDS column only when a listed request is an extension: most lists hold none.
  const extensions = items.some((r) => r.extends_grant_id !== null);
  return table(
    ['ID', 'REQUESTER', 'ROLE', 'DURATION', ...(extensions ? ['EXTENDS'] : []), 'STATUS', 'APPROVALS', 'CREATED', 'REASON'],
    items.map((r) => [
      r.id, printableName(r.requester.id), printableName(r.role), formatDuration(r.duration_seconds), ...(extensions ? [extendsText(r)] : []), r.status,
      `${r.approvals.length}/${r.approvals_required}`, relative(r.created_at), r.reason,
    ]),
    undefined,
    ['ID', 'EXTENDS', 'REQUESTER', 'ROLE'],
  );
}

export function grantDetail(g: Grant): string {
  const pairs: [string, string][] = [
    ['grant', g.id],
    ['status', g.status],
    ['subject', printableName(g.subject.id)],
    ['role', printableName(g.role)],
    ['scope', scopeText(g.scope)],
    ['expires', `${formatTime(g.expires_at)} (${relative(g.expires_at)})`],
    ['approved by', g.approved_by.map(printableName).join(', ') || '-'],
    ['reason', g.reason],
    ['request', g.request_id],
  ];
  if (g.break_glass) pairs.push(['break-glass', g.reviewed_by ? `reviewed by ${printableName(g.reviewed_by)}` : 'NOT REVIEWED']);
  if (g.revoked_by) pairs.push(['revoked by', `${printableName(g.revoked_by)}${g.revoke_reason ? `: ${g.revoke_reason}` : ''}`]);
  return fields(pairs);
}

export function grantTable(items: readonly Grant[]): string {
  if (items.length === 0) return 'no grants';
  return table(
    ['ID', 'SUBJECT', 'ROLE', 'STATUS', 'EXPIRES', 'APPROVED BY', 'FLAGS'],
    items.map((g) => [
      g.id, printableName(g.subject.id), printableName(g.role), g.status, g.status === 'active' ? relative(g.expires_at) : formatTime(g.expires_at),
      g.approved_by.map(printableName).join(',') || '-', g.break_glass ? (g.reviewed_by ? 'break-glass' : 'break-glass,unreviewed') : '',
    ]),
    undefined,
    ['ID', 'SUBJECT', 'ROLE', 'APPROVED BY'],
  );
}
