// The caller's address. It is the connection's peer, unless the peer is one of the proxies the
// operator trusts (`jitgate.listen.trusted_proxies`: a load balancer terminating TLS in front of
// the gateway). Then the address comes from the header those proxies write (X-Forwarded-For, or
// RFC 7239 Forwarded: `trusted_proxy_header`), read from the right: each trusted hop vouches for
// the entry left of it, and the first entry no trusted hop vouches for past is the client.
// Entries further left were written by the client itself and are never believed, and neither is
// the other header: a client could write it, and the proxies would pass it on untouched.
import { BlockList, isIP } from 'node:net';
import { jitgateError } from '../errors.js';

/** Which header the trusted proxies write. */
export type TrustedProxyHeader = 'x-forwarded-for' | 'forwarded';

/** The forwarding headers of a request, each header's values as received. */
export interface ForwardingClaims {
  'x-forwarded-for': readonly string[];
  'x-forwarded-proto': readonly string[];
  forwarded: readonly string[];
}

export interface ClientAddress {
  /** The caller's IP address, as the policy sees it (`input.request.client_ip`). */
  ip: string;
  /** X-Forwarded-For for the upstream: the client, then every hop up to and including the peer. */
  forwardedFor: string;
  /** How the caller reached the first trusted hop (X-Forwarded-Proto, Forwarded's proto), when a trusted peer said so. */
  proto: 'http' | 'https' | null;
}

/** `::ffff:192.0.2.1` is 192.0.2.1: a dual-stack listener reports IPv4 peers that way. */
export function peerAddress(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** An X-Forwarded-For entry as an address: some proxies write a port, IPv6 in brackets. Null when it is not one. */
function entryAddress(entry: string): string | null {
  let text = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) text = bracketed[1] ?? '';
  else if (/^[\d.]+:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(':'));
  return isIP(text) === 0 ? null : peerAddress(text);
}

/** Entries of `jitgate.listen.trusted_proxies` that are neither an address nor a CIDR block, for the config's error list. */
export function invalidProxyEntries(entries: readonly string[]): string[] {
  return entries.filter((entry) => parseEntry(entry) === null);
}

function parseEntry(entry: string): { address: string; prefix: number | null; family: 'ipv4' | 'ipv6' } | null {
  const [address = '', prefixText, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return null;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  if (prefixText === undefined) return { address, prefix: null, family };
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
  if (prefix < 0 || prefix > (version === 4 ? 32 : 128)) return null;
  return { address, prefix, family };
}

export class ClientAddresses {
  private readonly trusted = new BlockList();
  private readonly any: boolean;

  /** `trustedProxies`: addresses and CIDR blocks (checked by the config: invalidProxyEntries). */
  constructor(trustedProxies: readonly string[], private readonly header: TrustedProxyHeader = 'x-forwarded-for') {
    for (const entry of trustedProxies) {
      const parsed = parseEntry(entry);
      if (parsed === null) throw jitgateError('CONFIG_INVALID', `jitgate.listen.trusted_proxies: "${entry}" is neither an address nor a CIDR block`);
      if (parsed.prefix === null) this.trusted.addAddress(parsed.address, parsed.family);
      else this.trusted.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
    this.any = trustedProxies.length > 0;
  }

  private isTrusted(ip: string): boolean {
    return this.trusted.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * The client behind a connection from `peer` making these claims. A trusted hop that forwards
   * something other than addresses is refused (REQUEST_AMBIGUOUS): who the caller is would be a
   * guess.
   */
  resolve(peer: string, claims: ForwardingClaims): ClientAddress {
    const peerIp = peerAddress(peer);
    if (!this.any || !this.isTrusted(peerIp)) return { ip: peerIp, forwardedFor: peerIp, proto: null };
    const forwarded = this.header === 'forwarded';
    const hops = forwarded ? forwardedHops(claims.forwarded) : forwardedForHops(claims['x-forwarded-for']);
    const chain = [peerIp];
    let client: Hop | null = null;
    for (let i = hops.length - 1; i >= 0; i--) {
      if (!this.isTrusted(chain[0] as string)) break;
      client = hops[i] as Hop;
      const address = entryAddress(client.for);
      if (address === null) throw jitgateError('REQUEST_AMBIGUOUS', `a trusted proxy forwarded a client that is not an address (${this.header})`);
      chain.unshift(address);
    }
    // Forwarded: the scheme the hop that took the client's connection reported with it.
    const proto = forwarded ? trustedProto(client?.proto === undefined ? [] : [client.proto]) : trustedProto(claims['x-forwarded-proto']);
    return { ip: chain[0] as string, forwardedFor: chain.join(', '), proto };
  }
}

/** One hop as a forwarding header records it: who connected, and (Forwarded only) over which scheme. */
interface Hop {
  for: string;
  proto?: string;
}

/** X-Forwarded-For entries as hops (X-Forwarded-Proto is one value for the whole chain). */
function forwardedForHops(forwardedFor: readonly string[]): Hop[] {
  return forwardedFor.join(',').split(',').filter((e) => e.trim() !== '').map((entry) => ({ for: entry }));
}

/** Forwarded elements as hops; a header that does not parse is refused (where one element ends would be a guess). */
function forwardedHops(values: readonly string[]): Hop[] {
  const elements = parseForwarded(values.join(','));
  if (elements === null) throw jitgateError('REQUEST_AMBIGUOUS', 'a trusted proxy forwarded a Forwarded header that does not parse');
  return elements.filter((e) => e.size > 0).map((e) => {
    const proto = e.get('proto');
    return proto === undefined ? { for: e.get('for') ?? '' } : { for: e.get('for') ?? '', proto };
  });
}

/** RFC 7230's tchar: what a Forwarded parameter name or unquoted value may be made of. */
const TCHAR = /^[!#$%&'*+.^_`|~0-9A-Za-z-]$/;

/**
 * RFC 7239 `Forwarded` text as its elements, each a map of lower-cased parameter names to
 * values (quoted strings unquoted). Null when it does not follow the grammar, or repeats a
 * parameter within an element.
 */
export function parseForwarded(text: string): Map<string, string>[] | null {
  const elements: Map<string, string>[] = [];
  let pairs = new Map<string, string>();
  let i = 0;
  const skipSpace = (): void => { while (text[i] === ' ' || text[i] === '\t') i++; };
  const token = (): string => {
    const start = i;
    while (i < text.length && TCHAR.test(text[i] as string)) i++;
    return text.slice(start, i);
  };
  for (;;) {
    skipSpace();
    if (i < text.length && text[i] !== ',' && text[i] !== ';') {
      const name = token().toLowerCase();
      if (name === '' || text[i] !== '=') return null;
      i++;
      let value = '';
      if (text[i] === '"') {
        for (i++; text[i] !== '"'; i++) {
          if (text[i] === '\\') i++;
          if (i >= text.length) return null;
          value += text[i] as string;
        }
        i++;
      } else {
        value = token();
        if (value === '') return null;
      }
      if (pairs.has(name)) return null;
      pairs.set(name, value);
      skipSpace();
    }
    if (i >= text.length) {
      elements.push(pairs);
      return elements;
    }
    if (text[i] === ',') {
      elements.push(pairs);
      pairs = new Map();
    } else if (text[i] !== ';') {
      return null;
    }
    i++;
  }
}

/** The scheme a trusted hop reports: one value, `http` or `https`; anything else is refused. */
function trustedProto(values: readonly string[]): 'http' | 'https' | null {
  if (values.length === 0) return null;
  const value = values.length === 1 ? (values[0] ?? '').trim().toLowerCase() : '';
  if (value !== 'http' && value !== 'https') throw jitgateError('REQUEST_AMBIGUOUS', 'a trusted proxy forwarded a scheme other than one http or https');
  return value;
}
