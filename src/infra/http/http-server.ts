/**
 * klagg's HTTP server on node:http: the Binance-compatible routes, klagg's API (symbols, health, metrics), the admin
 * routes and static files. Every handler error becomes a JSON reply (500 without internals, logged); bad input
 * never crashes it. `server` is exposed so the stream server can attach its WebSocket upgrade handler.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.ts';
import { adminRoutes } from './admin-routes.ts';
import { apiRoutes } from './api-routes.ts';
import { binanceRoutes } from './binance-routes.ts';
import type { HttpContext } from './context.ts';
import { HttpMetrics } from './metrics.ts';
import { HttpError, Router, type HttpReply, type HttpRequest, type Route } from './router.ts';

export type { HttpContext, ServedSymbol } from './context.ts';

export interface StaticFile {
  readonly file: string;
  readonly contentType: string;
}

export interface HttpServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly context: HttpContext;
  readonly logger: Logger;
  /** Path → file served as is (the inspector and chart pages and their scripts). */
  readonly staticRoutes?: ReadonlyMap<string, StaticFile>;
  /** Routes added by other components (they take precedence over none: paths must not clash). */
  readonly extraRoutes?: readonly Route[];
  /** Node's default process metrics in /metrics. Default true. */
  readonly defaultMetrics?: boolean;
}

const MAX_URL_LENGTH = 8192;

export class HttpServer {
  readonly server: Server;
  readonly metrics: HttpMetrics;
  readonly router: Router;
  readonly #log: Logger;
  #url = '';

  private constructor(options: HttpServerOptions) {
    this.#log = options.logger.child({ component: 'http' });
    this.metrics = new HttpMetrics({ system: options.context.system, clock: options.context.clock, defaultMetrics: options.defaultMetrics });
    this.router = new Router()
      .add(...binanceRoutes(options.context, this.metrics))
      .add(...apiRoutes(options.context, this.metrics))
      .add(...adminRoutes(options.context, options.logger))
      .add(...staticRoutes(options.staticRoutes))
      .add(...(options.extraRoutes ?? []));
    this.server = createServer((req, res) => void this.#handle(req, res));
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
    this.server.keepAliveTimeout = 5_000;
    this.server.on('clientError', (error, socket) => {
      this.metrics.countRequest('?', 'client_error', 400);
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
      this.#log.debug({ err: error }, 'malformed request');
    });
  }

  static async start(options: HttpServerOptions): Promise<HttpServer> {
    const http = new HttpServer(options);
    await new Promise<void>((resolve, reject) => {
      http.server.once('error', reject);
      http.server.listen(options.port, options.host, () => {
        http.server.off('error', reject);
        resolve();
      });
    });
    const address = http.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    http.#url = `http://${host}:${address.port}`;
    http.#log.info({ url: http.#url }, 'HTTP API listening');
    return http;
  }

  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  get url(): string {
    return this.#url;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops accepting connections and ends the open ones. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    let route = 'unmatched';
    let reply: HttpReply;
    let reason: string | undefined;
    try {
      const rawUrl = req.url ?? '/';
      if (rawUrl.length > MAX_URL_LENGTH) throw new HttpError(414, { error: `request URL longer than ${MAX_URL_LENGTH} characters` });
      let url: URL;
      try {
        url = new URL(rawUrl, 'http://localhost');
      } catch {
        throw new HttpError(400, { error: 'malformed request URL' });
      }
      const match = this.router.match(method, url.pathname);
      if (match.kind === 'none') throw new HttpError(404, { error: `no route for ${method} ${url.pathname.slice(0, 200)}` });
      if (match.kind === 'method') {
        route = match.pattern;
        throw new HttpError(405, { error: `method ${method} not allowed; use ${[...new Set(match.allowed)].join(', ')}` });
      }
      route = match.route.pattern;
      const request: HttpRequest = { method, path: url.pathname, query: url.searchParams, params: match.params, headers: req.headers, route };
      reply = await match.route.handler(request);
    } catch (error) {
      if (error instanceof HttpError) {
        reply = { status: error.status, json: error.body, headers: error.status === 405 ? {} : undefined };
        const code = (error.body as { code?: unknown } | null)?.code;
        reason = typeof code === 'number' ? String(code) : undefined;
      } else {
        this.#log.error({ err: error, method, url: req.url?.slice(0, 500), route }, 'HTTP handler failed');
        reply = { status: 500, json: { code: -1000, msg: 'An unknown error occurred while processing the request.' } };
      }
    }
    this.metrics.countRequest(method, route, reply.status, reason);
    this.#send(res, reply, method === 'HEAD');
  }

  #send(res: ServerResponse, reply: HttpReply, headOnly: boolean): void {
    if (res.headersSent || res.destroyed) return;
    let body: string | Uint8Array;
    let contentType: string;
    if (reply.bytes !== undefined) {
      body = reply.bytes;
      contentType = reply.contentType ?? 'application/octet-stream';
    } else if (reply.text !== undefined) {
      body = reply.text;
      contentType = reply.contentType ?? 'text/plain; charset=utf-8';
    } else {
      body = JSON.stringify(reply.json ?? null);
      contentType = reply.contentType ?? 'application/json; charset=utf-8';
    }
    res.statusCode = reply.status;
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    res.setHeader('Cache-Control', 'no-store');
    for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
    res.end(headOnly ? undefined : body);
  }
}

function staticRoutes(files: ReadonlyMap<string, StaticFile> | undefined): Route[] {
  if (files === undefined) return [];
  return [...files].map(([path, { file, contentType }]) => ({
    method: 'GET' as const,
    pattern: path,
    handler: async (): Promise<HttpReply> => {
      try {
        return { status: 200, bytes: await readFile(file), contentType };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new HttpError(404, { error: `${path} is not available` });
        throw error;
      }
    },
  }));
}
