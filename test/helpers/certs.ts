// Test certificates, made by openssl: self-signed ones for the gateway's listeners, and a
// small CA issuing server and client certificates for upstream TLS.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
  fingerprint: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

function described(cert: string, key: string): CertFiles {
  return { cert, key, fingerprint: new X509Certificate(readFileSync(cert)).fingerprint256 };
}

/** A self-signed certificate for 127.0.0.1 and its key. */
export function selfSigned(dir: string, name: string): CertFiles {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  openssl(['req', '-x509', ...EC_KEY, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
  return described(cert, key);
}

export interface Authority extends CertFiles {
  /** `serial` (hex): this serial number rather than a random one. */
  issue(subject: string, use: 'server' | 'client', altNames?: string, serial?: string): CertFiles;
  /** Revokes `cert` and writes the CA's revocation list (every certificate revoked so far); returns its path. */
  revoke(cert: CertFiles): string;
  /** A client certificate valid from a minute ago until `notAfter` (to the second). */
  issueUntil(subject: string, notAfter: Date, altNames?: string): CertFiles;
  /** Writes the CA's revocation list as it stands (nothing revoked yet: an empty one); returns its path. `validSeconds`: its next update that far out (2 days otherwise). */
  crl(validSeconds?: number): string;
  /** A CA under this one: its certificates' chains run through it. */
  intermediate(name: string): Authority;
}

/** A certificate authority that issues server certificates (for 127.0.0.1) and client certificates, and revokes them. */
export function certAuthority(dir: string, name: string): Authority {
  return authority(dir, name, selfSigned(dir, name));
}

/**
 * One CA under two certificates with the same key and name, the name encoded two ways: `trusted`
 * (UTF8String, OpenSSL's default), to trust and revoke with, and `issuing` (PrintableString, as
 * older or other tooling writes it), whose certificates carry the name so as their issuer.
 */
export function reencodedAuthority(dir: string, name: string): { trusted: Authority; issuing: Authority } {
  const key = join(dir, `${name}.key`);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  const caCert = (mask: string): CertFiles => {
    const conf = join(dir, `${name}-${mask}.cnf`);
    writeFileSync(conf, `[req]\ndistinguished_name = dn\nstring_mask = ${mask}\nprompt = no\n[dn]\nCN = ${name}\n`
      + '[v3]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n');
    const cert = join(dir, `${name}-${mask}.pem`);
    openssl(['req', '-x509', '-new', '-key', key, '-config', conf, '-extensions', 'v3', '-days', '2', '-set_serial', '1', '-out', cert]);
    return described(cert, key);
  };
  return { trusted: authority(dir, name, caCert('utf8only')), issuing: authority(dir, `${name}-printable`, caCert('default')) };
}

function authority(dir: string, name: string, ca: CertFiles): Authority {
  const db = join(dir, `${name}-db`);
  const crlFile = join(dir, `${name}.crl.pem`);
  const ensureDb = (): string => {
    mkdirSync(join(db, 'issued'), { recursive: true });
    const conf = join(db, 'ca.cnf');
    if (!existsSync(conf)) {
      writeFileSync(join(db, 'index.txt'), '');
      writeFileSync(join(db, 'crlnumber'), '01\n');
      writeFileSync(join(db, 'serial'), '1000\n');
      // `policy` and `new_certs_dir` only for issueUntil: `openssl ca` is what takes exact dates.
      writeFileSync(conf, `[ca]\ndefault_ca = d\n[d]\ndatabase = ${db}/index.txt\ncrlnumber = ${db}/crlnumber\nserial = ${db}/serial\n`
        + `new_certs_dir = ${db}/issued\nunique_subject = no\npolicy = p\ndefault_md = sha256\ndefault_crl_days = 2\n[p]\ncommonName = supplied\n`);
    }
    return conf;
  };
  const crl = (validSeconds?: number): string => {
    const next = validSeconds === undefined ? [] : ['-crlsec', String(validSeconds)];
    openssl(['ca', '-config', ensureDb(), '-keyfile', ca.key, '-cert', ca.cert, '-gencrl', ...next, '-out', crlFile]);
    return crlFile;
  };
  const sign = (subject: string, extensions: string, serial?: string): CertFiles => {
    const key = join(dir, `${subject}.key`);
    const csr = join(dir, `${subject}.csr`);
    const cert = join(dir, `${subject}.pem`);
    const ext = join(dir, `${subject}.ext`);
    writeFileSync(ext, extensions);
    openssl(['req', ...EC_KEY, '-subj', `/CN=${subject}`, '-keyout', key, '-out', csr]);
    const serialArgs = serial === undefined ? ['-CAcreateserial'] : ['-set_serial', `0x${serial}`];
    openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, ...serialArgs, '-days', '2', '-extfile', ext, '-out', cert]);
    return described(cert, key);
  };
  return {
    ...ca,
    revoke(cert) {
      openssl(['ca', '-config', ensureDb(), '-keyfile', ca.key, '-cert', ca.cert, '-revoke', cert.cert]);
      return crl();
    },
    crl,
    /** `altNames`: a client certificate's subjectAltName (`URI:spiffe://...`), for workload identities. */
    issue(subject, use, altNames, serial) {
      return sign(subject, use === 'server'
        ? 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'
        : `extendedKeyUsage=clientAuth\n${altNames === undefined ? '' : `subjectAltName=${altNames}\n`}`, serial);
    },
    issueUntil(subject, notAfter, altNames) {
      const key = join(dir, `${subject}.key`);
      const csr = join(dir, `${subject}.csr`);
      const cert = join(dir, `${subject}.pem`);
      const ext = join(dir, `${subject}.ext`);
      writeFileSync(ext, `extendedKeyUsage=clientAuth\n${altNames === undefined ? '' : `subjectAltName=${altNames}\n`}`);
      openssl(['req', ...EC_KEY, '-subj', `/CN=${subject}`, '-keyout', key, '-out', csr]);
      const asn1 = (d: Date): string => `${d.toISOString().replace(/[-:T]/g, '').slice(2, 14)}Z`;
      openssl(['ca', '-batch', '-notext', '-config', ensureDb(), '-keyfile', ca.key, '-cert', ca.cert, '-in', csr, '-out', cert, '-extfile', ext,
        '-startdate', asn1(new Date(Date.now() - 60_000)), '-enddate', asn1(notAfter)]);
      return described(cert, key);
    },
    intermediate(sub) {
      return authority(dir, sub, sign(sub, 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n'));
    },
  };
}
