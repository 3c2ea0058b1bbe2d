/**
 * A TCP proxy between a client and a server, to simulate a database outage without stopping the machine's shared
 * PostgreSQL: `cut()` kills every open connection and closes new ones at once (a refused server, so clients fail fast
 * instead of waiting on a timeout), `restore()` lets connections through again.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface TcpProxyTarget {
  readonly host: string;
  readonly port: number;
}

export class TcpProxy {
  readonly #server: Server;
  readonly #target: TcpProxyTarget;
  readonly #sockets = new Set<Socket>();
  #cut = false;

  private constructor(server: Server, target: TcpProxyTarget) {
    this.#server = server;
    this.#target = target;
    server.on('connection', (client) => this.#accept(client));
  }

  /** Listens on 127.0.0.1 on a free port. */
  static async start(target: TcpProxyTarget): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, target);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  /** Proxies to the host and port of a postgres URL. */
  static forUrl(url: string): Promise<TcpProxy> {
    const parsed = new URL(url);
    return TcpProxy.start({ host: parsed.hostname, port: Number(parsed.port || 5432) });
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get connections(): number {
    return this.#sockets.size / 2;
  }

  /** The same URL (user, password, database, parameters) pointed at the proxy. */
  url(original: string): string {
    const parsed = new URL(original);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  /** Destroys every current connection and closes new ones immediately, until `restore()`. */
  cut(): void {
    this.#cut = true;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  restore(): void {
    this.#cut = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    if (this.#cut) {
      client.destroy();
      return;
    }
    const upstream = connect(this.#target.port, this.#target.host);
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    // Either side failing or closing ends the pair; errors are expected here (that is the point of cutting).
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

export function startTcpProxy(target: TcpProxyTarget): Promise<TcpProxy> {
  return TcpProxy.start(target);
}
