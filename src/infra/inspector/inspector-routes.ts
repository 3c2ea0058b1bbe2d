/**
 * The inspector's HTTP face: the page and its scripts (served by klagg, no CDN), the state charts
 * (`/inspector/graphs.json`), the current actors (`/inspector/state.json`) and a Server-Sent Events stream of changes
 * (`/inspector/events`).
 *
 * The router's handlers return a whole reply, so the SSE stream is served by a `request` listener put in front of
 * the HttpServer's own (`attach(server)`): it writes the headers first, and the router's `/inspector/events` route
 * then finds the reply already started and leaves it alone (it still counts the request in the metrics). Without
 * `attach`, that route answers 503.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { HttpError, json, type HttpReply, type Route } from '../http/router.ts';
import type { InspectorChange, InspectorHub } from './inspector-hub.ts';

export const INSPECTOR_STATIC_DIR = fileURLToPath(new URL('../../../static/inspector/', import.meta.url));

const ASSETS: Readonly<Record<string, { file: string; contentType: string }>> = {
  '/inspector': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/inspector/': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/inspector/inspector.js': { file: 'inspector.js', contentType: 'text/javascript; charset=utf-8' },
  '/inspector/inspector.css': { file: 'inspector.css', contentType: 'text/css; charset=utf-8' },
};

export const EVENTS_PATH = '/inspector/events';

export interface InspectorServerOptions {
  /** Directory of index.html, inspector.js, inspector.css. Default: static/inspector of this checkout. */
  readonly staticDir?: string;
  /** A client whose unsent output exceeds this many bytes is dropped (it cannot keep up). Default 1 MiB. */
  readonly maxBufferedBytes?: number;
  /** SSE comment sent this often to keep proxies from closing an idle stream. Default 15 s; 0 = none. */
  readonly heartbeatMs?: number;
  /** Most SSE clients at once; more are answered 503. Default 32. */
  readonly maxClients?: number;
}

interface Client {
  readonly res: ServerResponse;
  readonly unsubscribe: () => void;
}

export class InspectorServer {
  readonly routes: readonly Route[];
  readonly #hub: InspectorHub;
  readonly #staticDir: string;
  readonly #maxBuffered: number;
  readonly #maxClients: number;
  readonly #clients = new Set<Client>();
  /** The requests attach()'s listener took (by their headers object, which the router passes on as is). */
  readonly #streaming = new WeakSet<object>();
  readonly #heartbeat: ReturnType<typeof setInterval> | undefined;
  #server: Server | undefined;
  #dropped = 0;

  constructor(hub: InspectorHub, options: InspectorServerOptions = {}) {
    this.#hub = hub;
    this.#staticDir = options.staticDir ?? INSPECTOR_STATIC_DIR;
    this.#maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
    this.#maxClients = options.maxClients ?? 32;
    const heartbeatMs = options.heartbeatMs ?? 15_000;
    if (heartbeatMs > 0) {
      this.#heartbeat = setInterval(() => {
        for (const client of this.#clients) this.#write(client, ': ping\n\n');
      }, heartbeatMs);
      this.#heartbeat.unref();
    }
    this.routes = [
      ...Object.entries(ASSETS).map(([pattern, asset]) => ({ method: 'GET' as const, pattern, handler: () => this.#asset(pattern, asset) })),
      { method: 'GET', pattern: '/inspector/graphs.json', handler: () => json(200, { machines: hub.graphs() }) },
      { method: 'GET', pattern: '/inspector/state.json', handler: () => json(200, hub.snapshot()) },
      {
        method: 'GET',
        pattern: EVENTS_PATH,
        // The stream was started by attach()'s listener (this reply is then never sent, only counted); else 503.
        handler: (request): HttpReply => {
          if (this.#streaming.has(request.headers)) return { status: 200, text: '' };
          throw new HttpError(503, { error: 'the inspector event stream is not attached to this server' });
        },
      },
    ];
  }

  /** Serves `GET /inspector/events` on this server (call once, right after the HttpServer started). */
  attach(server: Server): void {
    if (this.#server !== undefined) throw new Error('the inspector is already attached');
    this.#server = server;
    server.prependListener('request', this.#onRequest);
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Clients dropped because they could not keep up. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Ends every stream and detaches. */
  close(): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#server?.off('request', this.#onRequest);
    this.#server = undefined;
    for (const client of [...this.#clients]) this.#drop(client, false);
  }

  readonly #onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'GET') return;
    const url = req.url ?? '';
    const path = url.split('?', 1)[0];
    if (path !== EVENTS_PATH) return;
    if (this.#clients.size >= this.#maxClients) return; // the route answers 503
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    this.#streaming.add(req.headers);
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    const client: Client = { res, unsubscribe: this.#hub.subscribe((change) => this.#send(client, change)) };
    this.#clients.add(client);
    res.on('close', () => this.#drop(client, false));
    this.#write(client, `retry: 2000\nevent: snapshot\ndata: ${JSON.stringify(this.#hub.snapshot())}\n\n`);
  };

  #send(client: Client, change: InspectorChange): void {
    this.#write(client, `event: change\ndata: ${JSON.stringify(change)}\n\n`);
  }

  #write(client: Client, text: string): void {
    if (!this.#clients.has(client) || client.res.destroyed) return;
    if (client.res.writableLength > this.#maxBuffered) {
      this.#drop(client, true);
      return;
    }
    client.res.write(text);
  }

  #drop(client: Client, slow: boolean): void {
    if (!this.#clients.delete(client)) return;
    client.unsubscribe();
    if (slow) this.#dropped++;
    if (!client.res.destroyed) {
      if (slow) client.res.destroy();
      else client.res.end();
    }
  }

  async #asset(pattern: string, asset: { file: string; contentType: string }): Promise<HttpReply> {
    try {
      return { status: 200, bytes: await readFile(`${this.#staticDir}/${asset.file}`), contentType: asset.contentType };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new HttpError(404, { error: `${pattern} is not available` });
      throw error;
    }
  }
}

/** The inspector's routes and SSE stream for an HttpServer: pass `routes` as `extraRoutes`, then `attach(http.server)`. */
export function inspectorServer(hub: InspectorHub, options?: InspectorServerOptions): InspectorServer {
  return new InspectorServer(hub, options);
}
