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
    const known = this.known.get(cert);
    if (known !== undefined) return known;
    const found = [...cert.san_uris.map((n) => this.byUri.get(n)), ...cert.san_dns.map((n) => this.byDns.get(n))]
      .filter((s): s is Subject => s !== undefined);
    // Two entries naming the same service alike agree; any other two do not.
    if (new Set(found.map((s) => JSON.stringify([s.id, s.groups]))).size > 1) {
      throw jitgateError('IDENTITY_AMBIGUOUS', `the client certificate names ${[...new Set(found.map((s) => s.id))].sort().join(' and ')}`);
    }
    const subject = found[0] ?? null;
    this.known.set(cert, subject);
    return subject;
  }
}
