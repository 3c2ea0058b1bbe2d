/**
 * A client's address as the limits see it: whether it is this machine (loopback), and the key its per-IP limits count
 * under. Node reports an IPv4 client of a dual-stack socket as `::ffff:a.b.c.d`; that is the IPv4 address. An IPv6
 * client counts by its /64 — the block one subscriber, one host is handed, inside which a client picks any address
 * it likes: counting single IPv6 addresses would let one client past any per-IP limit.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** `::ffff:127.0.0.1` → `127.0.0.1`; anything else unchanged. */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped === null ? address : mapped[1]!;
}

/** Whether the peer is this machine (127.0.0.0/8, ::1, or one of those IPv4 addresses mapped into IPv6). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const plain = plainAddress(address);
  if (isIPv4(plain)) return LOOPBACK.check(plain, 'ipv4');
  return isIPv6(plain) && LOOPBACK.check(plain, 'ipv6');
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded), or undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  if (!isIPv6(address)) return undefined;
  const text = address.replace(/%.*$/, '');
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (part: string | undefined): string[] => (part === undefined || part === '' ? [] : part.split(':'));
  const left = parse(head);
  const right = parse(tail);
  // An embedded IPv4 tail (`::1.2.3.4`) is two groups.
  const last = right.length > 0 ? right : left;
  const dotted = last.at(-1);
  if (dotted !== undefined && dotted.includes('.')) {
    const [a, b, c, d] = dotted.split('.').map(Number) as [number, number, number, number];
    last.splice(-1, 1, ((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
  }
  const middle = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...middle, ...right].map((group) => Number.parseInt(group, 16));
}

/** The key a peer's per-IP limits count under: its IPv4 address, or its IPv6 /64 (`2001:db8:0:1::/64`). */
export function peerKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const plain = plainAddress(address);
  const groups = ipv6Groups(plain);
  if (groups === undefined || plain === '::1') return plain;
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}
