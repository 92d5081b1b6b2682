// The certificate a caller presented, when the listener asks for one and it verified against
// the configured client CA: shown to the policy (input.request.client_certificate), so a rule
// can ask for a workload's identity (a SPIFFE ID, a DNS name) beside the token's. A certificate
// that did not verify is never shown. Read once per connection: keep-alive requests share it.
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { AuthzClientCertificate as ClientCertificate } from '../policy/index.js';

const seen = new WeakMap<TLSSocket, ClientCertificate | null>();

/** `URI:spiffe://a/b, DNS:x` as Node writes subjectAltName (values with a comma quoted as JSON strings). */
function altNames(text: string): { kind: string; value: string }[] {
  const out: { kind: string; value: string }[] = [];
  const entry = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/gy;
  for (let m = entry.exec(text); m !== null && m[0] !== ''; m = entry.exec(text)) {
    const raw = m[2] ?? '';
    out.push({ kind: m[1] ?? '', value: raw.startsWith('"') ? (JSON.parse(raw) as string) : raw });
  }
  return out;
}

export function clientCertificate(socket: Socket): ClientCertificate | null {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return null;
  const known = seen.get(socket);
  if (known !== undefined) return known;
  const x509 = socket.getPeerX509Certificate();
  let cert: ClientCertificate | null = null;
  if (x509) {
    const names = altNames(x509.subjectAltName ?? '');
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(x509.subject)?.[1];
    cert = {
      ...(cn !== undefined ? { subject_cn: cn } : {}),
      san_uris: names.filter((n) => n.kind === 'URI').map((n) => n.value),
      san_dns: names.filter((n) => n.kind === 'DNS').map((n) => n.value),
      fingerprint_sha256: x509.fingerprint256,
    };
  }
  seen.set(socket, cert);
  return cert;
}
