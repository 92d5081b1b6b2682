// Which certificates a revocation list names, for connections that were already open when the
// list came: OpenSSL checks a new list at each handshake, but never again on a connection past
// its handshake, so a keep-alive connection or an open session of a revoked workload would
// otherwise outlive the revocation. Only what that needs is read from the DER: each list's
// issuer and revoked serial numbers, and a certificate's issuer and serial number. The list
// itself was checked by OpenSSL when the secure context was built from it.
import { jitgateError } from '../errors.js';
import { pemBlocks } from './pem.js';

/** One CA's revoked certificates: its name (canonical, see canonicalName) and their serials. */
export interface RevocationList {
  issuer: string;
  serials: ReadonlySet<string>;
  /** When the list stops vouching for its CA's certificates (its nextUpdate); null when it names no such time. */
  nextUpdateMs: number | null;
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
const SET = 0x31;
const OID = 0x06;

/** The string types OpenSSL compares names by their text (ASN1_MASK_CANON), and how each is encoded. */
const TEXT: ReadonlyMap<number, (bytes: Buffer) => string> = new Map([
  [0x0c, (b: Buffer) => b.toString('utf8')], // UTF8String
  [0x13, (b: Buffer) => b.toString('latin1')], // PrintableString
  [0x14, (b: Buffer) => b.toString('latin1')], // T61String, read as Latin-1 as OpenSSL does
  [0x16, (b: Buffer) => b.toString('latin1')], // IA5String
  [0x1a, (b: Buffer) => b.toString('latin1')], // VisibleString
  [0x1e, (b: Buffer) => Buffer.from(b).swap16().toString('utf16le')], // BMPString: UTF-16BE
  [0x1c, (b: Buffer) => { // UniversalString: UTF-32BE
    let text = '';
    for (let at = 0; at + 4 <= b.length; at += 4) text += String.fromCodePoint(b.readUInt32BE(at));
    return text;
  }],
]);

/**
 * A distinguished name (the DER element `name`) as OpenSSL compares names (x509_name_canon): each
 * text value trimmed, inner white space one space, ASCII letters lower-cased, whatever string type
 * carries it. A CA's name may be encoded one way in the certificates it issued and another in its
 * list (a CA certificate re-issued by other tooling, PrintableString then UTF8String): OpenSSL
 * still applies the list to new handshakes, so the open connections must be matched alike.
 */
function canonicalName(der: Buffer, name: Tlv): string {
  return children(der, name).map((rdn) => children(der, expect(rdn, SET, 'a relative distinguished name')).map((attribute) => {
    const [type, value] = children(der, expect(attribute, SEQUENCE, 'an attribute'));
    const oid = expect(type, OID, 'an attribute type');
    if (value === undefined) throw new Error('an attribute value is missing');
    const decode = TEXT.get(value.tag);
    const text = decode === undefined
      ? `der:${der.toString('hex', value.start, value.end)}`
      : JSON.stringify(decode(der.subarray(value.content, value.end)).replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '')
        .replace(/[ \t\n\v\f\r]+/g, ' ').replace(/[A-Z]/g, (c) => c.toLowerCase()));
    return `${der.toString('hex', oid.content, oid.end)}=${text}`;
  }).sort().join('+')).join(',');
}

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

/** A UTCTime or GeneralizedTime (as DER has them: to the second, in UTC) in milliseconds. */
function timeOf(der: Buffer, time: Tlv): number {
  const text = der.toString('latin1', time.content, time.end);
  const m = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  const year = m?.[1]?.length === (time.tag === UTC_TIME ? 2 : 4) ? Number(m[1]) : NaN;
  if (!m || Number.isNaN(year)) throw new Error('a time cannot be read');
  // RFC 5280 4.1.2.5.1: a two-digit year of 50 or more is 19YY.
  const fullYear = time.tag === UTC_TIME ? (year >= 50 ? 1900 : 2000) + year : year;
  return Date.UTC(fullYear, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

function listOf(der: Buffer): RevocationList {
  const list = expect(tlv(der, 0, der.length), SEQUENCE, 'CertificateList');
  const tbs = expect(children(der, list)[0], SEQUENCE, 'tbsCertList');
  const parts = children(der, tbs);
  let i = parts[0]?.tag === INTEGER ? 1 : 0;
  expect(parts[i++], SEQUENCE, 'signature');
  const issuer = expect(parts[i++], SEQUENCE, 'issuer');
  const time = (p: Tlv | undefined): p is Tlv => p?.tag === UTC_TIME || p?.tag === GENERALIZED_TIME;
  if (!time(parts[i++])) throw new Error('thisUpdate is missing');
  let nextUpdateMs: number | null = null;
  const next = parts[i];
  if (time(next)) {
    nextUpdateMs = timeOf(der, next);
    i++;
  }
  const serials = new Set<string>();
  const revoked = parts[i];
  if (revoked?.tag === SEQUENCE) {
    for (const entry of children(der, revoked)) {
      const [serial] = children(der, expect(entry, SEQUENCE, 'a revoked entry'));
      serials.add(serialOf(der, expect(serial, INTEGER, 'a revoked serial number')));
    }
  }
  return { issuer: canonicalName(der, issuer), serials, nextUpdateMs };
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

/** A certificate's (DER) serial number and its issuer's name (canonical); throws when it cannot be read. */
function certificateIds(certificate: Buffer): { serial: string; issuer: string } {
  const cert = expect(tlv(certificate, 0, certificate.length), SEQUENCE, 'Certificate');
  const tbs = expect(children(certificate, cert)[0], SEQUENCE, 'tbsCertificate');
  const parts = children(certificate, tbs);
  let i = parts[0]?.tag === EXPLICIT_0 ? 1 : 0;
  const serial = serialOf(certificate, expect(parts[i++], INTEGER, 'serialNumber'));
  expect(parts[i++], SEQUENCE, 'signature');
  const issuerElement = expect(parts[i], SEQUENCE, 'issuer');
  return { serial, issuer: canonicalName(certificate, issuerElement) };
}

/** Whether a certificate (DER) is named by the list of its issuer. A certificate that cannot be read counts as revoked. */
export function isRevoked(certificate: Buffer, lists: readonly RevocationList[]): boolean {
  try {
    const { serial, issuer } = certificateIds(certificate);
    return lists.some((list) => list.issuer === issuer && list.serials.has(serial));
  } catch {
    return true;
  }
}

/**
 * Until when `lists` vouch for a chain (DER certificates): the earliest next update of the lists
 * of its certificates' issuers (Infinity when none names one; 0 for a certificate that cannot be
 * read). Past it OpenSSL refuses new handshakes of the chain; open connections must end too.
 */
export function vouchedUntilMs(chain: readonly Buffer[], lists: readonly RevocationList[]): number {
  let until = Infinity;
  for (const certificate of chain) {
    let issuer: string;
    try {
      issuer = certificateIds(certificate).issuer;
    } catch {
      return 0;
    }
    for (const list of lists) if (list.nextUpdateMs !== null && list.issuer === issuer) until = Math.min(until, list.nextUpdateMs);
  }
  return until;
}
