// The caller's address. It is the connection's peer, unless the peer is one of the proxies the
// operator trusts (`jitgate.listen.trusted_proxies`: a load balancer terminating TLS in front of
// the gateway). Then the address comes from X-Forwarded-For, read from the right: each trusted
// hop vouches for the entry left of it, and the first entry no trusted hop vouches for past is
// the client. Entries further left were written by the client itself and are never believed.
import { BlockList, isIP } from 'node:net';
import { jitgateError } from '../errors.js';

export interface ClientAddress {
  /** The caller's IP address, as the policy sees it (`input.request.client_ip`). */
  ip: string;
  /** X-Forwarded-For for the upstream: the client, then every hop up to and including the peer. */
  forwardedFor: string;
  /** How the caller reached the first trusted hop (X-Forwarded-Proto), when a trusted peer said so. */
  proto: 'http' | 'https' | null;
}

/** `::ffff:192.0.2.1` is 192.0.2.1: a dual-stack listener reports IPv4 peers that way. */
function plain(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** An X-Forwarded-For entry as an address: some proxies write a port, IPv6 in brackets. Null when it is not one. */
function entryAddress(entry: string): string | null {
  let text = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) text = bracketed[1] ?? '';
  else if (/^[\d.]+:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(':'));
  return isIP(text) === 0 ? null : plain(text);
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
  constructor(trustedProxies: readonly string[]) {
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
   * The client behind a connection from `peer` carrying these X-Forwarded-For and
   * X-Forwarded-Proto values. A trusted hop that forwards something other than addresses is
   * refused (REQUEST_AMBIGUOUS): who the caller is would be a guess.
   */
  resolve(peer: string, forwardedFor: readonly string[], forwardedProto: readonly string[]): ClientAddress {
    const peerIp = plain(peer);
    if (!this.any || !this.isTrusted(peerIp)) return { ip: peerIp, forwardedFor: peerIp, proto: null };
    const entries = forwardedFor.join(',').split(',').filter((e) => e.trim() !== '');
    const chain = [peerIp];
    for (let i = entries.length - 1; i >= 0; i--) {
      const hop = chain[0] as string;
      if (!this.isTrusted(hop)) break;
      const address = entryAddress(entries[i] ?? '');
      if (address === null) throw jitgateError('REQUEST_AMBIGUOUS', 'a trusted proxy forwarded an X-Forwarded-For entry that is not an address');
      chain.unshift(address);
    }
    return { ip: chain[0] as string, forwardedFor: chain.join(', '), proto: trustedProto(forwardedProto) };
  }
}

/** The scheme a trusted peer reports: one value, `http` or `https`; anything else is refused. */
function trustedProto(values: readonly string[]): 'http' | 'https' | null {
  if (values.length === 0) return null;
  const value = values.length === 1 ? (values[0] ?? '').trim().toLowerCase() : '';
  if (value !== 'http' && value !== 'https') throw jitgateError('REQUEST_AMBIGUOUS', 'a trusted proxy forwarded an X-Forwarded-Proto other than one http or https');
  return value;
}
