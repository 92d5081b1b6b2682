// TLS the gateway uses as a client (route upstreams, OPA services): the CA it trusts instead of
// (or beside) the system roots, and the certificate it presents when asked. One setup is named
// by its contents, so connections made with it can be pooled and renewed files noticed.
import { createHash } from 'node:crypto';
import { createSecureContext, rootCertificates } from 'node:tls';

export interface ClientTlsParts {
  /** PEM: the CA to trust; without it, the system roots. */
  ca?: Buffer;
  /** Trust the system roots beside `ca`. */
  withSystemRoots?: boolean;
  /** PEM: the certificate presented when the server asks for one, and its key. */
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
  /** The name the server's certificate must carry, when not the host connected to. */
  servername?: string;
}

/** What undici's connector hands to tls.connect. */
export interface ClientConnectOptions {
  ca?: (string | Buffer)[];
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
  servername?: string;
}

/** Equal for equal settings and file contents (cheap: nothing is parsed). */
export function clientTlsId(parts: ClientTlsParts): string {
  const hash = createHash('sha256');
  for (const part of [parts.ca, parts.withSystemRoots === true ? 'system' : '', parts.cert, parts.key, parts.passphrase, parts.servername]) {
    hash.update(part ?? '').update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * The connect options for `parts`, checked by building a TLS context from them. Throws with the
 * TLS library's reason on unparsable PEM, a key that is not the certificate's, or a wrong passphrase.
 */
export function clientConnectOptions(parts: ClientTlsParts): ClientConnectOptions {
  const options: ClientConnectOptions = {};
  if (parts.ca) options.ca = parts.withSystemRoots === true ? [...rootCertificates, parts.ca] : [parts.ca];
  if (parts.cert) options.cert = parts.cert;
  if (parts.key) options.key = parts.key;
  if (parts.passphrase !== undefined) options.passphrase = parts.passphrase;
  createSecureContext(options);
  // Not a context setting: checked by tls.connect against the server's certificate.
  if (parts.servername !== undefined) options.servername = parts.servername;
  return options;
}
