/** The address a limit sees: loopback or not, and the key per-IP limits count under (IPv4 address, IPv6 /64). */
import t from 'tap';
import { isLoopback, peerKey, plainAddress } from '../../src/infra/peer-address.ts';

t.test('loopback: 127.0.0.0/8, ::1 and IPv4-mapped loopback; nothing else', async (t) => {
  for (const address of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '::ffff:127.0.0.1']) t.equal(isLoopback(address), true, address);
  for (const address of ['192.0.2.2', '10.0.0.1', '::ffff:192.0.2.2', '2001:db8::1', '::', '0.0.0.0', 'localhost', '', undefined]) t.equal(isLoopback(address), false, String(address));
});

t.test('peer keys: IPv4 as is (mapped or not), IPv6 by its /64', async (t) => {
  t.equal(plainAddress('::ffff:192.0.2.7'), '192.0.2.7');
  t.equal(peerKey('192.0.2.7'), '192.0.2.7');
  t.equal(peerKey('::ffff:192.0.2.7'), '192.0.2.7');
  t.equal(peerKey('::1'), '::1');
  t.equal(peerKey('2001:db8:0:1::5'), '2001:db8:0:1::/64');
  t.equal(peerKey('2001:db8:0:1:ffff:ffff:ffff:ffff'), '2001:db8:0:1::/64', 'any address of the /64: the same key');
  t.equal(peerKey('2001:0db8:0000:0001:0:0:0:1'), '2001:db8:0:1::/64', 'leading zeros');
  t.equal(peerKey('fe80::1%eth0'), 'fe80:0:0:0::/64', 'zone index dropped');
  t.equal(peerKey('::ffff:1.2.3.4'.replace('::ffff:', '64:ff9b::')), '64:ff9b:0:0::/64', 'embedded IPv4 tail');
  t.not(peerKey('2001:db8:0:1::5'), peerKey('2001:db8:0:2::5'), 'another /64: another key');
  t.equal(peerKey(undefined), 'unknown');
});
