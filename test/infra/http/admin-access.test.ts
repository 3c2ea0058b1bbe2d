/** Who reaches the admin routes: loopback always; other addresses by allowRemote or allowFrom (addresses, CIDR blocks). */
import t from 'tap';
import { AdminAccess, isAddressOrBlock } from '../../../src/infra/http/admin-access.ts';

t.test('by default only loopback', async (t) => {
  const access = new AdminAccess();
  for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '127.0.0.53']) t.equal(access.allows(address), true, address);
  for (const address of ['192.0.2.2', '::ffff:192.0.2.2', '2001:db8::1', undefined]) t.equal(access.allows(address), false, String(address));
});

t.test('allowFrom: addresses and blocks of both families; allowRemote: everyone', async (t) => {
  const access = new AdminAccess({ allowFrom: ['192.0.2.7', '10.0.0.0/8', '2001:db8::/32'] });
  t.equal(access.allows('192.0.2.7'), true);
  t.equal(access.allows('::ffff:192.0.2.7'), true, 'IPv4-mapped');
  t.equal(access.allows('192.0.2.8'), false);
  t.equal(access.allows('10.200.3.4'), true);
  t.equal(access.allows('11.0.0.1'), false);
  t.equal(access.allows('2001:db8:5::1'), true);
  t.equal(access.allows('2001:db9::1'), false);
  t.equal(access.allows('127.0.0.1'), true, 'loopback still');
  const open = new AdminAccess({ allowRemote: true });
  t.equal(open.allows('198.51.100.1'), true);
  t.equal(open.allows('2001:db8::1'), true);
});

t.test('the config check of allowFrom entries', async (t) => {
  for (const entry of ['192.0.2.7', '10.0.0.0/8', '0.0.0.0/0', '2001:db8::/32', '::/0', '::1']) t.equal(isAddressOrBlock(entry), true, entry);
  for (const entry of ['10.0.0.0/33', '2001:db8::/129', 'example.com', '10.0.0.0/8/1', '10.0.0/8', '', '10.0.0.0/', '10.0.0.0/-1']) t.equal(isAddressOrBlock(entry), false, entry);
});
