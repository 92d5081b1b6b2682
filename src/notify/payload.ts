// What a webhook receives: the generic JSON event, or a chat message ({"text": ...}).
import type { WorkflowEvent } from '../grants/index.js';
import { nonAsciiNote } from '../shown-name.js';

export interface GenericPayload {
  delivery_id: string;
  type: string;
  at: string;
  actor: string;
  policy_revision: string | null;
  request: WorkflowEvent['request'];
  grant: WorkflowEvent['grant'];
}

export function genericPayload(deliveryId: string, e: WorkflowEvent): GenericPayload {
  return { delivery_id: deliveryId, type: e.type, at: e.at, actor: e.actor, policy_revision: e.policy_revision, request: e.request, grant: e.grant };
}

function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** Line breaks and control characters (C0, DEL, C1), and the marks that reorder a line's text (bidi controls). */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]+/g;

/** A zero-width space: invisible, but no chat reads a mention or a link across it. */
const BREAK = '\u200b';

/**
 * Text a requester or approver wrote, made plain for a chat message. Slack and Mattermost read
 * `<!channel>`, `<@U123>` and `<https://x|label>` as pings and links (so `&`, `<` and `>` are
 * escaped, as they ask); Mattermost also reads Markdown, where `@channel`, `@here` and `@name`
 * ping and `[label](url)` and `![](url)` are links and images fetched by every reader (so `@`
 * and `](` get a zero-width space). A line break would let the text pass for a message of the
 * gateway's own ("... is approved"), and bidi controls would let it show its words in another
 * order than they are read.
 */
function plain(text: string): string {
  return text
    .replace(UNPRINTABLE, ' ')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('@', `@${BREAK}`)
    .replaceAll('](', `]${BREAK}(`);
}

/**
 * A name (subject, role, group, ticket, scope path) made plain, then followed by what it holds
 * outside ASCII: `аlice` (Cyrillic а) reads as alice in a chat channel, where approvers often
 * first see a request.
 */
function name(text: string): string {
  const note = nonAsciiNote(text);
  return note === null ? plain(text) : `${plain(text)} ${note}`;
}

function scope(e: WorkflowEvent): string {
  const s = e.request.scope;
  if (!s) return '';
  const parts = [s.route ? `route ${name(s.route)}` : '', plain(s.methods?.join(',') ?? ''), s.paths?.map(name).join(' ') ?? ''].filter((p) => p !== '');
  return parts.length > 0 ? ` (scope: ${parts.join(' ')})` : '';
}

/** One line a person reads in a chat channel; break-glass is meant to be impossible to miss. */
export function chatText(e: WorkflowEvent): string {
  const unsafe = e.request;
  // Every field a person could have written, made plain once (ids and times are the gateway's).
  const r = {
    ...unsafe,
    role: name(unsafe.role),
    reason: plain(unsafe.reason),
    decision_comment: unsafe.decision_comment === null ? null : plain(unsafe.decision_comment),
    approver_groups: unsafe.approver_groups.map(name),
  };
  const who = name(unsafe.requester.id);
  const actor = name(e.actor);
  const what = `${r.role}${scope(e)} for ${duration(r.duration_seconds)}`;
  const ticket = unsafe.ticket ? ` [${name(unsafe.ticket)}]` : '';
  // An extension adds its duration to the end of the grant it extends, not to now: said, so that
  // it is not approved as a fresh request.
  const extending = unsafe.extends_grant_id === null ? '' : `, extending grant ${unsafe.extends_grant_id} (ends ${unsafe.extends_grant_expires_at ?? '?'})`;
  switch (e.type) {
    case 'request.created':
      return `${who} requests ${what}${extending}${ticket}: "${r.reason}". Request ${r.id} needs ${r.approvals_required} approval(s) from ${r.approver_groups.join(', ') || 'approvers'}.`;
    case 'approval.added':
      return `${actor} approved request ${r.id} of ${who} for ${r.role}${extending} (${r.approvals.length}/${r.approvals_required}).`;
    case 'request.approved':
      return `Request ${r.id} of ${who} for ${r.role} is approved (by ${actor}).`;
    case 'request.denied':
      return `${actor} denied request ${r.id} of ${who} for ${r.role}${r.decision_comment ? `: "${r.decision_comment}"` : ''}.`;
    case 'request.withdrawn':
      return `${who} withdrew request ${r.id} for ${r.role}.`;
    case 'request.expired':
      return `Request ${r.id} of ${who} for ${r.role} expired without a decision.`;
    case 'grant.granted':
      return `${who} now holds ${what} until ${e.grant?.expires_at ?? '?'} (grant ${e.grant?.id ?? '?'}).`;
    case 'grant.revoked':
      return `Grant ${e.grant?.id ?? '?'} (${r.role}) of ${who} was revoked by ${actor}.`;
    case 'grant.expired':
      return `Grant ${e.grant?.id ?? '?'} (${r.role}) of ${who} has expired.`;
    case 'grant.break_glass':
      return `:rotating_light: BREAK-GLASS :rotating_light: ${who} took ${what} without approval: "${r.reason}". Grant ${e.grant?.id ?? '?'} must be reviewed.`;
    case 'grant.reviewed':
      return `Break-glass grant ${e.grant?.id ?? '?'} of ${who} was reviewed by ${actor}.`;
  }
}
