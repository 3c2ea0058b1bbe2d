/**
 * klagg's HTTP server, on Fastify: the Binance-compatible routes, klagg's API (symbols, health, metrics), the admin
 * routes, static pages and whatever components mount (the inspector). Every refusal or failure becomes a JSON reply
 * in the shape of its path (`http-errors.ts`); bad input never crashes it. Each request gets an id (echoed as
 * `x-request-id`, bound to its child logger), is counted in the metrics by route pattern and status, and is limited
 * in URL length (414) and body size (413). `close()` stops accepting, lets the requests in flight finish, then
 * closes. `server` is the underlying node:http server, for the WebSocket servers' upgrades.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { KlaggError } from '../../domain/errors.ts';
import type { Logger } from '../logger.ts';
import { registerAdminRoutes } from './admin-routes.ts';
import { registerApiRoutes } from './api-routes.ts';
import { registerBinanceRoutes } from './binance-routes.ts';
import { registerChartApiRoutes } from './chart-api-routes.ts';
import type { HttpContext } from './context.ts';
import { errorReply, RouteTable, unmatchedReply, type ErrorReply } from './http-errors.ts';
import { HttpMetrics } from './metrics.ts';

export type { HttpContext, ServedSymbol, ServingSystem } from './context.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The metrics' route label when it is not the matched route's pattern (unmatched requests, 405s). */
    metricRoute: string | undefined;
    /** The rejected-requests counter's reason (a Binance code or the status). */
    rejectReason: string | undefined;
    /** A hijacked streaming reply, counted when it started (`countRequest`), not when it ends. */
    streamed: boolean;
  }
}

export interface StaticFile {
  readonly file: string;
  readonly contentType: string;
}

/** Adds routes (and hooks) of another component to the server, e.g. the inspector's pages and event stream. */
export type HttpMount = (app: FastifyInstance, server: HttpServer) => void;

export interface HttpServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly context: HttpContext;
  readonly logger: Logger;
  /** Path → file served as is (the chart page and its scripts). */
  readonly staticRoutes?: ReadonlyMap<string, StaticFile>;
  /** Routes added by other components (paths must not clash). */
  readonly mounts?: readonly HttpMount[];
  /** Node's default process metrics in /metrics. Default true. */
  readonly defaultMetrics?: boolean;
  /** Longest request URL, in characters (longer: 414). Default 8192. */
  readonly maxUrlLength?: number;
  /** Largest request body, in bytes (larger: 413). Default 64 KiB (no route reads more than a small JSON). */
  readonly bodyLimit?: number;
}

const DEFAULT_MAX_URL_LENGTH = 8192;
const DEFAULT_BODY_LIMIT = 64 * 1024;

export class HttpServer {
  readonly app: FastifyInstance;
  readonly server: Server;
  readonly metrics: HttpMetrics;
  readonly #log: Logger;
  readonly #routes = new RouteTable();
  readonly #maxUrlLength: number;
  readonly #bodyLimit: number;
  #url = '';
  #closing: Promise<void> | undefined;

  private constructor(options: HttpServerOptions) {
    this.#log = options.logger.child({ component: 'http' });
    this.#maxUrlLength = options.maxUrlLength ?? DEFAULT_MAX_URL_LENGTH;
    this.#bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
    this.metrics = new HttpMetrics({ defaultMetrics: options.defaultMetrics });
    const idPrefix = randomBytes(4).toString('hex');
    let requests = 0;
    this.app = Fastify({
      loggerInstance: this.#log,
      // Per-request child loggers (with reqId) for what the routes log; no access log line per request.
      logController: new LogController({ disableRequestLogging: true }),
      genReqId: () => `${idPrefix}-${(++requests).toString(36)}`,
      bodyLimit: this.#bodyLimit,
      requestTimeout: 30_000,
      keepAliveTimeout: 5_000,
      // close(): idle keep-alive connections are closed, requests in flight finish first.
      forceCloseConnections: 'idle',
      // Refused in our own shape by the onRequest hook instead (Fastify's 503 body is its own).
      return503OnClosing: false,
      routerOptions: {
        // The routes read the query as URLSearchParams (first value of a repeated name, as before).
        querystringParser: (text) => new URLSearchParams(text) as unknown as Record<string, unknown>,
        maxParamLength: this.#maxUrlLength,
      },
      // A path that does not decode (bad %-escape) matches no route.
      frameworkErrors: (_error, request, reply) => {
        request.metricRoute = 'unmatched';
        const answer = unmatchedReply(request.method, pathOf(request.url), []);
        void this.#refuse(request, reply, answer);
        // Answered before the request's lifecycle starts: the onResponse hook that counts requests never runs for it.
        this.metrics.countRequest(request.method, 'unmatched', answer.status, answer.reason);
      },
      clientErrorHandler: (error, socket) => {
        this.metrics.countRequest('?', 'client_error', 400);
        if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        else socket.destroy();
        this.#log.debug({ err: error }, 'malformed request');
      },
    }) as unknown as FastifyInstance;
    this.server = this.app.server;
    this.server.headersTimeout = 10_000;
    this.app.decorateRequest('metricRoute', undefined);
    this.app.decorateRequest('rejectReason', undefined);
    this.app.decorateRequest('streamed', false);
    this.app.addHook('onRoute', (route) => this.#routes.add(route.method, route.url ?? route.path));
    this.app.addHook('onRequest', async (request, reply) => {
      reply.header('x-request-id', request.id);
      reply.header('cache-control', 'no-store');
      if (request.url.length > this.#maxUrlLength) {
        request.metricRoute = 'unmatched';
        throw new KlaggError('KLAGG_ERR_HTTP_URL_TOO_LONG', { limit: this.#maxUrlLength });
      }
      if (this.#closing !== undefined) {
        reply.header('connection', 'close');
        throw new KlaggError('KLAGG_ERR_HTTP_SHUTTING_DOWN', {});
      }
    });
    this.app.addHook('onResponse', async (request, reply) => {
      if (request.streamed) return;
      this.metrics.countRequest(request.method, request.metricRoute ?? request.routeOptions.url ?? 'unmatched', reply.statusCode, request.rejectReason);
    });
    this.app.setErrorHandler((error, request, reply) => {
      const answer = errorReply(error, pathOf(request.url), this.#bodyLimit);
      if (answer.internal) request.log.error({ err: error, method: request.method, url: request.url.slice(0, 500), route: request.routeOptions.url }, 'HTTP handler failed');
      return this.#refuse(request, reply, answer);
    });
    this.app.setNotFoundHandler((request, reply) => {
      const path = pathOf(request.url);
      const { methods, pattern } = this.#routes.allowed(path);
      request.metricRoute = pattern ?? 'unmatched';
      return this.#refuse(request, reply, unmatchedReply(request.method, path, methods));
    });

    registerBinanceRoutes(this.app, options.context, this.metrics);
    registerApiRoutes(this.app, options.context, this.metrics);
    registerChartApiRoutes(this.app, options.context, this.metrics);
    registerAdminRoutes(this.app, options.context);
    for (const [path, file] of options.staticRoutes ?? []) registerStatic(this.app, path, file);
    for (const mount of options.mounts ?? []) mount(this.app, this);
  }

  static async start(options: HttpServerOptions): Promise<HttpServer> {
    const http = new HttpServer(options);
    // Fastify logs the listening line (at info, on our logger).
    await http.app.listen({ port: options.port, host: options.host, listenTextResolver: (address) => `HTTP API listening on ${address}` });
    const address = http.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    http.#url = `http://${host}:${address.port}`;
    return http;
  }

  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  get url(): string {
    return this.#url;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /**
   * Counts a request a component answered itself (a hijacked stream, counted as it starts) and marks it so the
   * server does not count it again when it ends.
   */
  countStreamed(request: FastifyRequest, status: number): void {
    request.streamed = true;
    this.metrics.countRequest(request.method, request.routeOptions.url ?? 'unmatched', status);
  }

  /**
   * Stops accepting connections, answers new requests on open ones with 503, lets the requests in flight finish
   * (mounted streams end in their `preClose` hooks), then closes. Resolves once everything is closed.
   */
  close(): Promise<void> {
    this.#closing ??= this.app.close().then(() => this.#log.debug('HTTP server closed'));
    return this.#closing;
  }

  #refuse(request: FastifyRequest, reply: FastifyReply, answer: ErrorReply): FastifyReply {
    request.rejectReason = answer.reason;
    if (answer.headers !== undefined) reply.headers(answer.headers);
    return reply.code(answer.status).type('application/json; charset=utf-8').send(answer.body);
  }
}

/** The path of a request URL (without the query). */
export const pathOf = (url: string): string => {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
};

function registerStatic(app: FastifyInstance, path: string, { file, contentType }: StaticFile): void {
  app.get(path, async (_request, reply) => {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new KlaggError('KLAGG_ERR_HTTP_FILE_MISSING', { path });
      throw error;
    }
    return reply.type(contentType).send(bytes);
  });
}
