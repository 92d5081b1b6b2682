// Who the caller is on the network: the peer, or behind trusted proxies the address they vouch for.
import t from 'tap';
import { isJitgateError } from '../../src/errors.js';
import { ClientAddresses, invalidProxyEntries, parseForwarded, type ForwardingClaims } from '../../src/proxy/client-address.js';

const lb = new ClientAddresses(['10.0.0.0/8', '192.0.2.1', 'fd00::/8']);
/** The same load balancers, writing RFC 7239 Forwarded instead. */
const rfc = new ClientAddresses(['10.0.0.0/8', '192.0.2.1', 'fd00::/8'], 'forwarded');

function xff(forwardedFor: string[], forwardedProto: string[] = []): ForwardingClaims {
  return { 'x-forwarded-for': forwardedFor, 'x-forwarded-proto': forwardedProto, forwarded: [] };
}

function fwd(...forwarded: string[]): ForwardingClaims {
  return { 'x-forwarded-for': [], 'x-forwarded-proto': [], forwarded };
}

function refused(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    return isJitgateError(err, 'REQUEST_AMBIGUOUS');
  }
}

t.test('an untrusted peer is the client, whatever it claims', (t) => {
  t.same(lb.resolve('203.0.113.9', xff(['10.1.1.1'], ['https'])), { ip: '203.0.113.9', forwardedFor: '203.0.113.9', proto: null });
  t.same(new ClientAddresses([]).resolve('10.0.0.5', xff(['198.51.100.7'], ['https'])), { ip: '10.0.0.5', forwardedFor: '10.0.0.5', proto: null }, 'nothing is trusted by default');
  t.equal(lb.resolve('::ffff:203.0.113.9', xff([])).ip, '203.0.113.9', 'IPv4 peers of a dual-stack listener read as IPv4');
  t.end();
});

t.test('behind trusted proxies: read from the right, the first address no trusted hop vouches past is the client', (t) => {
  t.same(lb.resolve('10.0.0.5', xff(['198.51.100.7'], ['https'])), { ip: '198.51.100.7', forwardedFor: '198.51.100.7, 10.0.0.5', proto: 'https' });
  // The caller wrote 6.6.6.6 itself; the load balancer appended what it saw.
  t.same(lb.resolve('10.0.0.5', xff(['6.6.6.6, 198.51.100.7'])), { ip: '198.51.100.7', forwardedFor: '198.51.100.7, 10.0.0.5', proto: null }, 'entries left of the client are never believed');
  t.equal(lb.resolve('10.0.0.5', xff(['6.6.6.6', '198.51.100.7, 10.2.2.2'])).ip, '198.51.100.7', 'two trusted hops, repeated headers read as one list');
  t.equal(lb.resolve('10.0.0.5', xff(['10.3.3.3, 10.2.2.2'])).ip, '10.3.3.3', 'every hop trusted: the leftmost');
  t.equal(lb.resolve('10.0.0.5', xff([])).ip, '10.0.0.5', 'no header: the peer itself');
  t.equal(lb.resolve('192.0.2.1', xff(['[2001:db8::7]:443'])).ip, '2001:db8::7', 'bracketed IPv6 with a port');
  t.equal(lb.resolve('fd00::1', xff(['198.51.100.7:51234'])).ip, '198.51.100.7', 'IPv4 with a port, from an IPv6 proxy');
  t.end();
});

t.test('what a trusted proxy forwards must be addresses and one scheme, or the request is refused', (t) => {
  t.ok(refused(() => lb.resolve('10.0.0.5', xff(['unknown']))), 'not an address');
  t.ok(refused(() => lb.resolve('10.0.0.5', xff(['198.51.100.7'], ['https', 'http']))), 'two schemes');
  t.ok(refused(() => lb.resolve('10.0.0.5', xff(['198.51.100.7'], ['ftp']))), 'another scheme');
  t.notOk(refused(() => lb.resolve('10.0.0.5', xff(['garbage, 198.51.100.7']))), 'what the client wrote left of its address does not matter');
  t.notOk(refused(() => lb.resolve('203.0.113.9', xff(['garbage'], ['ftp']))), 'nor anything an untrusted peer sends');
  t.end();
});

t.test('Forwarded (RFC 7239) behind proxies that write it: read from the right, proto from the client\'s hop', (t) => {
  t.same(rfc.resolve('10.0.0.5', fwd('for=198.51.100.7;proto=https;by=10.0.0.5')), { ip: '198.51.100.7', forwardedFor: '198.51.100.7, 10.0.0.5', proto: 'https' });
  t.same(rfc.resolve('10.0.0.5', fwd('for=6.6.6.6;proto=http, for=198.51.100.7;proto=https')), { ip: '198.51.100.7', forwardedFor: '198.51.100.7, 10.0.0.5', proto: 'https' }, 'the element the client wrote is never believed');
  t.same(rfc.resolve('10.0.0.5', fwd('for=198.51.100.7;proto=https', 'for=10.2.2.2;proto=http')), { ip: '198.51.100.7', forwardedFor: '198.51.100.7, 10.2.2.2, 10.0.0.5', proto: 'https' }, 'two trusted hops in two header lines: the scheme the first hop saw');
  t.equal(rfc.resolve('10.0.0.5', fwd('for="[2001:db8:cafe::17]:4711"')).ip, '2001:db8:cafe::17', 'quoted IPv6 with a port');
  t.equal(rfc.resolve('10.0.0.5', fwd('For="198.51.100.7:80";Proto=HTTPS')).proto, 'https', 'names and schemes in any case');
  t.equal(rfc.resolve('10.0.0.5', fwd('for=198.51.100.7')).proto, null, 'no proto: the listener\'s scheme');
  t.same(rfc.resolve('10.0.0.5', xff(['198.51.100.7'], ['https'])), { ip: '10.0.0.5', forwardedFor: '10.0.0.5', proto: null }, 'X-Forwarded-* is not believed: a client could have written it');
  t.same(lb.resolve('10.0.0.5', fwd('for=198.51.100.7;proto=https')), { ip: '10.0.0.5', forwardedFor: '10.0.0.5', proto: null }, 'nor Forwarded behind proxies that write X-Forwarded-For');
  t.ok(refused(() => rfc.resolve('10.0.0.5', fwd('for=unknown'))), 'an unknown client');
  t.ok(refused(() => rfc.resolve('10.0.0.5', fwd('for=_hidden'))), 'an obfuscated one');
  t.ok(refused(() => rfc.resolve('10.0.0.5', fwd('proto=https'))), 'an element without for');
  t.ok(refused(() => rfc.resolve('10.0.0.5', fwd('for=198.51.100.7;proto=ftp'))), 'another scheme');
  t.ok(refused(() => rfc.resolve('10.0.0.5', fwd('for=198.51.100.7;for=10.9.9.9'))), 'a parameter twice in one element');
  t.ok(refused(() => rfc.resolve('10.0.0.5', fwd('for="198.51.100.7'))), 'an unterminated quote: where elements end is a guess');
  t.notOk(refused(() => rfc.resolve('203.0.113.9', fwd('for="garbage'))), 'nothing an untrusted peer sends matters');
  t.end();
});

t.test('the Forwarded grammar: elements, pairs, quoted strings', (t) => {
  const parsed = (text: string): unknown => parseForwarded(text)?.map((e) => Object.fromEntries(e));
  t.same(parsed('for=192.0.2.60;proto=http;by=203.0.113.43'), [{ for: '192.0.2.60', proto: 'http', by: '203.0.113.43' }]);
  t.same(parsed('for=192.0.2.43, for=198.51.100.17'), [{ for: '192.0.2.43' }, { for: '198.51.100.17' }]);
  t.same(parsed('for="a,b;c" ; proto=https'), [{ for: 'a,b;c', proto: 'https' }], 'separators inside quotes are text');
  t.same(parsed('for="a\\"b"'), [{ for: 'a"b' }], 'quoted-pair');
  t.same(parsed(''), [{}]);
  for (const bad of ['for', 'for=', '=x', 'for=a b', 'for="x', 'for=a;for=b', 'for=a,,by=@']) t.equal(parseForwarded(bad), null, bad);
  t.end();
});

t.test('trusted proxy entries must be addresses or CIDR blocks', (t) => {
  t.same(invalidProxyEntries(['10.0.0.0/8', '192.0.2.1', '::1', 'fd00::/8', '10.0.0.0/33', 'lb.internal', '10.0.0.1/8/2', '10.0.0.0/']), ['10.0.0.0/33', 'lb.internal', '10.0.0.1/8/2', '10.0.0.0/']);
  t.end();
});
