// Reading a listener's certificate and key. Read at start and again on every reload, so a
// certificate renewed in place (cert-manager, certbot) is served from the next SIGHUP; a pair
// that cannot be used is refused with the files named, and the listener keeps the pair it has.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { jitgateError } from '../errors.js';
import type { TlsFiles } from './config.js';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

function read(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw jitgateError('CONFIG_INVALID', `${key}: cannot read ${path}: ${(err as Error).message}`, { problems: [`${key}: cannot read ${path}`] }, err);
  }
}

/** The pair named by `files` (at config key `at`), checked by building a TLS context from it. */
export function readTls(files: TlsFiles, at: string): TlsMaterial {
  const material = { cert: read(files.cert_file, `${at}.cert_file`), key: read(files.key_file, `${at}.key_file`) };
  try {
    // Throws on unparsable PEM, an encrypted key, or a key that does not belong to the certificate.
    createSecureContext(material);
  } catch (err) {
    const why = `${files.cert_file} and ${files.key_file} are not a usable certificate and key: ${(err as Error).message}`;
    throw jitgateError('CONFIG_INVALID', `${at}: ${why}`, { problems: [`${at}: ${why}`] }, err);
  }
  return material;
}
