/**
 * klagg's HTTP server, on Fastify: the Binance-compatible routes, klagg's API (symbols, health, metrics), the admin
 * routes, static pages and whatever components mount (the inspector). Every refusal or failure becomes a JSON reply
 * in the shape of its path (`http-errors.ts`); bad input never crashes it. Each request gets an id (echoed as
 * `x-request-id`, bound to its child logger), is counted in the metrics by route pattern and status, and is limited
 * in URL length (414), header size (431), body size (413) and in the time a client may take to send it (408: headers
 * within `headersTimeoutMs`, all of it within `requestTimeoutMs`, so a slow client cannot hold connections open);
 * an idle keep-alive connection is closed after `keepAliveTimeoutMs`. Each refusal by a limit is counted
 * (`klagg_limits_http_refused_total{limit}`, limit-metrics.ts). `close()` stops accepting, lets the requests in flight finish, then
 * closes. `server` is the underlying node:http server, for the WebSocket servers' upgrades.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { KlaggError } from '../../domain/errors.ts';
import { tooManyConnections } from '../binance/binance-replies.ts';
import type { Logger } from '../logger.ts';
import { registerAdminRoutes } from './admin-routes.ts';
import { registerApiRoutes } from './api-routes.ts';
import { registerBinanceRoutes } from './binance-routes.ts';
import { registerChartApiRoutes } from './chart-api-routes.ts';
import type { HttpContext } from './context.ts';
import { ConnectionLimit } from './connection-limit.ts';
import { clientErrorReply, errorReply, isBinancePath, pathOf, RouteTable, unmatchedReply, type ErrorReply, type RequestReadLimits } from './http-errors.ts';
import { limitOf, LimitMetrics } from './limit-metrics.ts';
import { HttpMetrics } from './metrics.ts';

export { pathOf } from './http-errors.ts';

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
  /** Largest header section (request line and headers), in bytes (larger: 431). Default 16 KiB (Node's). */
  readonly maxHeaderBytes?: number;
  /** Time a client has to send its headers (408 after). Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** Time a client has to send its whole request (408 after). Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this. Default 5 s. */
  readonly keepAliveTimeoutMs?: number;
  /**
   * Open connections per client IP (IPv6: per /64), stream connections included; past it requests get 429. 0: no
   * limit. Default 500 (room for the stream server's 300 per IP and plain requests beside them).
   */
  readonly maxConnectionsPerIp?: number;
}

const DEFAULT_MAX_URL_LENGTH = 8192;
const DEFAULT_BODY_LIMIT = 64 * 1024;
const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;

/** A request line the clientError handler may read from (node:http attaches the bytes it failed to parse). */
type ClientError = Error & { readonly code?: string; readonly rawPacket?: Buffer };
/** The response of the request in flight on a socket, if any (node:http's own handler checks it the same way). */
type HttpSocket = Duplex & { readonly _httpMessage?: { readonly headersSent: boolean } | null };

export class HttpServer {
  readonly app: FastifyInstance;
  readonly server: Server;
  readonly metrics: HttpMetrics;
  readonly limits: LimitMetrics;
  readonly #log: Logger;
  readonly #routes = new RouteTable();
  readonly #maxUrlLength: number;
  readonly #bodyLimit: number;
  readonly #readLimits: RequestReadLimits;
  readonly #connectionLimit: ConnectionLimit;
  #url = '';
  #closing: Promise<void> | undefined;

  private constructor(options: HttpServerOptions) {
    this.#log = options.logger.child({ component: 'http' });
    this.#maxUrlLength = options.maxUrlLength ?? DEFAULT_MAX_URL_LENGTH;
    this.#bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
    this.#readLimits = { maxHeaderBytes: options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES, headersTimeoutMs: options.headersTimeoutMs ?? 10_000, requestTimeoutMs: options.requestTimeoutMs ?? 30_000 };
    this.metrics = new HttpMetrics({ defaultMetrics: options.defaultMetrics });
    this.limits = new LimitMetrics(this.metrics.registry, this.metrics.prefix);
    const idPrefix = randomBytes(4).toString('hex');
    let requests = 0;
    this.app = Fastify({
      loggerInstance: this.#log,
      // Per-request child loggers (with reqId) for what the routes log; no access log line per request.
      logController: new LogController({ disableRequestLogging: true }),
      genReqId: () => `${idPrefix}-${(++requests).toString(36)}`,
      bodyLimit: this.#bodyLimit,
      requestTimeout: this.#readLimits.requestTimeoutMs,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 5_000,
      http: {
        maxHeaderSize: this.#readLimits.maxHeaderBytes,
        // node:http looks for requests past their timeouts this often (30 s by default, so a 10 s headers timeout
        // would take up to 40 s): a quarter of the headers timeout, within [50 ms, 1 s].
        connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(this.#readLimits.headersTimeoutMs / 4))),
      },
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
      clientErrorHandler: (error, socket) => this.#onClientError(error as unknown as ClientError, socket as HttpSocket),
    }) as unknown as FastifyInstance;
    this.server = this.app.server;
    this.server.headersTimeout = this.#readLimits.headersTimeoutMs;
    this.#connectionLimit = new ConnectionLimit(this.server, options.maxConnectionsPerIp ?? 500);
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
      const peer = this.#connectionLimit.overLimit(request.raw.socket);
      if (peer !== undefined) {
        this.limits.countHttp('connections_per_ip');
        reply.header('connection', 'close');
        const max = this.#connectionLimit.max;
        throw isBinancePath(pathOf(request.url)) ? tooManyConnections(peer, max, 'Please reuse a connection (keep-alive).') : new KlaggError('KLAGG_ERR_HTTP_TOO_MANY_CONNECTIONS', { address: peer, limit: max });
      }
    });
    this.app.addHook('onResponse', async (request, reply) => {
      if (request.streamed) return;
      this.metrics.countRequest(request.method, request.metricRoute ?? request.routeOptions.url ?? 'unmatched', reply.statusCode, request.rejectReason);
    });
    this.app.setErrorHandler((error, request, reply) => {
      const answer = errorReply(error, pathOf(request.url), this.#bodyLimit);
      const limit = limitOf(error);
      if (limit !== undefined) this.limits.countHttp(limit);
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
    this.#closing ??= this.app.close().then(() => {
      this.metrics.close();
      this.#log.debug('HTTP server closed');
    });
    return this.#closing;
  }

  /**
   * A request node:http could not read — headers over the limit, a client too slow to send it, malformed — answered
   * in the shape of its path (when its request line came) and the connection closed.
   */
  #onClientError(error: ClientError, socket: HttpSocket): void {
    // A connection reset: nobody to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const answer = clientErrorReply(error.code, error.rawPacket, this.#readLimits);
    this.metrics.countRequest('?', 'client_error', answer.status, answer.reason);
    if (answer.status === 431) this.limits.countHttp('header_size');
    if (answer.status === 408) this.limits.countHttp('request_timeout');
    this.#log.debug({ err: error, status: answer.status }, 'unreadable request');
    // A response already under way cannot be followed by another on the same connection.
    if (!socket.writable || socket._httpMessage?.headersSent === true) {
      socket.destroy();
      return;
    }
    const text = JSON.stringify(answer.body);
    socket.end(`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
  }

  #refuse(request: FastifyRequest, reply: FastifyReply, answer: ErrorReply): FastifyReply {
    request.rejectReason = answer.reason;
    if (answer.headers !== undefined) reply.headers(answer.headers);
    return reply.code(answer.status).type('application/json; charset=utf-8').send(answer.body);
  }
}

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
