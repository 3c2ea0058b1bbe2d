/**
 * The per-IP limits of a stream server: how many connections one client address may hold open, and how many stream
 * subscriptions over all of them. One client must not take the whole server: every connection costs a socket and
 * buffers, every subscription a write per event it fans out. Counted by peer key (an IPv4 address, an IPv6 /64: see
 * peer-address.ts); 0 or absent means no limit. Behind a reverse proxy every client has the proxy's address: raise
 * or turn off these limits there and let the proxy limit per client.
 */
import { BinanceError, tooManyConnections, tooManyIpStreams } from '../binance/binance-replies.ts';

export interface PeerLimitOptions {
  /** Open connections per client address; one more is refused at its upgrade (429). */
  readonly maxConnectionsPerIp?: number;
  /** Subscriptions over all the connections of one client address (URL streams: 429; SUBSCRIBE: an error reply). */
  readonly maxSubscriptionsPerIp?: number;
}

interface PeerUsage {
  connections: number;
  subscriptions: number;
}

export class PeerLimits {
  readonly #maxConnections: number;
  readonly #maxSubscriptions: number;
  readonly #peers = new Map<string, PeerUsage>();

  constructor(options: PeerLimitOptions) {
    this.#maxConnections = options.maxConnectionsPerIp || Infinity;
    this.#maxSubscriptions = options.maxSubscriptionsPerIp || Infinity;
  }

  get maxSubscriptions(): number {
    return this.#maxSubscriptions;
  }

  /** Why a new connection of `peer` with `streams` URL streams is refused, or undefined when it is admitted. */
  admit(peer: string, streams: number): { readonly limit: 'connections' | 'subscriptions'; readonly error: BinanceError } | undefined {
    const usage = this.#peers.get(peer);
    if ((usage?.connections ?? 0) >= this.#maxConnections) return { limit: 'connections', error: tooManyConnections(peer, this.#maxConnections, 'Please subscribe to more streams on a connection you have.') };
    if ((usage?.subscriptions ?? 0) + streams > this.#maxSubscriptions) return { limit: 'subscriptions', error: tooManyIpStreams(peer, this.#maxSubscriptions) };
    return undefined;
  }

  /** Subscriptions `peer` may still add. */
  subscriptionRoom(peer: string): number {
    return this.#maxSubscriptions - (this.#peers.get(peer)?.subscriptions ?? 0);
  }

  connected(peer: string): void {
    this.#usage(peer).connections++;
  }

  disconnected(peer: string): void {
    this.#usage(peer).connections--;
    this.#release(peer);
  }

  /** `delta` subscriptions added (positive) or released (negative). */
  subscribed(peer: string, delta: number): void {
    this.#usage(peer).subscriptions += delta;
    this.#release(peer);
  }

  /** Peers with something open (their entries go with their last connection, so the map stays bounded). */
  get size(): number {
    return this.#peers.size;
  }

  #usage(peer: string): PeerUsage {
    let usage = this.#peers.get(peer);
    if (usage === undefined) {
      usage = { connections: 0, subscriptions: 0 };
      this.#peers.set(peer, usage);
    }
    return usage;
  }

  #release(peer: string): void {
    const usage = this.#peers.get(peer);
    if (usage !== undefined && usage.connections <= 0 && usage.subscriptions <= 0) this.#peers.delete(peer);
  }
}
