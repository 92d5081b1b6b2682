// Service API keys (only hashes configured) and the demo's development issuer.
import { mkdtempSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import pino from 'pino';
import { createAuthenticator, createDevIssuer, generateApiKey, hashApiKey, parseApiKey, type IdentityConfig } from '../../src/identity/index.js';
import { refusal } from '../helpers/refusal.js';
import { runCli } from '../helpers/gateway.js';
import { stringify } from 'yaml';

const logger = pino({ level: 'silent' });

t.test('API keys: the configured hash identifies the service; anything else is refused', async (t) => {
  t.equal(hashApiKey('jg_reporting.demo-only-service-key'), 'ec8a1ef2f34352331da894c920e8c451bd06438486f870b7b7346b2a1f233bd6', 'the demo config hash is the README key');
  const { key, sha256 } = generateApiKey('billing');
  t.same(parseApiKey(key), { id: 'billing' });
  t.equal(hashApiKey(key), sha256);
  const cfg: IdentityConfig = {
    api_keys: [{ id: 'billing', subject: 'svc-billing', groups: ['services'], sha256 }],
    client_certificates: [],
    dev_issuer: { enabled: false, token_ttl_seconds: 3600, subjects: {} },
  };
  const auth = createAuthenticator(cfg, { logger });
  await auth.start();
  const s = await auth.authenticate({ 'x-api-key': key });
  t.same(s, { id: 'svc-billing', kind: 'service', groups: ['services'], claims: {} });
  t.equal((await auth.authenticate({ authorization: `Bearer ${key}` })).id, 'svc-billing');
  const [, secret] = key.split('.');
  t.equal(await refusal(auth.authenticate({ 'x-api-key': `jg_billing.${secret!.slice(0, -1)}x` })), 'JITGATE_E_API_KEY_INVALID', 'wrong secret');
  t.equal(await refusal(auth.authenticate({ 'x-api-key': `jg_other.${secret!}` })), 'JITGATE_E_API_KEY_INVALID', 'unknown id');
  t.equal(await refusal(auth.authenticate({ 'x-api-key': 'not-a-key' })), 'JITGATE_E_API_KEY_INVALID', 'malformed');
  t.equal(await refusal(auth.authenticate({ 'x-api-key': sha256 })), 'JITGATE_E_API_KEY_INVALID', 'the hash itself is not a key');
  t.throws(() => createAuthenticator({ ...cfg, api_keys: [...cfg.api_keys, ...cfg.api_keys] }, { logger }), /duplicate id/);
});

t.test('dev issuer: off unless enabled; key generated once, private, reused; sample subjects carry their groups', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-dev-'));
  const keyFile = join(dir, 'sub', 'dev.jwk.json');
  t.throws(() => createDevIssuer({ enabled: false, key_file: keyFile, token_ttl_seconds: 600, subjects: {} }), /not enabled/);
  const dev = { enabled: true, key_file: keyFile, token_ttl_seconds: 600, subjects: { alice: ['eng'] } };
  const a = createDevIssuer(dev);
  const token = await a.issue('alice');
  t.equal(statSync(keyFile).mode & 0o777, 0o600, 'the key file is readable by its owner only');
  const keyBefore = readFileSync(keyFile, 'utf8');
  await createDevIssuer(dev).issue('bob', ['x']);
  t.equal(readFileSync(keyFile, 'utf8'), keyBefore, 'a second issuer reuses the key');

  const lines: string[] = [];
  const auth = createAuthenticator({ api_keys: [], client_certificates: [], dev_issuer: dev }, { logger: pino({ level: 'info' }, { write: (l: string) => { lines.push(l); } }) });
  await auth.start();
  const s = await auth.authenticate({ authorization: `Bearer ${token}` });
  t.same({ id: s.id, kind: s.kind, groups: s.groups }, { id: 'alice', kind: 'user', groups: ['eng'] });
  t.ok(lines.some((l) => l.includes('"level":40') && l.includes('DEVELOPMENT TOKEN ISSUER IS ENABLED')), 'loud warning when on');

  for (const sub of ['eve\u0085', 'eve\u2028alice', 'eve\u007f', 'eve\u200b', 'eve\u202e', 'eve\u{e0001}']) {
    const at = `U+${(sub.codePointAt(3) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
    await t.rejects(a.issue(sub), { code: 'JITGATE_E_VALIDATION', message: `subject holds a control, invisible or bidirectional-control character (${at})` }, `no token for a subject with ${at}`);
  }
  await t.rejects(a.issue('eve', ['eng', 'approvers\u2060']), { code: 'JITGATE_E_VALIDATION', message: 'a group holds a control, invisible or bidirectional-control character (U+2060)' }, 'nor for one in such a group');

  const off = createAuthenticator({ api_keys: [], client_certificates: [], dev_issuer: { ...dev, enabled: false } }, { logger });
  await off.start();
  t.equal(await refusal(off.authenticate({ authorization: `Bearer ${token}` })), 'JITGATE_E_TOKEN_INVALID', 'dev tokens mean nothing when the issuer is off');
});

t.test('`jitgate token` prints a token for a sample subject and refuses when the dev issuer is off', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-cli-'));
  const keyFile = join(dir, 'dev.jwk.json');
  const on = join(dir, 'on.yaml');
  const off = join(dir, 'off.yaml');
  const doc = (enabled: boolean) => stringify({ jitgate: { data_dir: dir, identity: { dev_issuer: { enabled, key_file: keyFile, subjects: { alice: ['eng'], bob: ['eng', 'approvers'] } } } } });
  writeFileSync(on, doc(true));
  writeFileSync(off, doc(false));

  const res = await runCli(['token', '--sub', 'bob', '--config', on]);
  t.equal(res.code, 0, res.stderr);
  const token = res.stdout.trim();
  const auth = createAuthenticator({ api_keys: [], client_certificates: [], dev_issuer: { enabled: true, key_file: keyFile, token_ttl_seconds: 3600, subjects: {} } }, { logger });
  await auth.start();
  const s = await auth.authenticate({ authorization: `Bearer ${token}` });
  t.same(s.groups, ['eng', 'approvers'], 'the sample subject carries its groups');

  const custom = await runCli(['token', '--sub', 'zoe', '--groups', 'ops,oncall', '--ttl', '5m', '--config', on]);
  t.equal(custom.code, 0, custom.stderr);
  const z = await auth.authenticate({ authorization: `Bearer ${custom.stdout.trim()}` });
  t.same(z.groups, ['ops', 'oncall']);
  t.ok((z.claims.exp as number) - (z.claims.iat as number) === 300, 'the ttl is applied');

  const unknown = await runCli(['token', '--sub', 'zoe', '--config', on]);
  t.not(unknown.code, 0, 'an unknown subject needs --groups');

  const refused = await runCli(['token', '--sub', 'alice', '--config', off]);
  t.not(refused.code, 0);
  t.match(refused.stderr, /not enabled/);
  t.equal(refused.stdout, '', 'no token printed');
});

t.test('`jitgate token` and `jitgate apikey` refuse a subject the gateway would refuse before any message shows it, --groups or not', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-token-unfit-'));
  const config = join(dir, 'on.yaml');
  writeFileSync(config, stringify({ jitgate: { data_dir: dir, identity: { dev_issuer: { enabled: true, key_file: join(dir, 'dev.jwk.json'), subjects: { alice: ['eng'] } } } } }));
  const rule = 'The request failed validation: subject holds a control, invisible or bidirectional-control character';
  // Any of them would reach the terminal raw in "… is not a sample subject": the invisible one
  // reads as alice, the escape sequences set the window title and clear the screen.
  for (const [sub, char] of [['alice\u200b', 'U+200B'], ['x\u001b]0;pwned\u0007\u001b[2Jy', 'U+001B'], ['\u202eecila', 'U+202E']] as const) {
    const name = sub.replace(/[^\x20-\x7e]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
    const without = await runCli(['token', '--sub', sub, '--config', config]);
    const withGroups = await runCli(['token', '--sub', sub, '--groups', 'eng', '--config', config]);
    t.equal(without.stderr, `jitgate token: ${rule} (${char})\n`, `${name} without --groups: the refusal names the character`);
    t.equal(without.stderr, withGroups.stderr, `${name}: the same message with --groups`);
    t.equal(without.code, 1, `${name} without --groups: exit 1`);
    t.equal(withGroups.code, 1, `${name} with --groups: exit 1`);
    t.equal(without.stdout + withGroups.stdout, '', `${name}: no token printed`);
    const apikey = await runCli(['apikey', '--id', 'billing', '--subject', sub]);
    t.not(apikey.code, 0, `${name}: no API key entry for it`);
    t.match(apikey.stderr, `${rule} (${char})`, `${name}: apikey names the character`);
    t.notOk(apikey.stdout.includes(sub) || apikey.stderr.includes(sub), `${name}: apikey never prints it`);
  }
  const unknown = await runCli(['token', '--sub', 'zoe', '--config', config]);
  t.equal(unknown.code, 2, 'a well-formed unknown subject still needs --groups');
  t.match(unknown.stderr, 'zoe is not a sample subject');
});
