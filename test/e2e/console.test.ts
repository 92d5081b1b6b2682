// The approvers' web console, driven in a real browser (Debian's Chromium) against a real
// `jitgate serve`: sign in with a token, approve, deny, withdraw and revoke, and what each
// did is then read back from the API and felt on the proxy. What requesters wrote must stay
// text in an approver's browser.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import type { Page } from 'playwright-core';
import { startDemoUpstream } from '../../src/demo/index.js';
import { launchBrowser } from '../helpers/browser.js';
import { demoConfig, demoEnv, runCli, startGatewayProcess, tempDir, writeConfig, type GatewayProcess } from '../helpers/gateway.js';

const HOSTILE_REASON = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> refund for INC-7 & co';

/** Subjects whose names render as Latin ones: Cyrillic а (U+0430), Cyrillic і (U+0456), and `аре`, all Cyrillic, read as ape. */
const CYRILLIC_A = '\u0430lice';
const CYRILLIC_I = 'al\u0456ce';
const CYRILLIC_APE = '\u0430\u0440\u0435';
/** A name wholly in Greek: marked, and still read as written. */
const GREEK = '\u0395\u03bb\u03ad\u03bd\u03b7';

interface ApiAnswer { status: number; body: any }

const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
t.teardown(() => upstream.close());

async function gateway(control: Record<string, unknown>): Promise<{ gw: GatewayProcess; token: (sub: string) => Promise<string>; file: string }> {
  const dir = tempDir('jg-console-');
  const file = writeConfig(dir, demoConfig({
    dir,
    upstreamUrl: upstream.url,
    subjects: {
      alice: ['eng'], erin: ['eng'], frank: ['eng'], bob: ['eng', 'approvers'], carol: ['eng', 'approvers'], audra: ['auditors'],
      ape: ['eng'], mallory: ['eng'], [CYRILLIC_A]: ['eng'], [CYRILLIC_I]: ['eng'], [CYRILLIC_APE]: ['eng'], [GREEK]: ['eng'],
    },
    jitgate: { control },
  }));
  const gw = await startGatewayProcess(file, demoEnv(keys));
  t.teardown(() => gw.stop());
  const tokens = new Map<string, string>();
  const token = async (sub: string): Promise<string> => {
    let tok = tokens.get(sub);
    if (tok === undefined) {
      tok = (await runCli(['token', '--sub', sub, '--config', file])).stdout.trim();
      tokens.set(sub, tok);
    }
    return tok;
  };
  return { gw, token, file };
}

// The address users reach the console at, as the 403 links give it (the test swaps in the real one).
const PUBLIC_URL = 'http://jitgate.invalid';
const { gw, token, file: configFile } = await gateway({ public_url: PUBLIC_URL });

async function api(sub: string, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  const res = await fetch(`${gw.controlUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${await token(sub)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

async function ask(sub: string, reason: string): Promise<string> {
  const answer = await api(sub, 'POST', '/v1/requests', { role: 'writer', duration: '30m', reason, ticket: 'INC-7' });
  if (answer.status !== 201) throw new Error(`request refused: ${JSON.stringify(answer.body)}`);
  return answer.body.id as string;
}

/** A write through the proxy as `sub`: allowed only while a writer grant is live. Status, and the gateway's code on refusal. */
async function write(sub: string): Promise<string> {
  const res = await fetch(`${gw.proxyUrl}/api/items`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await token(sub)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'console test' }),
  });
  const body = await res.json() as { error?: { code?: string } };
  return res.status === 403 ? `403 ${body.error?.code ?? ''}` : String(res.status);
}

const REFUSED = '403 JITGATE_E_FORBIDDEN';

const browser = await launchBrowser();
t.teardown(() => browser.close());

/** A fresh browser profile on the console, signed in as `sub`; `clock`: the page's timers are the test's to move. */
async function signedIn(sub: string, opts: { clock?: boolean } = {}): Promise<{ page: Page; errors: string[] }> {
  const page = await (await browser.newContext()).newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  if (opts.clock === true) await page.clock.install();
  await page.goto(`${gw.controlUrl}/console/`);
  await page.fill('#token', await token(sub));
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#pending:not([hidden])');
  return { page, errors };
}

/** Entries in the page's sessionStorage and localStorage (which browsers write to disk). */
function storedEntries(page: Page): Promise<number> {
  return page.evaluate(() => {
    const g = globalThis as unknown as { sessionStorage: { length: number }; localStorage: { length: number } };
    return g.sessionStorage.length + g.localStorage.length;
  });
}

/** A computed style of the element `at` finds, as the browser draws it. */
function drawn(at: ReturnType<Page['locator']>, property: string): Promise<string> {
  return at.evaluate((node, name) => {
    const g = globalThis as unknown as { getComputedStyle: (n: unknown) => Record<string, string | undefined> };
    return g.getComputedStyle(node)[name] ?? '';
  }, property);
}

async function status(page: Page, kind: 'ok' | 'error'): Promise<string> {
  await page.waitForSelector(`#status.${kind}`);
  return (await page.textContent('#status')) ?? '';
}

t.test('the console is served with a policy that keeps other code out', async (t) => {
  const page = await (await browser.newContext()).newPage();
  const answer = await page.goto(`${gw.controlUrl}/console`);
  t.equal(page.url(), `${gw.controlUrl}/console/`, '/console redirects to /console/');
  const headers = answer?.headers() ?? {};
  t.match(headers['content-security-policy'], /default-src 'none'; script-src 'self';/, 'scripts from the console files only');
  t.match(headers['content-security-policy'], /frame-ancestors 'none'/, 'never framed');
  t.equal(headers['x-content-type-options'], 'nosniff');
  t.ok(await page.isVisible('#token'), 'without a token it asks for one');
  t.notOk(await page.isVisible('#pending'), 'and shows no request');

  for (const path of ['/console/..%2fpackage.json', '/console/..%2F..%2Fpackage.json', '/console/%2e%2e%2fpackage.json', '/console/other.js']) {
    const res = await fetch(`${gw.controlUrl}${path}`);
    const text = await res.text();
    t.equal(res.status, 404, `${path} is not served`);
    t.notMatch(text, /"dependencies"/, `${path} reads nothing outside the console's files`);
  }
  const doc = await (await fetch(`${gw.controlUrl}/v1/openapi.json`)).json() as { paths: Record<string, unknown> };
  t.notOk(Object.keys(doc.paths).some((p) => p.startsWith('/console')), 'the console is not part of the API document');
});

t.test('the token is held by the page only: nothing in the browser\'s storage, and a reload signs out', async (t) => {
  const { page, errors } = await signedIn('bob');
  await status(page, 'ok');
  t.equal(await storedEntries(page), 0, 'signed in, and nothing is stored for the browser to write to disk');
  await page.reload();
  t.ok(await page.isVisible('#token'), 'a reload asks for the token again');
  t.notOk(await page.isVisible('#pending'), 'and lists nothing');
  t.same(errors, [], 'no script error on the page');
});

t.test('a refused token leaves the user signed out with the reason', async (t) => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${gw.controlUrl}/console/`);
  await page.fill('#token', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ.');
  await page.click('#signin-form button[type=submit]');
  t.match(await status(page, 'error'), /^JITGATE_E_TOKEN_INVALID: /, 'the stable code is shown');
  t.ok(await page.isVisible('#token'), 'the sign-in form stays');
  t.notOk(await page.isVisible('#pending'), 'nothing is listed');
  t.equal(await storedEntries(page), 0, 'the refused token is not kept');
});

t.test('an approver approves with a comment; the reason stays text; revoking ends the access', async (t) => {
  const id = await ask('alice', HOSTILE_REASON);
  t.equal(await write('alice'), REFUSED, 'before: the gateway refuses alice\'s write');

  const { page, errors } = await signedIn('bob');
  t.equal(await page.textContent('#who-id'), 'bob', 'signed in as bob');
  const row = page.locator(`#pending-rows tr[data-id="${id}"]`);
  await row.waitFor();
  t.equal(await row.locator('td.reason').textContent(), HOSTILE_REASON, 'the reason is shown exactly as alice wrote it');
  t.equal(await page.locator('#pending-rows img, #pending-rows script').count(), 0, 'none of it became markup');
  t.equal(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned), undefined, 'and none of it ran');
  t.equal(await row.locator('td').first().textContent(), 'alice', 'the requester is named');

  await row.locator('input').fill('ok for INC-7');
  await row.getByRole('button', { name: 'Approve' }).click();
  t.match(await status(page, 'ok'), new RegExp(`^Approved ${id}: grant grt_[0-9a-f]+ is active\\.$`));
  const after = await api('bob', 'GET', `/v1/requests/${id}`);
  t.equal(after.body.status, 'approved', 'the API has it approved');
  t.same(after.body.approvals.map((a: { by: string; comment: string }) => [a.by, a.comment]), [['bob', 'ok for INC-7']], 'by bob, with his comment');
  t.equal(await row.count(), 0, 'it left the pending list');
  t.equal(await write('alice'), '201', 'alice can write now');

  const grantId = after.body.grant_id as string;
  const grantRow = page.locator(`#grant-rows tr[data-id="${grantId}"]`);
  t.equal(await grantRow.locator('td').first().textContent(), 'alice', 'the new grant is listed as active');
  await grantRow.locator('input').fill('done early');
  await grantRow.getByRole('button', { name: 'Revoke' }).click();
  t.equal(await status(page, 'ok'), `Revoked ${grantId}.`);
  const grant = await api('bob', 'GET', `/v1/grants/${grantId}`);
  t.equal(grant.body.status, 'revoked', 'the API has the grant revoked');
  t.equal(grant.body.revoked_by, 'bob');
  t.equal(grant.body.revoke_reason, 'done early', 'with the reason typed in the console');
  t.equal(await grantRow.count(), 0, 'it left the active list');
  t.equal(await write('alice'), REFUSED, 'and alice cannot write any more');
  t.same(errors, [], 'no script error on the page');
});

// Subject ids and groups holding such characters are refused where they enter (test/proxy/hostile.test.ts);
// a ticket is the requester's own text, and names stored before that check are shown the same way.
t.test('a look-alike of a ticket is told apart: what would not show is marked', async (t) => {
  const asked = async (ticket: string): Promise<string> => {
    const answer = await api('alice', 'POST', '/v1/requests', { role: 'writer', duration: '30m', reason: 'look-alike check', ticket });
    if (answer.status !== 201) throw new Error(`request refused: ${JSON.stringify(answer.body)}`);
    return answer.body.id as string;
  };
  const real = await asked('INC-1234');
  const zeroWidth = await asked('INC-1234\u200b');
  const reversed = await asked('INC-\u202e4321');
  const { page, errors } = await signedIn('bob');
  /** The ticket cell of a row: its text and how it looks. */
  const cell = async (id: string): Promise<{ ticket: string; looks: Buffer }> => {
    const row = page.locator(`#pending-rows tr[data-id="${id}"]`);
    await row.waitFor();
    const ticket = row.locator('td').nth(5);
    return { ticket: await ticket.innerText(), looks: await ticket.screenshot() };
  };
  const shown = { real: await cell(real), zeroWidth: await cell(zeroWidth), reversed: await cell(reversed) };
  t.equal(shown.real.ticket, 'INC-1234', 'the ticket as it is');
  t.equal(shown.zeroWidth.ticket, 'INC-1234[U+200B]', 'the zero-width space is shown');
  t.equal(shown.reversed.ticket, 'INC-[U+202E]4321', 'the override is shown, and reorders nothing');
  t.notOk(shown.zeroWidth.looks.equals(shown.real.looks), 'the zero-width look-alike does not look like the real ticket');
  t.notOk(shown.reversed.looks.equals(shown.real.looks), 'nor does the reversed one');
  t.same(errors, [], 'no script error on the page');
});

t.test('a name spelt with letters from another script cannot pass for an ASCII one: each is marked, with its code point', async (t) => {
  const asked = async (sub: string, body: Record<string, unknown> = {}): Promise<string> => {
    const answer = await api(sub, 'POST', '/v1/requests', { role: 'writer', duration: '8h', reason: 'deploy the hotfix', ...body });
    if (answer.status !== 201) throw new Error(`request refused: ${JSON.stringify(answer.body)}`);
    return answer.body.id as string;
  };
  const ids = {
    alice: await asked('alice'), cyrillicA: await asked(CYRILLIC_A), cyrillicI: await asked(CYRILLIC_I),
    ape: await asked('ape'), cyrillicApe: await asked(CYRILLIC_APE), greek: await asked(GREEK),
    ticket: await asked('alice', { ticket: '\u0406NC-7', scope: { paths: ['/api/\u0456tems/*'] } }),
  };
  const { page, errors } = await signedIn('bob');
  const row = async (id: string): Promise<ReturnType<Page['locator']>> => {
    const found = page.locator(`#pending-rows tr[data-id="${id}"]`);
    await found.waitFor();
    return found;
  };
  const requester = async (id: string): Promise<string> => (await row(id)).locator('td').first().innerText();
  t.equal(await requester(ids.alice), 'alice', 'an ASCII name as it is');
  t.equal(await requester(ids.cyrillicA), `${CYRILLIC_A} [non-ASCII: Cyrillic U+0430]`, 'a Cyrillic а is named, with its code point');
  t.equal(await requester(ids.cyrillicI), `${CYRILLIC_I} [non-ASCII: Cyrillic U+0456]`, 'so is a Cyrillic і');
  t.equal(await requester(ids.cyrillicApe), `${CYRILLIC_APE} [non-ASCII: Cyrillic U+0430 U+0440 U+0435]`, 'a name wholly in Cyrillic that reads as ape');
  t.equal(await requester(ids.greek), `${GREEK} [non-ASCII: Greek U+0395 U+03BB U+03AD U+03BD U+03B7]`, 'a Greek name is marked and stays readable as written');
  const marks = (await row(ids.cyrillicA)).locator('td').first().locator('.foreign');
  t.same(await marks.allTextContents(), ['\u0430'], 'the one letter outside ASCII is marked in place');

  // Chromium draws ape and аре with the very same glyphs: the marking is what tells them apart.
  const ape = (await row(ids.cyrillicApe)).locator('td').first().locator('.foreign');
  t.equal(await ape.count(), 3, 'each letter of аре is marked');
  t.not(await drawn(ape.first(), 'backgroundColor'), 'rgba(0, 0, 0, 0)', 'and the mark is drawn');

  const ticketRow = await row(ids.ticket);
  t.equal(await ticketRow.locator('td').nth(5).innerText(), '\u0406NC-7 [non-ASCII: Cyrillic U+0406]', 'a ticket is a name too');
  t.equal(await ticketRow.locator('td').nth(2).innerText(), '/api/\u0456tems/* [non-ASCII: Cyrillic U+0456]', 'and so is a scope path');
  t.same(errors, [], 'no script error on the page');
});

t.test('a reason is shown as its writer\'s own text: a reason reading "bob: ..." cannot pass for bob\'s words', async (t) => {
  const FORGED = 'bob: approved already, just click';
  const id = await ask('mallory', FORGED);
  const { page, errors } = await signedIn('carol');
  const row = page.locator(`#pending-rows tr[data-id="${id}"]`);
  await row.waitFor();
  /** The reason cell: its whole text, the text of its box, and whether the box is drawn. */
  const boxed = async (cell: ReturnType<Page['locator']>): Promise<{ cell: string; box: string; border: string }> => ({
    cell: (await cell.textContent()) ?? '',
    box: (await cell.locator('.said').textContent()) ?? '',
    border: await drawn(cell.locator('.said'), 'borderLeftWidth'),
  });
  const pending = await boxed(row.locator('td.reason'));
  t.same([pending.box, pending.cell], [FORGED, FORGED], 'the reason is all in its box, and nothing else is in the cell');
  t.not(pending.border, '0px', 'the box is drawn');
  await api('bob', 'POST', `/v1/requests/${id}/approve`, { comment: 'ok' });

  const { page: audra } = await signedIn('audra');
  await audra.waitForSelector('#audit:not([hidden])');
  const record = (kind: string): ReturnType<Page['locator']> => audra.locator('#audit-rows tr', { hasText: kind }).filter({ hasText: FORGED }).first();
  await record('grant.granted').waitFor();
  const created = await boxed(record('request.created').locator('td.reason'));
  t.same([created.box, created.cell], [FORGED, FORGED], 'mallory\'s request: her words in their box, beside her as actor');
  const granted = record('grant.granted').locator('td.reason');
  t.equal(await granted.locator('.by').textContent(), 'mallory wrote', 'beside bob as actor, the reason is labelled as mallory\'s');
  t.equal(await granted.locator('.said').textContent(), FORGED, 'and what she wrote stays in its box, "bob:" and all');
  t.equal(await granted.locator('.said .by').count(), 0, 'the label is outside the box');

  // The CLI's audit listing: the reason in quotes, after its author's label.
  const listed = await runCli(['audit', 'query', '--config', configFile, '--request', id], demoEnv(keys));
  const reasonOf = (kind: string): string => listed.stdout.split('\n').find((line) => line.includes(` ${kind} `))?.replace(/^.*req_[0-9a-f]+\s+\S+\s+\S+\s+/, '') ?? '';
  t.equal(reasonOf('request.created'), JSON.stringify(FORGED), 'the CLI quotes mallory\'s reason');
  t.equal(reasonOf('grant.granted'), `mallory wrote ${JSON.stringify(FORGED).slice(0, 40 - 'mallory wrote '.length - 1)}…`, 'and labels it as hers, outside the quotes');
  t.same(errors, [], 'no script error on the page');
});

t.test('requesters see their own request with Withdraw only; a stale decision shows the API\'s refusal', async (t) => {
  const own = await ask('alice', 'check the refunds queue');
  const { page: alice } = await signedIn('alice');
  const row = alice.locator(`#pending-rows tr[data-id="${own}"]`);
  await row.waitFor();
  t.equal(await row.getByRole('button', { name: 'Approve' }).count(), 0, 'alice has no Approve on her own request');
  await row.getByRole('button', { name: 'Withdraw' }).click();
  t.equal(await status(alice, 'ok'), `Withdrew ${own}.`);
  t.equal((await api('alice', 'GET', `/v1/requests/${own}`)).body.status, 'withdrawn', 'the API has it withdrawn');

  const stale = await ask('alice', 'second try');
  const { page: bob } = await signedIn('bob');
  const bobRow = bob.locator(`#pending-rows tr[data-id="${stale}"]`);
  await bobRow.waitFor();
  // carol decides first, after bob's page was drawn.
  t.equal((await api('carol', 'POST', `/v1/requests/${stale}/deny`, { comment: 'no' })).status, 200);
  await bobRow.getByRole('button', { name: 'Approve' }).click();
  t.match(await status(bob, 'error'), /^JITGATE_E_REQUEST_NOT_PENDING: /, 'bob is told it is no longer pending');
  t.equal((await api('bob', 'GET', `/v1/requests/${stale}`)).body.status, 'denied', 'carol\'s denial stands');
  t.equal(await bobRow.count(), 0, 'and his list is drawn again without it');
  t.equal(await write('alice'), REFUSED, 'no grant came of it');

  await bob.click('#signout');
  t.ok(await bob.isVisible('#token'), 'signing out asks for a token again');
  t.equal(await storedEntries(bob), 0, 'and forgets the token');
  await bob.reload();
  t.ok(await bob.isVisible('#token'), 'also after a reload');
});

t.test('a break-glass grant is flagged until someone else reviews it in the console', async (t) => {
  const asked = await api('erin', 'POST', '/v1/requests', { role: 'breakglass', duration: '15m', reason: 'checkout is down, INC-9' });
  t.equal(asked.body.status, 'approved', 'break-glass is granted at once');
  const grantId = asked.body.grant_id as string;

  const { page: erin } = await signedIn('erin');
  const own = erin.locator(`#grant-rows tr[data-id="${grantId}"]`);
  await own.waitFor();
  await own.getByRole('button', { name: 'Review' }).click();
  t.match(await status(erin, 'error'), /^JITGATE_E_SELF_APPROVAL: .*nobody reviews their own break-glass access/, 'erin cannot review her own break-glass access, and is told why');
  t.equal((await api('erin', 'GET', `/v1/grants/${grantId}`)).body.reviewed_by, null, 'it stays unreviewed');

  const { page } = await signedIn('bob');
  const row = page.locator(`#grant-rows tr[data-id="${grantId}"]`);
  await row.waitFor();
  t.equal(await row.locator('.flag').textContent(), 'break-glass, not reviewed', 'the grant is flagged');
  await row.locator('input').fill('justified: INC-9');
  await row.getByRole('button', { name: 'Review' }).click();
  t.equal(await status(page, 'ok'), `Reviewed ${grantId}.`);
  t.equal((await api('bob', 'GET', `/v1/grants/${grantId}`)).body.reviewed_by, 'bob', 'the API has bob as its reviewer');
  t.equal(await row.locator('.flag').textContent(), 'break-glass, reviewed by bob', 'the row says who reviewed it');
  t.equal(await row.getByRole('button', { name: 'Review' }).count(), 0, 'and offers no second review');
});

t.test('an extension is shown as one: the grant it extends and when that ends; the audit view says whose reason a grant carries', async (t) => {
  const first = await api('bob', 'POST', `/v1/requests/${await ask('frank', 'rebuild the search index')}/approve`);
  const grant = (await api('frank', 'GET', `/v1/grants/${String(first.body.grant_id)}`)).body as { id: string; expires_at: string };
  const ext = await api('frank', 'POST', '/v1/requests', { extends_grant_id: grant.id, duration: '30m', reason: 'the index is slow' });
  t.equal(ext.status, 201);
  const { page, errors } = await signedIn('bob');
  const row = page.locator(`#pending-rows tr[data-id="${String(ext.body.id)}"]`);
  await row.waitFor();
  const ends = await page.evaluate((iso) => new Date(iso).toLocaleString(), grant.expires_at);
  t.equal(await row.locator('.flag.extends').textContent(), `extends ${grant.id} (ends ${ends})`, 'the row names the grant and its end');
  await row.getByRole('button', { name: 'Deny' }).click();
  await status(page, 'ok');

  const { page: audra } = await signedIn('audra');
  await audra.waitForSelector('#audit:not([hidden])');
  const granted = audra.locator(`#audit-rows tr`, { hasText: 'grant.granted' }).filter({ hasText: 'rebuild the search index' });
  await granted.first().waitFor();
  const reason = granted.first().locator('td.reason');
  t.equal(await reason.locator('.by').textContent(), 'frank wrote', 'the requester\'s words, beside bob as actor, are labelled as frank\'s');
  t.equal(await reason.locator('.said').textContent(), 'rebuild the search index', 'in their box');
  await api('frank', 'POST', `/v1/grants/${grant.id}/revoke`);
  t.same(errors, [], 'no script error on the page');
});

t.test('a break-glass grant ended before anyone reviewed it stays on the reviewers\' list until reviewed', async (t) => {
  const asked = await api('erin', 'POST', '/v1/requests', { role: 'breakglass', duration: '15m', reason: 'payments are down, INC-11' });
  const grantId = String(asked.body.grant_id);
  await api('erin', 'POST', `/v1/grants/${grantId}/revoke`, { reason: 'fixed' });
  const { page, errors } = await signedIn('bob');
  const row = page.locator(`#review-rows tr[data-id="${grantId}"]`);
  await row.waitFor();
  t.equal(await page.locator(`#grant-rows tr[data-id="${grantId}"]`).count(), 0, 'it is not among the active grants');
  t.same((await row.locator('td').allTextContents()).slice(0, 3), ['erin', 'breakglass', 'revoked'], 'but waits for its review, revoked');
  await row.locator('input').fill('justified: INC-11');
  await row.getByRole('button', { name: 'Review' }).click();
  t.equal(await status(page, 'ok'), `Reviewed ${grantId}.`);
  t.equal((await api('bob', 'GET', `/v1/grants/${grantId}`)).body.reviewed_by, 'bob', 'the API has bob as its reviewer');
  t.equal(await row.count(), 0, 'it left the list');
  t.same(errors, [], 'no script error on the page');
});

t.test('anyone signed in may ask for access; a refusal is shown with the policy\'s reason and nothing is stored', async (t) => {
  const { page, errors } = await signedIn('frank');
  const auditReads: string[] = [];
  page.on('request', (req) => { if (req.url().includes('/v1/audit')) auditReads.push(req.url()); });
  t.ok(await page.isHidden('#audit'), 'frank may not read the audit trail: the section is not there');
  const mine = async (): Promise<{ id: string; reason: string; duration_seconds: number; ticket: string | null }[]> =>
    ((await api('frank', 'GET', '/v1/requests?status=pending')).body.items as { requester: { id: string }; id: string; reason: string; duration_seconds: number; ticket: string | null }[])
      .filter((r) => r.requester.id === 'frank');

  await page.fill('#ask-role', 'writer');
  await page.fill('#ask-duration', '20m');
  await page.fill('#ask-reason', HOSTILE_REASON);
  await page.fill('#ask-ticket', 'INC-9');
  await page.click('#ask-form button[type=submit]');
  const said = await status(page, 'ok');
  t.match(said, /^Requested writer for 20m: req_[0-9a-f]+ waits for 1 approval\(s\)\.$/, 'the request is pending, and the page says so');
  const id = /(req_[0-9a-f]+)/.exec(said)?.[1] ?? '';
  t.same((await mine()).map((r) => [r.id, r.reason, r.duration_seconds, r.ticket]), [[id, HOSTILE_REASON, 1200, 'INC-9']], 'the API has it as typed');
  const row = page.locator(`#pending-rows tr[data-id="${id}"]`);
  t.equal(await row.getByRole('button', { name: 'Withdraw' }).count(), 1, 'it is listed among the pending ones, with Withdraw');
  t.equal(await page.inputValue('#ask-reason'), '', 'the form is ready for the next one');

  // The sample policy wants a ticket for admin: refused, the reason shown, nothing stored.
  await page.fill('#ask-role', 'admin');
  await page.fill('#ask-duration', '30m');
  await page.fill('#ask-reason', 'rotate the keys');
  await page.click('#ask-form button[type=submit]');
  t.match(await status(page, 'error'), /^JITGATE_E_TICKET_REQUIRED: /, 'the refusal and its code are shown');
  t.equal((await mine()).length, 1, 'and nothing was stored');
  t.equal(await page.inputValue('#ask-reason'), 'rotate the keys', 'what was typed stays, to be mended');
  t.same(auditReads, [], 'the page never asked for the audit trail');
  t.equal(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned), undefined, 'the reason ran no script');
  t.same(errors, [], 'no script error on the page');
});

t.test('a 403\'s link opens the request form filled in; the asker adds a reason and the request is what the hint named', async (t) => {
  const denied = await fetch(`${gw.proxyUrl}/api/items`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await token('frank')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'x' }),
  });
  const hint = ((await denied.json()) as { error: { elevation: { url: string } } }).error.elevation;
  t.equal(hint.url, `${PUBLIC_URL}/console/#request?role=writer&duration=8h`, 'the 403 links to the console\'s form');
  const { page, errors } = await signedIn('frank');
  await page.goto(hint.url.replace(PUBLIC_URL, gw.controlUrl));
  await page.waitForSelector('#ask:not([hidden])');
  t.same([await page.inputValue('#ask-role'), await page.inputValue('#ask-duration')], ['writer', '8h'], 'role and duration are filled in');
  t.ok(await page.isHidden('#ask-scope'), 'the hint named no scope');
  await page.fill('#ask-reason', 'fix item 42 (from the link)');
  await page.click('#ask-form button[type=submit]');
  const id = /(req_[0-9a-f]+)/.exec(await status(page, 'ok'))?.[1] ?? '';
  const asked = (await api('frank', 'GET', `/v1/requests/${id}`)).body as { role: string; duration_seconds: number; scope: unknown };
  t.same([asked.role, asked.duration_seconds, asked.scope], ['writer', 28800, null], 'the request is the one the hint named');
  t.notMatch(page.url(), /#request/, 'the link is used up');

  // A link narrowed to a scope asks for that scope only, unless the asker widens it.
  await page.goto(`${gw.controlUrl}/console/#request?role=writer&duration=30m&method=POST&path=%2Fapi%2Fitems%2F*`);
  t.equal(await page.textContent('#ask-scope-text'), 'Scope: POST · /api/items/*.', 'the scope is shown');
  await page.fill('#ask-reason', 'only item writes');
  await page.click('#ask-form button[type=submit]');
  const scopedId = /(req_[0-9a-f]+)/.exec(await status(page, 'ok'))?.[1] ?? '';
  t.same((await api('frank', 'GET', `/v1/requests/${scopedId}`)).body.scope, { methods: ['POST'], paths: ['/api/items/*'] }, 'and asked for');
  await page.goto(`${gw.controlUrl}/console/#request?role=writer&duration=30m&method=POST&path=%2Fapi%2Fitems%2F*`);
  await page.click('#ask-whole-role');
  await page.fill('#ask-reason', 'all writes after all');
  await page.click('#ask-form button[type=submit]');
  const wideId = /(req_[0-9a-f]+)/.exec(await status(page, 'ok'))?.[1] ?? '';
  t.equal((await api('frank', 'GET', `/v1/requests/${wideId}`)).body.scope, null, '"whole role" drops it');
  t.same(errors, [], 'no script error on the page');
});

t.test('a link arriving while the request form holds something is offered, never swapped in', async (t) => {
  const { page, errors } = await signedIn('frank');
  await page.goto(`${gw.controlUrl}/console/#request?role=writer&duration=30m&method=POST&path=%2Fapi%2Fitems%2F42`);
  const form = async (): Promise<string[]> => [await page.inputValue('#ask-role'), await page.inputValue('#ask-duration'), (await page.isVisible('#ask-scope')) ? (await page.textContent('#ask-scope-text')) ?? '' : 'whole role', await page.inputValue('#ask-reason')];
  t.same(await form(), ['writer', '30m', 'Scope: POST · /api/items/42.', ''], 'the empty form is filled in from the link');
  await page.fill('#ask-reason', 'fix item 42 only');
  // What a page holding this one (its opener, where Cross-Origin-Opener-Policy does not apply) can do.
  await page.evaluate((hash) => new Promise<void>((resolve) => {
    const w = globalThis as unknown as { location: { hash: string }; addEventListener(type: string, f: () => void, o: { once: boolean }): void };
    w.addEventListener('hashchange', () => { setTimeout(resolve, 0); }, { once: true });
    w.location.hash = hash;
  }), '#request?role=breakglass&duration=1h');
  t.same(await form(), ['writer', '30m', 'Scope: POST · /api/items/42.', 'fix item 42 only'], 'the form keeps what the asker checked');
  t.equal(await page.textContent('#ask-link-text'), 'A link asks for breakglass for 1h (whole role).', 'the new link is offered, saying what it asks for');
  await page.click('#ask-link-use');
  t.same(await form(), ['breakglass', '1h', 'whole role', 'fix item 42 only'], 'and fills in the form on a click');
  t.ok(await page.isHidden('#ask-link'), 'the offer is gone');
  t.same(errors, [], 'no script error on the page');
});

t.test('readers of the audit trail see it in the console, as text, narrowed by who', async (t) => {
  const { page, errors } = await signedIn('audra');
  await page.waitForSelector('#audit:not([hidden])');
  const rows = page.locator('#audit-rows tr');
  await rows.first().waitFor();
  const seqs = (await page.locator('#audit-rows tr').evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-seq')))));
  t.ok(seqs.length > 5, `the newest records are listed (${String(seqs.length)})`);
  t.same(seqs, [...seqs].sort((a, b) => b - a), 'newest first');

  await page.fill('#audit-who', 'frank');
  await page.click('#audit-form button[type=submit]');
  t.equal(await status(page, 'ok'), 'Audit trail read.');
  const people = await page.locator('#audit-rows tr').evaluateAll((trs) => trs.map((tr) => [String(tr.children[3]?.textContent), String(tr.children[4]?.textContent)]));
  t.ok(people.length > 0 && people.every(([actor, subject]) => actor === 'frank' || subject === 'frank'), 'narrowed to records where frank acted or was the subject');
  const reasons = await page.locator('#audit-rows tr', { hasText: 'request.created' }).locator('td.reason').allTextContents();
  t.ok(reasons.includes(HOSTILE_REASON), 'frank\'s reason is shown as he wrote it');
  t.equal(await page.locator('#audit-rows img, #audit-rows script').count(), 0, 'as text, never markup');
  t.same(errors, [], 'no script error on the page');
});

t.test('the audit view pages back through older records, none skipped', async (t) => {
  // 1,010 writes frank may not make: each 403 is an audit record, so the trail outgrows the
  // API's largest page (1,000) and the view must follow the cursor.
  const frank = await token('frank');
  for (let i = 0; i < 1010; i++) {
    const res = await fetch(`${gw.proxyUrl}/api/items`, { method: 'POST', headers: { authorization: `Bearer ${frank}`, 'content-type': 'application/json' }, body: '{}' });
    await res.arrayBuffer();
    if (res.status !== 403) return t.fail(`write ${String(i)} answered ${String(res.status)}`);
  }
  const { page, errors } = await signedIn('audra');
  await page.waitForSelector('#audit:not([hidden])');
  await page.locator('#audit-rows tr').first().waitFor();
  const seqsShown = () => page.locator('#audit-rows tr').evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-seq'))));
  const first = await seqsShown();
  t.equal(first.length, 50, 'a page of 50 at first');
  t.ok(await page.isVisible('#audit-older'), 'with a way to older records');
  await page.click('#audit-older');
  t.equal(await status(page, 'ok'), 'Older records read.');
  const both = await seqsShown();
  t.ok(both.length > 50, `older records are added (${String(both.length)} shown)`);
  t.same(both.slice(0, 50), first, 'below the ones already shown');
  t.ok(both.every((seq, i) => i === 0 || seq === (both[i - 1] ?? 0) - 1), 'newest first, every record in between listed');
  const total = Number((await api('audra', 'GET', '/v1/audit?order=desc&limit=1')).body.items[0].seq);
  for (let i = 0; i < 30 && await page.isVisible('#audit-older'); i++) {
    await page.click('#audit-older');
    await status(page, 'ok');
  }
  const all = await seqsShown();
  t.equal(all.length, total, 'paging on, past 1,000, reaches the first record');
  t.ok(all.every((seq, i) => i === 0 || seq === (all[i - 1] ?? 0) - 1), 'with none skipped or repeated across the API\'s pages');
  t.ok(await page.isHidden('#audit-older'), 'and then offers no more');

  await page.fill('#audit-who', 'audra');
  await page.click('#audit-form button[type=submit]');
  await status(page, 'ok');
  t.ok((await seqsShown()).length <= 50, 'a new search starts over at one page');
  t.same(errors, [], 'no script error on the page');
});

t.test('the lists are read again on their own, but never while someone types in a row', async (t) => {
  const { page, errors } = await signedIn('carol', { clock: true });
  await status(page, 'ok');
  const rowOf = (id: string) => page.locator(`#pending-rows tr[data-id="${id}"]`);

  const first = await ask('alice', 'auto refresh, first');
  t.equal(await rowOf(first).count(), 0, 'a request made elsewhere is not on the page yet');
  await page.clock.fastForward(16_000);
  await rowOf(first).waitFor();
  t.pass('after the interval it is listed, with nothing clicked');

  await rowOf(first).locator('input').fill('half a comment');
  const second = await ask('alice', 'auto refresh, second');
  await page.clock.fastForward(16_000);
  await page.waitForTimeout(300);
  t.equal(await rowOf(second).count(), 0, 'while a comment is being typed the lists stay as they are');
  t.equal(await rowOf(first).locator('input').inputValue(), 'half a comment', 'and the comment is kept');

  await rowOf(first).locator('input').fill('');
  await page.locator('#ask-role').focus();
  await page.clock.fastForward(16_000);
  await rowOf(second).waitFor();
  t.pass('once the box is empty again, the next interval lists the new request');
  t.same(errors, [], 'no script error on the page');
});

t.test('a click decides only the request it was aimed at: a double-click approves one, and the rows hold still under the pointer', async (t) => {
  const asked = async (duration: string, reason: string, scope?: unknown): Promise<string> => {
    const answer = await api('erin', 'POST', '/v1/requests', { role: 'writer', duration, reason, ...(scope ? { scope } : {}) });
    if (answer.status !== 201) throw new Error(`request refused: ${JSON.stringify(answer.body)}`);
    return answer.body.id as string;
  };
  // Newest first: the wide request sits right below the narrow one the approver reads.
  const wide = await asked('8h', 'the whole role, never looked at');
  const narrow = await asked('5m', 'fix item 42', { methods: ['POST'], paths: ['/api/items/42'] });
  const { page, errors } = await signedIn('carol', { clock: true });
  await status(page, 'ok');
  const statusOf = async (id: string): Promise<string> => (await api('carol', 'GET', `/v1/requests/${id}`)).body.status as string;
  const box = await page.locator(`#pending-rows tr[data-id="${narrow}"]`).getByRole('button', { name: 'Approve' }).boundingBox();
  if (!box) throw new Error('no Approve button');
  const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
  const rowAt = (): Promise<string | undefined> => page.evaluate(([px, py]) => {
    const doc = (globalThis as unknown as { document: { elementFromPoint(a: number, b: number): { closest(s: string): { getAttribute(n: string): string | null } | null } | null } }).document;
    return doc.elementFromPoint(px ?? 0, py ?? 0)?.closest('tr')?.getAttribute('data-id') ?? undefined;
  }, [x, y]);

  await page.mouse.move(x, y);
  await page.mouse.down({ clickCount: 1 });
  await page.mouse.up({ clickCount: 1 });
  t.match(await status(page, 'ok'), `Approved ${narrow}`, 'the first click approves the request read');
  t.equal(await rowAt(), wide, 'the list is drawn again: the next request\'s Approve is now under the pointer');
  await page.mouse.down({ clickCount: 2 });
  await page.mouse.up({ clickCount: 2 });
  await page.waitForTimeout(300);
  t.equal(await statusOf(wide), 'pending', 'the second click of the double-click approved nothing');

  const newer = await asked('8h', 'arrives while carol reads');
  await page.clock.fastForward(16_000);
  await page.waitForTimeout(300);
  t.equal(await page.locator(`#pending-rows tr[data-id="${newer}"]`).count(), 0, 'while the pointer is over the list, it is not drawn again');
  t.equal(await rowAt(), wide, 'so the request under the pointer stays the one there');
  await page.mouse.move(1, 1);
  await page.clock.fastForward(16_000);
  await page.locator(`#pending-rows tr[data-id="${newer}"]`).waitFor();
  t.pass('once the pointer leaves, the next interval lists the new request');
  t.equal(await statusOf(newer), 'pending', 'which nobody approved');
  for (const id of [wide, newer]) await api('erin', 'POST', `/v1/requests/${id}/withdraw`, {});
  t.same(errors, [], 'no script error on the page');
});

t.test('control.console: false serves no console', async (t) => {
  const off = await gateway({ console: false });
  for (const path of ['/console', '/console/', '/console/console.js']) {
    const res = await fetch(`${off.gw.controlUrl}${path}`);
    t.equal(res.status, 404, `${path} is 404`);
    t.equal(((await res.json()) as { error: { code: string } }).error.code, 'JITGATE_E_NOT_FOUND');
  }
});
