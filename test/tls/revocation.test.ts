// What the revocation lists name, read from real lists made by `openssl ca`: the gateway ends
// open connections by it, so a list must name exactly its CA's revoked certificates.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isRevoked, revocationLists } from '../../src/tls/revocation.js';
import { certAuthority } from '../helpers/certs.js';

const dir = mkdtempSync(join(tmpdir(), 'jg-revocation-'));
const first = certAuthority(join(dir), 'first-ca');
const second = certAuthority(mkdtempSync(join(tmpdir(), 'jg-revocation-2-')), 'second-ca');
const der = (cert: { cert: string }): Buffer => new X509Certificate(readFileSync(cert.cert)).raw;

t.test('a list names its CA\'s revoked certificates, and nothing of another CA\'s with the same serial number', (t) => {
  const revoked = first.issue('revoked', 'client', undefined, '00ab12');
  const kept = first.issue('kept', 'client', undefined, '00ab13');
  const twin = second.issue('twin', 'client', undefined, '00ab12');
  const lists = revocationLists(readFileSync(first.revoke(revoked)), 'crl');
  t.equal(lists.length, 1);
  t.same([...(lists[0]?.serials ?? [])], ['ab12'], 'the serial, as hex without leading zeros');
  t.equal(isRevoked(der(revoked), lists), true, 'the revoked certificate');
  t.equal(isRevoked(der(kept), lists), false, 'another of the same CA');
  t.equal(isRevoked(der(twin), lists), false, 'another CA\'s certificate with the same serial number');

  // Both CAs' lists in one file, as crl_file may hold them.
  const both = join(dir, 'both.crl.pem');
  writeFileSync(both, Buffer.concat([readFileSync(first.revoke(kept)), readFileSync(second.revoke(twin))]));
  const combined = revocationLists(readFileSync(both), 'crl');
  t.equal(combined.length, 2, 'one list per CA');
  t.equal(isRevoked(der(kept), combined), true);
  t.equal(isRevoked(der(twin), combined), true, 'each CA\'s list names its own');
  t.equal(isRevoked(der(first.issue('fresh', 'client')), combined), false, 'a certificate neither names');
  t.end();
});

t.test('a list that cannot be read is refused naming the key; a certificate that cannot be read counts as revoked', (t) => {
  t.throws(() => revocationLists(Buffer.from('no list here'), 'jitgate.listen.tls.proxy.client_certificates.crl_file'),
    { code: 'JITGATE_E_CONFIG_INVALID', message: /crl_file: no X509 CRL/ });
  const broken = `-----BEGIN X509 CRL-----\n${Buffer.from([0x30, 0x82, 0x10, 0x00, 0x30]).toString('base64')}\n-----END X509 CRL-----\n`;
  t.throws(() => revocationLists(Buffer.from(broken), 'crl'), { code: 'JITGATE_E_CONFIG_INVALID', message: /crl: a revocation list cannot be read: truncated DER/ });
  const lists = revocationLists(readFileSync(first.revoke(first.issue('any', 'client'))), 'crl');
  t.equal(isRevoked(Buffer.from([0x30, 0x03, 0x02, 0x01]), lists), true, 'closed, not open');
  t.end();
});
