// Who the caller is on the network: the peer, or behind trusted proxies the address they vouch for.
import t from 'tap';
import { isJitgateError } from '../../src/errors.js';
import { ClientAddresses, invalidProxyEntries } from '../../src/proxy/client-address.js';

const lb = new ClientAddresses(['10.0.0.0/8', '192.0.2.1', 'fd00::/8']);

t.test('an untrusted peer is the client, whatever it claims', (t) => {
  t.same(lb.resolve('203.0.113.9', ['10.1.1.1'], ['https']), { ip: '203.0.113.9', forwardedFor: '203.0.113.9', proto: null });
  t.same(new ClientAddresses([]).resolve('10.0.0.5', ['198.51.100.7'], ['https']), { ip: '10.0.0.5', forwardedFor: '10.0.0.5', proto: null }, 'nothing is trusted by default');
  t.equal(lb.resolve('::ffff:203.0.113.9', [], []).ip, '203.0.113.9', 'IPv4 peers of a dual-stack listener read as IPv4');
  t.end();
});

t.test('behind trusted proxies: read from the right, the first address no trusted hop vouches past is the client', (t) => {
  t.same(lb.resolve('10.0.0.5', ['198.51.100.7'], ['https']), { ip: '198.51.100.7', forwardedFor: '198.51.100.7, 10.0.0.5', proto: 'https' });
  // The caller wrote 6.6.6.6 itself; the load balancer appended what it saw.
  t.same(lb.resolve('10.0.0.5', ['6.6.6.6, 198.51.100.7'], []), { ip: '198.51.100.7', forwardedFor: '198.51.100.7, 10.0.0.5', proto: null }, 'entries left of the client are never believed');
  t.equal(lb.resolve('10.0.0.5', ['6.6.6.6', '198.51.100.7, 10.2.2.2'], []).ip, '198.51.100.7', 'two trusted hops, repeated headers read as one list');
  t.equal(lb.resolve('10.0.0.5', ['10.3.3.3, 10.2.2.2'], []).ip, '10.3.3.3', 'every hop trusted: the leftmost');
  t.equal(lb.resolve('10.0.0.5', [], []).ip, '10.0.0.5', 'no header: the peer itself');
  t.equal(lb.resolve('192.0.2.1', ['[2001:db8::7]:443'], []).ip, '2001:db8::7', 'bracketed IPv6 with a port');
  t.equal(lb.resolve('fd00::1', ['198.51.100.7:51234'], []).ip, '198.51.100.7', 'IPv4 with a port, from an IPv6 proxy');
  t.end();
});

t.test('what a trusted proxy forwards must be addresses and one scheme, or the request is refused', (t) => {
  const refused = (fn: () => unknown): boolean => {
    try {
      fn();
      return false;
    } catch (err) {
      return isJitgateError(err, 'REQUEST_AMBIGUOUS');
    }
  };
  t.ok(refused(() => lb.resolve('10.0.0.5', ['unknown'], [])), 'not an address');
  t.ok(refused(() => lb.resolve('10.0.0.5', ['198.51.100.7'], ['https', 'http'])), 'two schemes');
  t.ok(refused(() => lb.resolve('10.0.0.5', ['198.51.100.7'], ['ftp'])), 'another scheme');
  t.notOk(refused(() => lb.resolve('10.0.0.5', ['garbage, 198.51.100.7'], [])), 'what the client wrote left of its address does not matter');
  t.notOk(refused(() => lb.resolve('203.0.113.9', ['garbage'], ['ftp'])), 'nor anything an untrusted peer sends');
  t.end();
});

t.test('trusted proxy entries must be addresses or CIDR blocks', (t) => {
  t.same(invalidProxyEntries(['10.0.0.0/8', '192.0.2.1', '::1', 'fd00::/8', '10.0.0.0/33', 'lb.internal', '10.0.0.1/8/2', '10.0.0.0/']), ['10.0.0.0/33', 'lb.internal', '10.0.0.1/8/2', '10.0.0.0/']);
  t.end();
});
