// Workload certificates as credentials (identity.client_certificates): a caller whose certificate
// verified against the listener's client CA, and names a mapped subjectAltName, is that service.
// A certificate no entry names stays what it was: a fact shown to the policy, not an identity.
import type { AuthzClientCertificate, Subject } from '../policy/index.js';
import { seal } from '../policy/index.js';
import { jitgateError } from '../errors.js';
import type { CertificateIdentityConfig } from './config.js';

export class CertificateIdentities {
  private readonly byUri = new Map<string, Subject>();
  private readonly byDns = new Map<string, Subject>();
  /** Per verified certificate (one object per connection): what it maps to. */
  private readonly known = new WeakMap<AuthzClientCertificate, Subject | null>();

  constructor(entries: readonly CertificateIdentityConfig[]) {
    for (const e of entries) {
      const [table, name, key] = e.san_uri !== undefined ? [this.byUri, e.san_uri, 'san_uri'] : [this.byDns, e.san_dns ?? '', 'san_dns'];
      // Two entries for one name would make the subject depend on config order.
      if (table.has(name)) throw jitgateError('CONFIG_INVALID', `identity.client_certificates: ${key} "${name}" is mapped twice`);
      // Sealed: the one object every request with this certificate gets, parsed into the policy once.
      table.set(name, seal({ id: e.subject, kind: 'service', groups: [...e.groups], claims: {} }));
    }
  }

  get empty(): boolean {
    return this.byUri.size === 0 && this.byDns.size === 0;
  }

  /** The service a verified certificate is, null when no entry names it; IDENTITY_AMBIGUOUS when it names two subjects. */
  subjectFor(cert: AuthzClientCertificate): Subject | null {
    let subject = this.known.get(cert);
    if (subject === undefined) {
      const found = new Set<Subject>();
      for (const uri of cert.san_uris) this.add(found, this.byUri.get(uri));
      for (const dns of cert.san_dns) this.add(found, this.byDns.get(dns));
      // Two entries naming the same service alike agree; any other two do not.
      const distinct = new Set([...found].map((s) => JSON.stringify([s.id, s.groups])));
      if (distinct.size > 1) throw jitgateError('IDENTITY_AMBIGUOUS', `the client certificate names ${[...new Set([...found].map((s) => s.id))].sort().join(' and ')}`);
      subject = found.values().next().value ?? null;
      this.known.set(cert, subject);
    }
    return subject;
  }

  private add(found: Set<Subject>, s: Subject | undefined): void {
    if (s !== undefined) found.add(s);
  }
}
