/**
 * Who may reach the admin routes: this machine (loopback) always; another address only when the configuration says
 * so — `allowRemote` (any address) or `allowFrom` (addresses and CIDR blocks). The token is still required from
 * everyone: this keeps a leaked or guessed token useless from outside, and the admin routes off the public face of a
 * server bound to a public address. The peer is the socket's address (no X-Forwarded-For: behind a reverse proxy on
 * this machine every request is loopback, and the proxy decides who reaches /admin).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { isLoopback, plainAddress } from '../peer-address.ts';

export interface AdminAccessOptions {
  /** Any address may ask (with the token). Default false. */
  readonly allowRemote?: boolean;
  /** Addresses (`192.0.2.7`, `2001:db8::1`) and CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`) allowed besides loopback. */
  readonly allowFrom?: readonly string[];
}

/** Whether `entry` is an address or a CIDR block `allowFrom` takes (the config schema's check). */
export function isAddressOrBlock(entry: string): boolean {
  const [address, bits, extra] = entry.split('/');
  if (extra !== undefined || address === undefined) return false;
  const max = isIPv4(address) ? 32 : isIPv6(address) ? 128 : 0;
  if (max === 0) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max);
}

export class AdminAccess {
  readonly #allowRemote: boolean;
  readonly #allowed = new BlockList();

  constructor(options: AdminAccessOptions = {}) {
    this.#allowRemote = options.allowRemote ?? false;
    for (const entry of options.allowFrom ?? []) {
      const [address, bits] = entry.split('/') as [string, string | undefined];
      const type = isIPv4(address) ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.#allowed.addAddress(address, type);
      else this.#allowed.addSubnet(address, Number(bits), type);
    }
  }

  /** Whether a request from `address` (the socket's remote address) may reach the admin routes. */
  allows(address: string | undefined): boolean {
    if (isLoopback(address)) return true;
    if (this.#allowRemote) return true;
    if (address === undefined) return false;
    const plain = plainAddress(address);
    if (isIPv4(plain)) return this.#allowed.check(plain, 'ipv4');
    return isIPv6(plain) && this.#allowed.check(plain, 'ipv6');
  }
}
