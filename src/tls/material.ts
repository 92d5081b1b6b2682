// Reading a listener's certificate and key. Read at start and again on every reload, so a
// certificate renewed in place (cert-manager, certbot) is served from the next SIGHUP; a pair
// that cannot be used is refused with the files named, and the listener keeps the pair it has.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { jitgateError } from '../errors.js';
import type { TlsFiles } from './config.js';
import { crlBlocks, revocationLists, type RevocationList } from './revocation.js';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /**
   * Callers' certificates: the CAs that may sign them, whether one is required, and the CAs'
   * revocation lists (one PEM block each, and what they name, for connections opened before them).
   */
  clients?: { ca: Buffer; required: boolean; crl?: string[]; revoked?: RevocationList[] };
}

/** Longer than any one file name can be (NAME_MAX of Linux's and macOS's file systems). */
const NAME_MAX = 255;

/**
 * Whether a configured file path is no path but a certificate or key itself (`key_file: ${TLS_KEY}`
 * with the PEM, or its base64, in the environment): a line break, a PEM armour line (`LS0tLS1CRUdJT`
 * is `-----BEGIN` in base64), or a name longer than any file's. Quoted in an error, it would go
 * into the log and, on a reload, into the audit trail for good.
 */
function holdsPemText(path: string): boolean {
  return /[\r\n]|-----BEGIN |LS0tLS1CRUdJT/.test(path) || path.split(/[/\\]/).some((name) => name.length > NAME_MAX);
}

/**
 * A file that cannot be read, as an error may tell it: its path and the reason; for a "path" that
 * holds the secret itself, neither (the reason quotes the path), only what it looks like.
 */
export function unreadableFile(path: string, err: unknown): { path: string; reason: string; cause?: unknown } {
  if (!holdsPemText(path)) return { path, reason: (err as Error).message, cause: err };
  return {
    path: `(not a file path but ${String(path.length)} characters of text: the certificate or key itself? Give the file's path)`,
    reason: (err as NodeJS.ErrnoException).code ?? 'unreadable',
  };
}

/** A PEM file the configuration names at `key`; a file that cannot be read is a configuration error naming both. */
export function readConfiguredPem(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const file = unreadableFile(path, err);
    throw jitgateError('CONFIG_INVALID', `${key}: cannot read ${file.path}: ${file.reason}`, { problems: [`${key}: cannot read ${file.path}`] }, file.cause);
  }
}

/** The secure context options `material` makes: one place, so the check below and the listeners agree. */
export function contextOptions(material: TlsMaterial): { cert: Buffer; key: Buffer; ca?: Buffer; crl?: string[] } {
  const clients = material.clients;
  return { cert: material.cert, key: material.key, ...(clients ? { ca: clients.ca } : {}), ...(clients?.crl ? { crl: clients.crl } : {}) };
}

/** The files named by `files` (at config key `at`), checked by building a TLS context from them. */
export function readTls(files: TlsFiles, at: string): TlsMaterial {
  const material: TlsMaterial = { cert: readConfiguredPem(files.cert_file, `${at}.cert_file`), key: readConfiguredPem(files.key_file, `${at}.key_file`) };
  let crlPem: Buffer | undefined;
  const clients = files.client_certificates;
  if (clients) {
    material.clients = { ca: readConfiguredPem(clients.ca_file, `${at}.client_certificates.ca_file`), required: clients.required };
    if (clients.crl_file !== undefined) {
      crlPem = readConfiguredPem(clients.crl_file, `${at}.client_certificates.crl_file`);
      material.clients.crl = crlBlocks(crlPem);
    }
  }
  try {
    if (material.clients?.crl?.length === 0) throw new Error('no X509 CRL in the revocation list file');
    // Throws on unparsable PEM, an encrypted key, or a key that does not belong to the certificate.
    createSecureContext(contextOptions(material));
  } catch (err) {
    const crl = clients?.crl_file === undefined ? '' : ` (revocation list ${clients.crl_file})`;
    const why = clients
      ? `${files.cert_file}, ${files.key_file} and ${clients.ca_file}${crl} are not a usable certificate, key and client CA: ${(err as Error).message}`
      : `${files.cert_file} and ${files.key_file} are not a usable certificate and key: ${(err as Error).message}`;
    throw jitgateError('CONFIG_INVALID', `${at}: ${why}`, { problems: [`${at}: ${why}`] }, err);
  }
  if (material.clients && crlPem !== undefined) material.clients.revoked = revocationLists(crlPem, `${at}.client_certificates.crl_file`);
  return material;
}
