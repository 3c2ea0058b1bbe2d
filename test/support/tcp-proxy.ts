/**
 * A TCP proxy between a client and a server, to cut one process's link without touching the machine's shared
 * services: PostgreSQL outages (test/infra/db), and one role process's NATS link in the scale-out fault tests
 * (scale-out.md §5: the process connects to the proxy's port instead of the server's). Needs no root.
 *
 * Two ways to cut, because clients notice them differently:
 * - 'refuse' (the default): every open connection is destroyed and new ones are closed at once. The client sees a
 *   reset at once and fails fast (a refused server), instead of waiting on a timeout.
 * - 'blackhole': connections stay open (and new ones are accepted) but bytes are silently dropped both ways, as in a
 *   network partition. Only the client's own liveness check (NATS pings, a query timeout) can notice. On `restore()`
 *   the blackholed connections are destroyed: bytes were dropped from their streams, so nothing valid can follow on
 *   them, and the client reconnects on a fresh connection.
 *
 * A NATS client behind this proxy must set `ignoreClusterUpdates: true` when the server is in a cluster: otherwise it
 * learns the other servers' direct addresses from INFO and reconnects around the proxy.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface TcpProxyTarget {
  readonly host: string;
  readonly port: number;
}

export type CutMode = 'refuse' | 'blackhole';

export interface TcpProxyStats {
  /** Connections accepted and forwarded upstream. */
  accepted: number;
  /** Connections closed on accept because the proxy was cut in 'refuse' mode. */
  refused: number;
  /** Connections accepted while blackholed (never forwarded). */
  blackholed: number;
  /** Times `cut()` was called. */
  cuts: number;
  /** Bytes forwarded client → server and server → client. */
  bytesUp: number;
  bytesDown: number;
  /** Bytes that arrived while blackholed, dropped. */
  bytesDropped: number;
}

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket | undefined;
  blackholed: boolean;
}

/** Default ports of the URL schemes the tests proxy. */
const DEFAULT_PORTS: Record<string, number> = { 'postgres:': 5432, 'postgresql:': 5432, 'nats:': 4222 };

export class TcpProxy {
  readonly #server: Server;
  readonly #target: TcpProxyTarget;
  readonly #pairs = new Set<Pair>();
  #mode: CutMode | undefined;
  #restoreTimer: NodeJS.Timeout | undefined;
  readonly #stats: TcpProxyStats = { accepted: 0, refused: 0, blackholed: 0, cuts: 0, bytesUp: 0, bytesDown: 0, bytesDropped: 0 };

  private constructor(server: Server, target: TcpProxyTarget) {
    this.#server = server;
    this.#target = target;
    server.on('connection', (client) => this.#accept(client));
  }

  /** Listens on 127.0.0.1 on `port` (default 0: a free port). */
  static async start(target: TcpProxyTarget, port = 0): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, target);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  /** Proxies to the host and port of a URL (postgres://…, nats://…). */
  static forUrl(url: string): Promise<TcpProxy> {
    const parsed = new URL(url);
    return TcpProxy.start({ host: parsed.hostname, port: Number(parsed.port || DEFAULT_PORTS[parsed.protocol] || NaN) });
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Open connections (forwarded or blackholed). */
  get connections(): number {
    return this.#pairs.size;
  }

  /** Whether the link is cut now, and how. */
  get mode(): CutMode | undefined {
    return this.#mode;
  }

  /** A snapshot of the counters. */
  get stats(): TcpProxyStats {
    return { ...this.#stats };
  }

  /** The same URL (user, password, database, parameters) pointed at the proxy. */
  url(original: string): string {
    const parsed = new URL(original);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  /**
   * Cuts the link until `restore()` or, when `ms` is given, until `ms` have passed. 'refuse' destroys every current
   * connection and closes new ones; 'blackhole' keeps them open and drops their bytes.
   */
  cut(ms?: number, mode: CutMode = 'refuse'): void {
    this.#stats.cuts++;
    this.#mode = mode;
    clearTimeout(this.#restoreTimer);
    this.#restoreTimer = ms === undefined ? undefined : setTimeout(() => this.restore(), ms);
    for (const pair of this.#pairs) {
      if (mode === 'refuse') this.#end(pair);
      else pair.blackholed = true;
    }
  }

  /** Lets connections through again; connections that were blackholed are destroyed (their streams have holes). */
  restore(): void {
    clearTimeout(this.#restoreTimer);
    this.#restoreTimer = undefined;
    this.#mode = undefined;
    for (const pair of this.#pairs) if (pair.blackholed) this.#end(pair);
  }

  async close(): Promise<void> {
    this.cut();
    clearTimeout(this.#restoreTimer);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    if (this.#mode === 'refuse') {
      this.#stats.refused++;
      client.destroy();
      return;
    }
    if (this.#mode === 'blackhole') {
      // Accepted, never forwarded: the client waits for a server greeting that never comes.
      this.#stats.blackholed++;
      const pair: Pair = { client, upstream: undefined, blackholed: true };
      this.#pairs.add(pair);
      client.on('data', (chunk: Buffer) => (this.#stats.bytesDropped += chunk.length));
      client.on('error', () => this.#end(pair)).on('close', () => this.#end(pair));
      return;
    }
    this.#stats.accepted++;
    const upstream = connect(this.#target.port, this.#target.host);
    const pair: Pair = { client, upstream, blackholed: false };
    this.#pairs.add(pair);
    // Either side failing or closing ends the pair; errors are expected here (that is the point of cutting).
    const end = (): void => this.#end(pair);
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    this.#forward(pair, client, upstream, 'bytesUp');
    this.#forward(pair, upstream, client, 'bytesDown');
  }

  /** Like `from.pipe(to)` with backpressure, but every chunk passes the blackhole check. */
  #forward(pair: Pair, from: Socket, to: Socket, counter: 'bytesUp' | 'bytesDown'): void {
    from.on('data', (chunk: Buffer) => {
      if (pair.blackholed) {
        this.#stats.bytesDropped += chunk.length;
        return;
      }
      this.#stats[counter] += chunk.length;
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
  }

  #end(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream?.destroy();
  }
}

export function startTcpProxy(target: TcpProxyTarget): Promise<TcpProxy> {
  return TcpProxy.start(target);
}
