/**
 * How klagg's HTTP server answers a refusal or a failure. Two shapes, by path: Binance-shaped routes (`/fapi/…`) answer
 * Binance's `{code, msg}` from the Binance table, so a Binance client reads them as it reads Binance's; every other
 * path answers klagg's `{code, message}` from the error registry. Also the 404/405 decision (a path that exists for
 * other methods is a 405 with `Allow`) from the routes the server registered.
 */
import { KlaggError } from '../../domain/errors.ts';
import { BinanceError, bodyTooLarge, headersTooLarge, methodNotAllowed, requestTimeout, serverError, shuttingDown, unknownRoute, urlTooLong } from '../binance/binance-replies.ts';

export const isBinancePath = (path: string): boolean => path === '/fapi' || path.startsWith('/fapi/');

export interface ErrorReply {
  readonly status: number;
  readonly body: unknown;
  /** The `reason` label of the rejected-requests counter: a Binance code, else the status. */
  readonly reason: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** An unexpected failure (to be logged; nothing of it goes out). */
  readonly internal: boolean;
}

/** Fastify's own errors carry a `statusCode` and an `FST_…` code. */
interface FrameworkError {
  readonly statusCode?: number;
  readonly code?: string;
  readonly message: string;
}

const fromBinance = (error: BinanceError): ErrorReply => ({ status: error.status, body: error.body, reason: String(error.code), internal: false });
const fromKlagg = (error: KlaggError): ErrorReply => ({ status: error.status, body: error.toJSON(), reason: String(error.status), internal: false });

/** A refusal of the server itself (a limit, a shutdown, an unreadable request) on a Binance path, from the table. */
function binanceRefusal(status: number, bodyLimit: number): BinanceError {
  if (status === 414) return urlTooLong();
  if (status === 413) return bodyTooLarge(bodyLimit);
  if (status === 503) return shuttingDown();
  return serverError(status);
}

/** The reply for anything a handler or hook threw. */
export function errorReply(error: unknown, path: string, bodyLimit: number): ErrorReply {
  const binance = isBinancePath(path);
  if (error instanceof BinanceError) return fromBinance(error);
  if (error instanceof KlaggError) {
    // A registry refusal on a Binance path (a limit of the server itself): Binance's shape, same status.
    if (binance) return fromBinance(binanceRefusal(error.status, bodyLimit));
    return fromKlagg(error);
  }
  const framework = error as FrameworkError;
  const status = framework.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && typeof framework.code === 'string' && framework.code.startsWith('FST_')) {
    if (binance) return fromBinance(binanceRefusal(status, bodyLimit));
    if (framework.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return fromKlagg(new KlaggError('KLAGG_ERR_HTTP_TOO_LARGE', { limit: bodyLimit }));
    if (framework.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return fromKlagg(new KlaggError('KLAGG_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE', { type: framework.message.replace(/^Unsupported Media Type:?\s*/i, '') }));
    return fromKlagg(new KlaggError('KLAGG_ERR_HTTP_BAD_REQUEST', { reason: framework.message }));
  }
  const internal = binance ? serverError(500) : null;
  return { status: 500, body: internal?.body ?? new KlaggError('KLAGG_ERR_HTTP_INTERNAL', {}).toJSON(), reason: '500', internal: true };
}

/** No route for this method and path: a 405 with `Allow` when the path takes other methods, else a 404. */
export function unmatchedReply(method: string, path: string, allowed: readonly string[]): ErrorReply {
  const binance = isBinancePath(path);
  if (allowed.length > 0) {
    const allow = allowed.join(', ');
    const reply = binance ? fromBinance(methodNotAllowed(method, path.slice(0, 200))) : fromKlagg(new KlaggError('KLAGG_ERR_HTTP_METHOD_NOT_ALLOWED', { method, allowed }));
    return { ...reply, headers: { allow } };
  }
  return binance ? fromBinance(unknownRoute(method, path.slice(0, 200))) : fromKlagg(new KlaggError('KLAGG_ERR_HTTP_NOT_FOUND', { method, path }));
}

interface CompiledPattern {
  readonly method: string;
  readonly pattern: string;
  readonly regex: RegExp;
}

/**
 * The registered routes as patterns, to tell a 405 from a 404 (Fastify's router answers both as "not found"). Only
 * consulted for unmatched requests, so a linear scan is fine.
 */
export class RouteTable {
  readonly #routes: CompiledPattern[] = [];

  add(method: string | readonly string[], pattern: string): void {
    const regex = new RegExp(`^${pattern.split('/').map((segment) => (segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : escapeRegex(segment))).join('/')}$`);
    for (const m of typeof method === 'string' ? [method] : method) this.#routes.push({ method: m, pattern, regex });
  }

  /** The methods `path` is served for, in registration order, and the pattern it matched (a metric label). */
  allowed(path: string): { methods: string[]; pattern: string | undefined } {
    const methods: string[] = [];
    let pattern: string | undefined;
    for (const route of this.#routes) {
      if (!route.regex.test(path)) continue;
      if (!methods.includes(route.method)) methods.push(route.method);
      pattern ??= route.pattern;
    }
    return { methods, pattern };
  }
}

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The limits a request broke before it was a request (see `clientErrorReply`). */
export interface RequestReadLimits {
  readonly maxHeaderBytes: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

/**
 * The reply to a request the server could not read (node:http's 'clientError'): headers over the limit (431), a
 * client too slow to send its request (408), anything else malformed (400). There is no request yet, so the shape
 * comes from the request line when it was received (`rawPacket`): a Binance path gets Binance's shape.
 */
export function clientErrorReply(code: string | undefined, rawPacket: Buffer | undefined, limits: RequestReadLimits): ErrorReply {
  const line = rawPacket === undefined ? '' : rawPacket.toString('latin1', 0, Math.min(rawPacket.length, 2048));
  const binance = isBinancePath(pathOf(/^[A-Z]+ (\S+)/.exec(line)?.[1] ?? ''));
  if (code === 'HPE_HEADER_OVERFLOW') {
    return binance ? fromBinance(headersTooLarge(limits.maxHeaderBytes)) : fromKlagg(new KlaggError('KLAGG_ERR_HTTP_HEADERS_TOO_LARGE', { limit: limits.maxHeaderBytes }));
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return binance ? fromBinance(requestTimeout()) : fromKlagg(new KlaggError('KLAGG_ERR_HTTP_REQUEST_TIMEOUT', { headersMs: limits.headersTimeoutMs, requestMs: limits.requestTimeoutMs }));
  }
  return binance ? fromBinance(serverError(400)) : fromKlagg(new KlaggError('KLAGG_ERR_HTTP_BAD_REQUEST', { reason: 'malformed HTTP request' }));
}

/** The path of a request URL (without the query). */
export const pathOf = (url: string): string => {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
};
