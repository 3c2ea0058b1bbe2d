/**
 * The inspector's HTTP face: the page and its scripts (served by klagg, no CDN, elkjs included), the machines' state
 * charts (`/inspector/machines`, also at its first name `/inspector/graphs.json`), the current actors
 * (`/inspector/state.json`), one actor's context and last events (`/inspector/actors/:key`) and a Server-Sent Events
 * stream of changes (`/inspector/events`). Mounted on klagg's HttpServer (`mounts: [inspector.mount]`).
 *
 * The event stream takes the response over from Fastify (`reply.hijack()`, then `reply.raw`), as Fastify documents for
 * streams it does not manage; the server counts it as it starts. A `preClose` hook ends every stream when the server
 * closes, so its close does not wait on them.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { KlaggError } from '../../domain/errors.ts';
import type { HttpServer } from '../http/http-server.ts';
import type { InspectorChange, InspectorHub } from './inspector-hub.ts';

export const INSPECTOR_STATIC_DIR = fileURLToPath(new URL('../../../static/inspector/', import.meta.url));

const ASSETS: Readonly<Record<string, { file: string; contentType: string }>> = {
  '/inspector': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/inspector/': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/inspector/inspector.js': { file: 'inspector.js', contentType: 'text/javascript; charset=utf-8' },
  '/inspector/inspector.css': { file: 'inspector.css', contentType: 'text/css; charset=utf-8' },
  '/inspector/state-chart.js': { file: 'state-chart.js', contentType: 'text/javascript; charset=utf-8' },
  // elkjs lays the state charts out in the page; its browser build is served from node_modules, not a CDN.
  '/inspector/vendor/elk.bundled.js': { file: fileURLToPath(new URL('../../../node_modules/elkjs/lib/elk.bundled.js', import.meta.url)), contentType: 'text/javascript; charset=utf-8' },
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
  readonly #hub: InspectorHub;
  readonly #staticDir: string;
  readonly #maxBuffered: number;
  readonly #maxClients: number;
  readonly #clients = new Set<Client>();
  readonly #heartbeat: ReturnType<typeof setInterval> | undefined;
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
  }

  /** Adds the inspector's routes to an HttpServer (pass in its `mounts`). */
  readonly mount = (app: FastifyInstance, server?: HttpServer): void => {
    for (const [path, asset] of Object.entries(ASSETS)) app.get(path, async (_request, reply) => reply.type(asset.contentType).send(await this.#asset(path, asset)));
    app.get('/inspector/graphs.json', async () => ({ machines: this.#hub.graphs() }));
    app.get('/inspector/machines', async () => ({ machines: this.#hub.graphs() }));
    app.get('/inspector/state.json', async () => this.#hub.snapshot());
    app.get<{ Params: { key: string } }>('/inspector/actors/:key', async (request) => {
      const details = this.#hub.details(request.params.key);
      if (details === undefined) throw new KlaggError('KLAGG_ERR_INSPECTOR_UNKNOWN_ACTOR', { key: request.params.key });
      return details;
    });
    app.get(EVENTS_PATH, (request, reply) => {
      if (this.#clients.size >= this.#maxClients) throw new KlaggError('KLAGG_ERR_INSPECTOR_TOO_MANY_CLIENTS', { max: this.#maxClients });
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-store',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
        'x-request-id': request.id,
      });
      res.flushHeaders();
      server?.countStreamed(request, 200);
      request.raw.socket.setNoDelay(true);
      request.raw.socket.setTimeout(0);
      const client: Client = { res, unsubscribe: this.#hub.subscribe((change) => this.#send(client, change)) };
      this.#clients.add(client);
      res.on('close', () => this.#drop(client, false));
      this.#write(client, `retry: 2000\nevent: snapshot\ndata: ${JSON.stringify(this.#hub.snapshot())}\n\n`);
    });
    // Streams never end on their own: end them when the server closes, so it does not wait for them.
    app.addHook('preClose', async () => this.#endStreams());
  };

  get clients(): number {
    return this.#clients.size;
  }

  /** Clients dropped because they could not keep up. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Ends every stream and stops the heartbeat. */
  close(): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#endStreams();
  }

  #endStreams(): void {
    for (const client of [...this.#clients]) this.#drop(client, false);
  }

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

  async #asset(path: string, asset: { file: string; contentType: string }): Promise<Buffer> {
    try {
      return await readFile(isAbsolute(asset.file) ? asset.file : `${this.#staticDir}/${asset.file}`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new KlaggError('KLAGG_ERR_HTTP_FILE_MISSING', { path });
      throw error;
    }
  }
}

/** The inspector's routes and SSE stream for an HttpServer: pass `mount` in its `mounts`. */
export function inspectorServer(hub: InspectorHub, options?: InspectorServerOptions): InspectorServer {
  return new InspectorServer(hub, options);
}
