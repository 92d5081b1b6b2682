// @ts-check
// The approvers' console: a thin page over the control API on the same origin. It holds no
// rules of its own: what a user may see and do is what the API (and so the elevation policy)
// answers. Everything from the API is put on the page as text, never as markup: a request's
// reason is written by its requester and must not run in an approver's browser.

/**
 * The token is held in this page's memory only: reloading or closing the page signs out. Not in
 * sessionStorage, which Chromium writes to the profile on disk (for session restore), where a
 * token, an API key that never expires among them, stayed after sign-out and browser exit.
 */
let token = '';
/** Where versions before this one kept the token: cleared at load, so none is left behind. */
const OLD_TOKEN_KEY = 'jitgate.console.token';
/** Pages of 100 read per list before the page says that more exist. */
const MAX_PAGES = 10;
/** Audit records shown at first (the newest), and added by each "Show older records". */
const AUDIT_ROWS = 50;
/** The API's largest page (GET /v1/audit, limit): more records than this are read page by page. */
const AUDIT_MAX_PAGE = 1000;
/** The lists are read again this often while the tab is visible and nothing is being typed in them. */
const AUTO_REFRESH_MS = 15_000;

/**
 * The parts of the API's objects this page shows (docs/api.md, "Objects").
 * @typedef {{ route?: string, methods?: string[], paths?: string[] } | null} Scope
 * @typedef {{ id: string, groups: string[], can_read_audit: boolean }} Me
 * @typedef {{ id: string, requester: { id: string }, role: string, scope: Scope, duration_seconds: number,
 *   reason: string, ticket: string | null, status: string, approvals_required: number, break_glass: boolean,
 *   approvals: { by: string }[], created_at: string, pending_expires_at: string, grant_id: string | null,
 *   extends_grant_id: string | null, extends_grant_expires_at: string | null }} AccessRequest
 * @typedef {{ id: string, subject: { id: string }, role: string, scope: Scope, reason: string, approved_by: string[],
 *   break_glass: boolean, reviewed_by: string | null, starts_at: string, expires_at: string, status: string,
 *   revoked_at: string | null }} Grant
 * @typedef {{ seq: number, at: string, kind: string, actor: string, subject: string | null, role: string | null,
 *   reason: string | null, decision_id: string | null, details: Record<string, unknown> }} AuditRecord
 */

class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** @param {string} id @returns {HTMLElement} */
function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page lacks #${id}`);
  return node;
}

/**
 * An element with text children (strings become text nodes, never markup).
 * @param {string} tag
 * @param {Record<string, string>} attrs
 * @param {(Node | string)[]} children
 */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/**
 * What a name may hold that does not show as itself: controls, format characters (bidi
 * overrides and isolates reorder what follows, zero-width ones vanish), default-ignorable
 * fillers, and every space but a single one between words (the page would collapse or hide
 * it). `alice`, `alice\u200b` and `\u202eecila` are three subjects that render alike; the
 * elevation policy and the store tell them apart, so an approver must be able to as well.
 */
const UNSEEN_IN_NAME = /[\p{Cc}\p{Cf}\p{Z}\p{Default_Ignorable_Code_Point}\u2800]/u;
/**
 * In free text (reasons) only what breaks the order or lines the reader sees: controls other
 * than newline and tab, line and paragraph separators, and bidi marks, embeddings, overrides
 * and isolates. Emoji sequences (joiners, variation selectors) stay as written.
 */
const UNSEEN_IN_TEXT = /[\p{Cc}\p{Zl}\p{Zp}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/**
 * Scripts a name's letters outside ASCII are said to be from. Any letter outside ASCII is marked
 * (see foreignNote): this list only names them, and anything not in it is "other". The CLI and
 * the chat notifier name them from the same list (src/shown-name.ts; a test checks they agree).
 */
const SCRIPTS = ['Latin', 'Greek', 'Cyrillic', 'Armenian', 'Cherokee', 'Coptic', 'Georgian', 'Lisu', 'Canadian_Aboriginal',
  'Arabic', 'Hebrew', 'Devanagari', 'Han', 'Hiragana', 'Katakana', 'Hangul', 'Thai']
  .map((name) => /** @type {const} */ ([name.replace('_', ' '), new RegExp(`\\p{Script=${name}}`, 'u')]));
/** Code points a marker lists before it says that more follow. */
const NOTE_MAX = 8;

/** @param {string} ch */
function codeOf(ch) {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * A character of a name that is shown as itself but is not ASCII. `аlice` (Cyrillic а, U+0430),
 * `alіce` (U+0456), `аре` (all Cyrillic) and `ａｌｉｃｅ` (fullwidth) render as alice and ape;
 * the policy and the store take each for someone else. What looks like which Latin letter is
 * Unicode's confusables data, which the browser does not carry, so every character outside
 * ASCII is marked, as browsers show a mixed-script domain name: each in place (readable:
 * a name in Greek or Japanese stays a name) and, after the name, the code points (a marker
 * such as `[non-ASCII: Cyrillic U+0430]`).
 * @param {string} ch
 */
function foreign(ch) {
  return ch > '\u007e' && !UNSEEN_IN_NAME.test(ch);
}

/**
 * The marker that follows a name holding characters outside ASCII; null for an ASCII name.
 * @param {string} text
 * @returns {string | null}
 */
function foreignNote(text) {
  /** @type {Map<string, string[]>} */
  const byScript = new Map();
  let count = 0;
  for (const ch of new Set(text)) {
    if (!foreign(ch)) continue;
    count += 1;
    if (count > NOTE_MAX) continue;
    const script = SCRIPTS.find(([, re]) => re.test(ch))?.[0] ?? 'other';
    byScript.set(script, [...(byScript.get(script) ?? []), codeOf(ch)]);
  }
  if (count === 0) return null;
  const listed = [...byScript].map(([script, codes]) => `${script} ${codes.join(' ')}`).join(', ');
  return `[non-ASCII: ${listed}${count > NOTE_MAX ? ' …' : ''}]`;
}

/**
 * `text` with each character the reader could not see replaced by a visible marker (`[U+200B]`);
 * in a name, each character outside ASCII is shown as itself, marked.
 * @param {string} text
 * @param {'text' | 'name' | 'path'} kind free text; a name (subject, role, ticket); a scope's path
 *   glob, where even a single space is marked (`/a /b` would read as two globs)
 * @returns {(Node | string)[]}
 */
function marked(text, kind) {
  /** @type {(Node | string)[]} */
  const out = [];
  const chars = [...text];
  let plain = '';
  chars.forEach((ch, i) => {
    const lone = kind === 'name' && ch === ' ' && i > 0 && i < chars.length - 1 && chars[i - 1] !== ' ' && chars[i + 1] !== ' ';
    const unseen = kind === 'text' ? ch !== '\n' && ch !== '\t' && UNSEEN_IN_TEXT.test(ch) : UNSEEN_IN_NAME.test(ch) && !lone;
    const outside = kind !== 'text' && foreign(ch);
    if (!unseen && !outside) {
      plain += ch;
      return;
    }
    if (plain) out.push(plain);
    plain = '';
    const code = codeOf(ch);
    out.push(unseen
      ? el('span', { class: 'unseen', title: `an invisible or reordering character (${code}) is part of this text` }, `[${code}]`)
      : el('span', { class: 'foreign', title: `${code}: not an ASCII character` }, ch));
  });
  if (plain) out.push(plain);
  return out;
}

/**
 * A name as the page shows it: markers for what would not show or is not ASCII, and isolated
 * (<bdi>) so a right-to-left name cannot reorder what stands beside it in the same cell.
 * @param {string} text
 * @param {'name' | 'path'} [kind]
 * @returns {Node}
 */
function asName(text, kind = 'name') {
  const name = el('bdi', {}, ...marked(text, kind));
  const note = foreignNote(text);
  return note === null ? name : el('span', {}, name, ' ', el('span', { class: 'not-ascii', title: 'this name holds characters outside ASCII: it is not the ASCII name it may look like' }, note));
}

/** Names in a list, each isolated from the others. @param {string[]} list @returns {(Node | string)[]} */
function asNames(list) {
  return list.flatMap((n, i) => (i === 0 ? [asName(n)] : [', ', asName(n)]));
}

/**
 * Free text (a reason, a comment) as the page shows it: in a box of its own, so that nothing in
 * it can pass for the page's own words. A reason reading `bob: approved already` would
 * otherwise look like what the audit view writes for a reason someone else gave (reasonText).
 * @param {string} text
 * @returns {Node}
 */
function asProse(text) {
  return el('span', { class: 'said' }, ...marked(text, 'text'));
}

/** @param {string} method @param {string} path @param {unknown} [body] */
async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
    redirect: 'error',
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const error = data && typeof data === 'object' ? data.error : null;
    throw new ApiError(res.status, error?.code ?? `HTTP_${res.status}`, error?.message ?? res.statusText);
  }
  return data;
}

/**
 * Every item of a list, following next_cursor (a page may hold fewer than asked while more follow).
 * @param {string} path
 * @returns {Promise<{ items: any[], more: boolean }>}
 */
async function listAll(path) {
  const items = [];
  let cursor = '';
  for (let page = 0; page < MAX_PAGES; page++) {
    const sep = path.includes('?') ? '&' : '?';
    const data = await api('GET', `${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...data.items);
    if (data.next_cursor === null) return { items, more: false };
    cursor = data.next_cursor;
  }
  return { items, more: true };
}

/** @param {string} text @param {'ok' | 'error' | ''} kind */
function say(text, kind = '') {
  const status = byId('status');
  status.textContent = text;
  status.className = kind;
}

/** @param {unknown} err */
function sayError(err) {
  if (err instanceof ApiError) say(`${err.code}: ${err.message}`, 'error');
  else say(`The control API did not answer: ${err instanceof Error ? err.message : String(err)}`, 'error');
}

/** @param {Scope} scope @returns {(Node | string)[]} */
function scopeText(scope) {
  /** @type {(Node | string)[][]} */
  const parts = [];
  if (scope?.route) parts.push(['route ', asName(scope.route)]);
  if (scope?.methods) parts.push([scope.methods.join(', ')]);
  if (scope?.paths) parts.push(scope.paths.flatMap((p, i) => (i === 0 ? [asName(p, 'path')] : [' ', asName(p, 'path')])));
  return parts.length === 0 ? ['whole role'] : parts.flatMap((part, i) => (i === 0 ? part : [' · ', ...part]));
}

/** @param {number} seconds */
function durationText(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h ? `${h}h` : '', m ? `${m}m` : '', s || (!h && !m) ? `${s}s` : ''].join('');
}

/** @param {string} iso */
function timeText(iso) {
  return new Date(iso).toLocaleString();
}

/**
 * @typedef {object} Action
 * @property {string} name the button's text
 * @property {string} path the route it posts to
 * @property {string} [field] the body field the cell's text box goes in (comment, reason); none: an empty body
 * @property {(answer: any) => string} done what to say when it worked
 */

/**
 * A cell with a button per action and, when `label` is given, a text box whose text each
 * action posts under its own field.
 * @param {string | null} label
 * @param {Action[]} actions
 */
function actionCell(label, actions) {
  const input = label === null ? null : /** @type {HTMLInputElement} */ (el('input', { type: 'text', maxlength: '1000', 'aria-label': label, placeholder: label }));
  const cell = el('td', { class: 'act' }, ...(input ? [input] : []));
  for (const action of actions) {
    const button = /** @type {HTMLButtonElement} */ (el('button', { type: 'button' }, action.name));
    button.addEventListener('click', (event) => {
      // The second click of a double-click is no decision: by the time it lands, the list has
      // been drawn again without the row just decided, and the next request's button sits
      // where this one was (it would be approved unseen).
      if (event.detail > 1) return;
      // Once per click: the row is drawn again from the API's answer afterwards.
      button.disabled = true;
      const text = input?.value.trim() ?? '';
      const body = action.field && text ? { [action.field]: text } : {};
      void run(async () => action.done(await api('POST', action.path, body)));
    });
    cell.append(button);
  }
  return cell;
}

/**
 * An extension adds its duration to the end of the grant it extends, not to now: the row says so,
 * so that it is not approved as a fresh request.
 * @param {AccessRequest} request
 */
function extendsFlag(request) {
  const end = request.extends_grant_expires_at;
  return el('span', { class: 'flag extends' }, `extends ${request.extends_grant_id ?? ''} (ends ${end === null ? '?' : timeText(end)})`);
}

/**
 * A request row: the requester may withdraw it; others may approve or deny (if the policy lets them).
 * @param {AccessRequest} request
 * @param {Me} me
 */
function requestRow(request, me) {
  const row = el('tr', { 'data-id': request.id });
  const approvals = request.approvals.map((a) => a.by);
  row.append(
    el('td', {}, asName(request.requester.id)),
    el('td', {}, asName(request.role), ...(request.break_glass ? [el('span', { class: 'flag' }, 'break-glass')] : [])),
    el('td', {}, ...scopeText(request.scope)),
    el('td', {}, durationText(request.duration_seconds), ...(request.extends_grant_id === null ? [] : [extendsFlag(request)])),
    el('td', { class: 'reason' }, asProse(request.reason)),
    el('td', {}, ...(request.ticket === null ? [] : [asName(request.ticket)])),
    el('td', {}, `${request.approvals.length} of ${request.approvals_required}`, ...(approvals.length > 0 ? [' (', ...asNames(approvals), ')'] : [])),
    el('td', { title: `pending until ${timeText(request.pending_expires_at)}` }, timeText(request.created_at)),
  );
  const base = `/v1/requests/${encodeURIComponent(request.id)}`;
  if (request.requester.id === me.id) {
    row.append(actionCell(null, [{ name: 'Withdraw', path: `${base}/withdraw`, done: (r) => `Withdrew ${r.id}.` }]));
  } else {
    row.append(actionCell('Comment', [
      { name: 'Approve', path: `${base}/approve`, field: 'comment', done: (r) => (r.status === 'approved' ? `Approved ${r.id}: grant ${r.grant_id} is active.` : `Approval recorded for ${r.id} (${r.approvals.length} of ${r.approvals_required}).`) },
      { name: 'Deny', path: `${base}/deny`, field: 'comment', done: (r) => `Denied ${r.id}.` },
    ]));
  }
  return row;
}

/**
 * A grant row: revoke, and review when it was a break-glass grant nobody reviewed yet.
 * @param {Grant} grant
 */
function grantRow(grant) {
  const row = el('tr', { 'data-id': grant.id });
  row.append(
    el('td', {}, asName(grant.subject.id)),
    el('td', {}, asName(grant.role), ...(grant.break_glass ? [el('span', { class: 'flag' }, ...(grant.reviewed_by ? ['break-glass, reviewed by ', asName(grant.reviewed_by)] : ['break-glass, not reviewed']))] : [])),
    el('td', {}, ...scopeText(grant.scope)),
    el('td', {}, timeText(grant.expires_at)),
    el('td', {}, ...asNames(grant.approved_by)),
    el('td', { class: 'reason' }, asProse(grant.reason)),
  );
  const base = `/v1/grants/${encodeURIComponent(grant.id)}`;
  /** @type {Action[]} */
  const actions = [{ name: 'Revoke', path: `${base}/revoke`, field: 'reason', done: (g) => `Revoked ${g.id}.` }];
  if (grant.break_glass && !grant.reviewed_by) actions.push({ name: 'Review', path: `${base}/review`, field: 'comment', done: (g) => `Reviewed ${g.id}.` });
  row.append(actionCell(actions.length > 1 ? 'Reason or comment' : 'Reason', actions));
  return row;
}

/**
 * A record's reason in its box, labelled with its author when that is not the actor
 * (grant.granted carries the requester's reason beside the approver: `details.reason_by`). The
 * label stands outside the box: a reason that begins `bob:` cannot pass for one.
 * @param {AuditRecord} record
 * @returns {(Node | string)[]}
 */
function reasonText(record) {
  const by = record.details.reason_by;
  if (record.reason === null) return [];
  return typeof by === 'string' && by !== record.actor
    ? [el('span', { class: 'by' }, asName(by), ' wrote'), asProse(record.reason)]
    : [asProse(record.reason)];
}

/**
 * A break-glass grant nobody has reviewed, active or ended: its review is owed either way.
 * @param {Grant} grant
 */
function reviewRow(grant) {
  const row = el('tr', { 'data-id': grant.id });
  row.append(
    el('td', {}, asName(grant.subject.id)),
    el('td', {}, asName(grant.role)),
    el('td', {}, grant.status),
    el('td', {}, timeText(grant.starts_at)),
    el('td', {}, timeText(grant.revoked_at ?? grant.expires_at)),
    el('td', { class: 'reason' }, asProse(grant.reason)),
    actionCell('Comment', [{ name: 'Review', path: `/v1/grants/${encodeURIComponent(grant.id)}/review`, field: 'comment', done: (g) => `Reviewed ${g.id}.` }]),
  );
  return row;
}

/** @param {AuditRecord} record */
function auditRow(record) {
  return el('tr', { 'data-seq': String(record.seq) },
    el('td', {}, String(record.seq)),
    el('td', {}, timeText(record.at)),
    el('td', {}, record.kind),
    el('td', {}, asName(record.actor)),
    el('td', {}, ...(record.subject === null ? [] : [asName(record.subject)])),
    el('td', {}, ...(record.role === null ? [] : [asName(record.role)])),
    el('td', { class: 'reason' }, ...reasonText(record)),
    el('td', { class: 'id' }, record.decision_id ?? ''),
  );
}

/** How many of the newest records the view shows: "Show older" adds a page, "Show" starts over. */
let auditWanted = AUDIT_ROWS;

/**
 * The newest `auditWanted` records, narrowed to one actor or subject when the Who box says so:
 * past the API's largest page, the next pages follow its cursor.
 */
async function auditRecords() {
  const who = /** @type {HTMLInputElement} */ (byId('audit-who')).value.trim();
  /** @type {AuditRecord[]} */
  const items = [];
  /** @type {number | null} */
  let cursor = null;
  do {
    const query = new URLSearchParams({ order: 'desc', limit: String(Math.min(auditWanted - items.length, AUDIT_MAX_PAGE)) });
    if (who) query.set('who', who);
    if (cursor !== null) query.set('cursor', String(cursor));
    const data = await api('GET', `/v1/audit?${query.toString()}`);
    items.push(...data.items);
    cursor = data.next_cursor;
  } while (cursor !== null && items.length < auditWanted);
  return { items, more: cursor !== null };
}

/**
 * @param {string} bodyId
 * @param {string} moreId
 * @param {{ items: any[], more: boolean }} list
 * @param {(item: any) => HTMLElement} row
 * @param {number} columns
 * @param {string} none
 */
function fill(bodyId, moreId, list, row, columns, none) {
  const body = byId(bodyId);
  body.replaceChildren(...list.items.map(row));
  if (list.items.length === 0) body.append(el('tr', {}, el('td', { colspan: String(columns), class: 'empty' }, none)));
  const more = byId(moreId);
  more.hidden = !list.more;
  more.textContent = list.more ? `Only the first ${list.items.length} are shown; narrow the list with the CLI or the API.` : '';
}

/** @type {Me | null} */
let me = null;

async function refresh() {
  // The trail is read only by those the policy lets (whoami says so): others never ask.
  const [pending, grants, unreviewed, audit] = await Promise.all([
    listAll('/v1/requests?status=pending'),
    listAll('/v1/grants?active=true'),
    listAll('/v1/grants?break_glass=true&reviewed=false'),
    me?.can_read_audit ? auditRecords() : Promise.resolve(null),
  ]);
  const current = me;
  if (!current) return;
  fill('pending-rows', 'pending-more', pending, (r) => requestRow(r, current), 9, 'No pending request you may see.');
  fill('grant-rows', 'grants-more', grants, grantRow, 7, 'No active grant you may see.');
  fill('review-rows', 'review-more', unreviewed, reviewRow, 7, 'No break-glass grant you may see waits for a review.');
  if (audit) {
    const rows = byId('audit-rows');
    rows.replaceChildren(...audit.items.map(auditRow));
    if (audit.items.length === 0) rows.append(el('tr', {}, el('td', { colspan: '8', class: 'empty' }, 'No record matches.')));
    byId('audit-older').hidden = !audit.more;
  }
}

/** An action is under way: a refresh of its own follows, so the timer's waits. */
let busy = false;

/**
 * Runs an action, then shows its outcome and the lists as they are now. A refused token signs out.
 * @param {() => Promise<string>} action
 */
async function run(action) {
  // Cleared first, so an outcome on the page is always this action's.
  say('Working…');
  busy = true;
  try {
    const message = await action();
    await refresh();
    say(message, 'ok');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      signOut();
      say(`Signed out: the token was refused (${err.code}).`, 'error');
      return;
    }
    // The lists may have moved on (someone else decided first): show them as they are, and
    // only then why the action failed, so the message never sits beside a stale list.
    await refresh().catch(() => undefined);
    sayError(err);
  } finally {
    busy = false;
  }
}

/**
 * Reads the lists again on a timer, quietly. Redrawing drops what a row's box holds, so it
 * waits while anyone types a comment or reason there (or the tab is hidden, or an action runs).
 * It waits too while the pointer is over a list: a request arriving or leaving moves the rows,
 * and the click the user was about to make would land on another request's button.
 */
async function autoRefresh() {
  if (!me || busy || document.hidden) return;
  const typing = [...document.querySelectorAll('td.act input')].some((input) =>
    input === document.activeElement || /** @type {HTMLInputElement} */ (input).value !== '');
  if (typing || document.querySelector('main tbody:hover') !== null) return;
  try {
    await refresh();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      signOut();
      say(`Signed out: the token was refused (${err.code}).`, 'error');
    }
    // Anything else: the next tick tries again; the page keeps what it showed.
  }
}

/** @param {boolean} signedIn */
function show(signedIn) {
  byId('signin').hidden = signedIn;
  byId('who').hidden = !signedIn;
  byId('pending').hidden = !signedIn;
  byId('grants').hidden = !signedIn;
  byId('review').hidden = !signedIn;
  byId('ask').hidden = !signedIn;
  byId('audit').hidden = !(signedIn && me?.can_read_audit === true);
}

function signOut() {
  token = '';
  me = null;
  byId('pending-rows').replaceChildren();
  byId('grant-rows').replaceChildren();
  byId('review-rows').replaceChildren();
  byId('audit-rows').replaceChildren();
  auditWanted = AUDIT_ROWS;
  show(false);
}

async function signIn() {
  try {
    me = await api('GET', '/v1/whoami');
  } catch (err) {
    signOut();
    sayError(err);
    return;
  }
  if (!me) return;
  byId('who-id').replaceChildren(asName(me.id));
  byId('who-groups').replaceChildren(...(me.groups.length ? ['(', ...asNames(me.groups), ')'] : []));
  show(true);
  // The name is in the page's header, marked there (asName); a status line would show it unmarked.
  await run(async () => 'Signed in.');
}

byId('signin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ (byId('token'));
  token = input.value.trim();
  input.value = '';
  void signIn();
});
byId('signout').addEventListener('click', () => {
  signOut();
  say('Signed out.');
});
byId('refresh').addEventListener('click', () => { void run(async () => 'Up to date.'); });
/**
 * The scope a link from a 403 asked for (only what the denied request needs); null: the whole role.
 * @type {Scope}
 */
let askScope = null;

/** @param {Scope} scope */
function setAskScope(scope) {
  askScope = scope;
  byId('ask-scope').hidden = scope === null;
  byId('ask-scope-text').replaceChildren(...(scope === null ? [] : ['Scope: ', ...scopeText(scope), '.']));
}

/** @typedef {{ role: string, duration: string, scope: Scope }} LinkAsk */

/**
 * What a 403's link (`#request?role=...&duration=...&route=...&method=...&path=...`) asks for;
 * null when the fragment is no such link.
 * @returns {LinkAsk | null}
 */
function linkAsk() {
  if (!location.hash.startsWith('#request?')) return null;
  const query = new URLSearchParams(location.hash.slice('#request?'.length));
  const route = query.get('route');
  const methods = query.getAll('method');
  const paths = query.getAll('path');
  return {
    role: query.get('role') ?? '',
    duration: query.get('duration') ?? '',
    scope: route || methods.length > 0 || paths.length > 0
      ? { ...(route ? { route } : {}), ...(methods.length > 0 ? { methods } : {}), ...(paths.length > 0 ? { paths } : {}) }
      : null,
  };
}

/** @param {string} id */
function askField(id) {
  return /** @type {HTMLInputElement} */ (byId(id));
}

/** Fills in the request form with what a link asks for; the asker still writes the reason and submits. @param {LinkAsk} ask */
function fillAsk(ask) {
  if (ask.role) askField('ask-role').value = ask.role;
  if (ask.duration) askField('ask-duration').value = ask.duration;
  setAskScope(ask.scope);
  byId('ask-link').hidden = true;
}

/** @type {LinkAsk | null} */
let offered = null;

/**
 * A link followed into this open page (only the fragment changes) fills in the form only while
 * it is empty. Otherwise it is offered beside the form and used on a click: a page that opened
 * this one keeps a handle on it where Cross-Origin-Opener-Policy does not apply (plain HTTP
 * outside localhost), and could otherwise swap the role, duration or scope the asker checked
 * for others (a break-glass role granted at once) while they type the reason.
 */
function linkFollowed() {
  const ask = linkAsk();
  if (!ask) return;
  const empty = ['ask-role', 'ask-duration', 'ask-reason', 'ask-ticket'].every((id) => askField(id).value === '') && askScope === null;
  if (empty) {
    fillAsk(ask);
    return;
  }
  offered = ask;
  byId('ask-link-text').replaceChildren('A link asks for ', asName(ask.role || '?'), ` for ${ask.duration || '?'} (`, ...scopeText(ask.scope), ').');
  byId('ask-link').hidden = false;
}

byId('ask-link-use').addEventListener('click', () => { if (offered) fillAsk(offered); });
byId('ask-whole-role').addEventListener('click', () => { setAskScope(null); });
byId('ask-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const field = askField;
  const ticket = field('ask-ticket').value.trim();
  const body = {
    role: field('ask-role').value.trim(),
    duration: field('ask-duration').value.trim(),
    reason: field('ask-reason').value.trim(),
    ...(ticket ? { ticket } : {}),
    ...(askScope ? { scope: askScope } : {}),
  };
  void run(async () => {
    const request = await api('POST', '/v1/requests', body);
    // Kept on a refusal, so the asker can mend what the policy named. Emptied once asked, so
    // that the next link followed into this page fills it in (see linkFollowed).
    for (const id of ['ask-role', 'ask-duration', 'ask-reason', 'ask-ticket']) field(id).value = '';
    setAskScope(null);
    if (location.hash.startsWith('#request?')) history.replaceState(null, '', location.pathname);
    return request.status === 'approved'
      ? `Requested ${request.role}: approved at once, grant ${request.grant_id} is active (break-glass: it will be reviewed).`
      : `Requested ${request.role} for ${durationText(request.duration_seconds)}: ${request.id} waits for ${request.approvals_required} approval(s).`;
  });
});
byId('audit-form').addEventListener('submit', (event) => {
  event.preventDefault();
  auditWanted = AUDIT_ROWS;
  void run(async () => 'Audit trail read.');
});
byId('audit-older').addEventListener('click', () => {
  auditWanted += AUDIT_ROWS;
  void run(async () => 'Older records read.');
});

// Opened from a link: the form is empty, so it is filled in.
const opened = linkAsk();
if (opened) fillAsk(opened);
window.addEventListener('hashchange', linkFollowed);
setInterval(() => { void autoRefresh(); }, AUTO_REFRESH_MS);
sessionStorage.removeItem(OLD_TOKEN_KEY);
show(false);
