/**
 * A small router for node:http: method + path pattern (`/admin/symbols/:symbol/activate`), handlers that return a
 * reply instead of writing to the response, and one error type for the replies a handler refuses with.
 */
import type { IncomingMessage } from 'node:http';

export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly params: Readonly<Record<string, string>>;
  readonly headers: IncomingMessage['headers'];
  /** The matched route's pattern (a metric label: bounded, unlike the path). */
  readonly route: string;
}

export interface HttpReply {
  readonly status: number;
  /** A JSON value (serialized), unless `text` or `bytes` is given. */
  readonly json?: unknown;
  readonly text?: string;
  readonly bytes?: Uint8Array;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export type Handler = (request: HttpRequest) => HttpReply | Promise<HttpReply>;

export interface Route {
  readonly method: 'GET' | 'POST';
  readonly pattern: string;
  readonly handler: Handler;
}

/** A refusal with a status and a JSON body: `{ code, msg }` on Binance-style routes, `{ error }` elsewhere. */
export class HttpError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    super(typeof body === 'object' && body !== null && 'msg' in body ? String((body as { msg: unknown }).msg) : `HTTP ${status}`);
    this.name = 'HttpError';
    this.status = status;
    this.body = body;
  }
}

/** Binance's error body, as an HTTP 400 unless told otherwise. */
export function binanceError(code: number, msg: string, status = 400): HttpError {
  return new HttpError(status, { code, msg });
}

export const json = (status: number, body: unknown, headers?: Record<string, string>): HttpReply => ({ status, json: body, headers });

interface CompiledRoute extends Route {
  readonly segments: readonly string[];
}

export type Match =
  | { readonly kind: 'found'; readonly route: Route; readonly params: Record<string, string> }
  | { readonly kind: 'method'; readonly allowed: readonly string[]; readonly pattern: string }
  | { readonly kind: 'none' };

export class Router {
  readonly #routes: CompiledRoute[] = [];

  add(...routes: readonly Route[]): this {
    for (const route of routes) this.#routes.push({ ...route, segments: route.pattern.split('/') });
    return this;
  }

  get routes(): readonly Route[] {
    return this.#routes;
  }

  match(method: string, path: string): Match {
    const parts = path.split('/');
    const allowed: string[] = [];
    let pattern = '';
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, parts);
      if (params === undefined) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { kind: 'found', route, params };
      allowed.push(route.method);
      pattern = route.pattern;
    }
    return allowed.length > 0 ? { kind: 'method', allowed, pattern } : { kind: 'none' };
  }
}

function matchSegments(segments: readonly string[], parts: readonly string[]): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const part = parts[i]!;
    if (segment.startsWith(':')) {
      if (part === '') return undefined;
      let value: string;
      try {
        value = decodeURIComponent(part);
      } catch {
        return undefined;
      }
      params[segment.slice(1)] = value;
    } else if (segment !== part) {
      return undefined;
    }
  }
  return params;
}
