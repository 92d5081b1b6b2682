// Which certificates a revocation list names, for connections that were already open when the
// list came: OpenSSL checks a new list at each handshake, but never again on a connection past
// its handshake, so a keep-alive connection or an open session of a revoked workload would
// otherwise outlive the revocation. Only what that needs is read from the DER: each list's
// issuer and revoked serial numbers, and a certificate's issuer and serial number. The list
// itself was checked by OpenSSL when the secure context was built from it.
import { jitgateError } from '../errors.js';
import { pemBlocks } from './pem.js';

/** One CA's revoked certificates: its name (DER, as its certificates carry it as issuer) and their serials. */
export interface RevocationList {
  issuer: Buffer;
  serials: ReadonlySet<string>;
}

interface Tlv {
  tag: number;
  /** Where the element starts (its tag) and where its content starts and ends. */
  start: number;
  content: number;
  end: number;
}

/** The DER element at `at` (single-byte tags and definite lengths, as DER has them). */
function tlv(der: Buffer, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw new Error('truncated DER');
  const tag = der[at] as number;
  let length = der[at + 1] as number;
  let content = at + 2;
  if (length >= 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || content + bytes > limit) throw new Error('unsupported DER length');
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (der[content + i] as number);
    content += bytes;
  }
  const end = content + length;
  if (end > limit) throw new Error('truncated DER');
  return { tag, start: at, content, end };
}

/** The elements inside a constructed element. */
function children(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.content; at < parent.end;) {
    const child = tlv(der, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;
const EXPLICIT_0 = 0xa0;

/** A serial number as lower-case hex without leading zeros, from an INTEGER's content. */
function serialOf(der: Buffer, integer: Tlv): string {
  let at = integer.content;
  while (at < integer.end - 1 && der[at] === 0) at++;
  return der.toString('hex', at, integer.end);
}

function expect(element: Tlv | undefined, tag: number, what: string): Tlv {
  if (element?.tag !== tag) throw new Error(`${what} is missing`);
  return element;
}

function listOf(der: Buffer): RevocationList {
  const list = expect(tlv(der, 0, der.length), SEQUENCE, 'CertificateList');
  const tbs = expect(children(der, list)[0], SEQUENCE, 'tbsCertList');
  const parts = children(der, tbs);
  let i = parts[0]?.tag === INTEGER ? 1 : 0;
  expect(parts[i++], SEQUENCE, 'signature');
  const issuer = expect(parts[i++], SEQUENCE, 'issuer');
  const time = (p: Tlv | undefined): boolean => p?.tag === UTC_TIME || p?.tag === GENERALIZED_TIME;
  if (!time(parts[i++])) throw new Error('thisUpdate is missing');
  if (time(parts[i])) i++;
  const serials = new Set<string>();
  const revoked = parts[i];
  if (revoked?.tag === SEQUENCE) {
    for (const entry of children(der, revoked)) {
      const [serial] = children(der, expect(entry, SEQUENCE, 'a revoked entry'));
      serials.add(serialOf(der, expect(serial, INTEGER, 'a revoked serial number')));
    }
  }
  return { issuer: der.subarray(issuer.start, issuer.end), serials };
}

/**
 * Each list in a PEM file as a PEM block of its own. Node's secure context reads one list from
 * each string it is given, so a file with one list per CA is handed over as these blocks.
 */
export function crlBlocks(pem: Buffer): string[] {
  return pemBlocks(pem, 'X509 CRL');
}

/** Every list in a PEM file (one per CA); throws CONFIG_INVALID naming `at` when one cannot be read. */
export function revocationLists(pem: Buffer, at: string): RevocationList[] {
  const blocks = crlBlocks(pem);
  if (blocks.length === 0) throw jitgateError('CONFIG_INVALID', `${at}: no X509 CRL in the file`, { problems: [`${at}: no X509 CRL in the file`] });
  return blocks.map((block) => {
    try {
      return listOf(Buffer.from(block.replace(/-----(?:BEGIN|END) X509 CRL-----/g, ''), 'base64'));
    } catch (err) {
      const why = `${at}: a revocation list cannot be read: ${(err as Error).message}`;
      throw jitgateError('CONFIG_INVALID', why, { problems: [why] }, err);
    }
  });
}

/** Whether a certificate (DER) is named by the list of its issuer. A certificate that cannot be read counts as revoked. */
export function isRevoked(certificate: Buffer, lists: readonly RevocationList[]): boolean {
  try {
    const cert = expect(tlv(certificate, 0, certificate.length), SEQUENCE, 'Certificate');
    const tbs = expect(children(certificate, cert)[0], SEQUENCE, 'tbsCertificate');
    const parts = children(certificate, tbs);
    let i = parts[0]?.tag === EXPLICIT_0 ? 1 : 0;
    const serial = serialOf(certificate, expect(parts[i++], INTEGER, 'serialNumber'));
    expect(parts[i++], SEQUENCE, 'signature');
    const issuerElement = expect(parts[i], SEQUENCE, 'issuer');
    const issuer = certificate.subarray(issuerElement.start, issuerElement.end);
    return lists.some((list) => list.issuer.equals(issuer) && list.serials.has(serial));
  } catch {
    return true;
  }
}
