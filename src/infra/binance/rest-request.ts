/**
 * One HTTP attempt against Binance and the reading of its failure: the request line used in every message, the
 * `{code,msg}` of an error body, Retry-After, and the end of a 418 ban.
 */
import { BinanceApiError, BinanceNetworkError } from './binance-error.ts';
import type { ResponseContext } from './parse-response.ts';

export type QueryValue = string | number | undefined;

/** The shortest Binance ban, assumed when a 418 states no end. */
const MIN_BAN_MS = 2 * 60_000;

/** Path plus the query of the defined params, as `GET /fapi/v1/klines?symbol=BTCUSDT&interval=1m`. */
export function requestContext(path: string, params: Record<string, QueryValue>): ResponseContext {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value));
  return { endpoint: path, request: `GET ${path}${search.size > 0 ? `?${search.toString()}` : ''}` };
}

export type Attempt =
  | { readonly kind: 'answer'; readonly status: number; readonly headers: Headers; readonly text: string }
  | { readonly kind: 'network'; readonly error: BinanceNetworkError };

/** One GET; the whole body is read within `timeoutMs` (real time). Never throws. */
export async function attempt(baseUrl: URL, context: ResponseContext, timeoutMs: number): Promise<Attempt> {
  const url = new URL(context.request.slice('GET '.length), baseUrl);
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(url, { signal, headers: { accept: 'application/json' } });
    const text = await response.text();
    return { kind: 'answer', status: response.status, headers: response.headers, text };
  } catch (error) {
    return { kind: 'network', error: new BinanceNetworkError(context.endpoint, context.request, signal.aborted, error, timeoutMs) };
  }
}

/** The error for a non-2xx answer, with Binance's code and msg when the body is `{code,msg}`. */
export function toApiError(context: ResponseContext, status: number, text: string): BinanceApiError {
  let code: number | undefined;
  let binanceMsg: string | undefined;
  try {
    const body = JSON.parse(text) as unknown;
    if (typeof body === 'object' && body !== null) {
      const record = body as Record<string, unknown>;
      if (typeof record.code === 'number') code = record.code;
      if (typeof record.msg === 'string') binanceMsg = record.msg;
    }
  } catch {
    // Not JSON (a WAF's HTML page, a proxy's text): the body goes into the message instead.
  }
  return new BinanceApiError({ status, code, binanceMsg, endpoint: context.endpoint, request: context.request, body: text });
}

/** Retry-After in ms (Binance sends seconds), undefined when absent or unreadable. */
export function retryAfterMs(headers: Headers): number | undefined {
  const value = headers.get('retry-after');
  if (value === null || !/^\d+(?:\.\d+)?$/.test(value.trim())) return undefined;
  return Math.ceil(Number(value) * 1000);
}

/** When a 418 ban ends: the later of Retry-After and the `banned until <ms>` in the message; 2 minutes if neither. */
export function banEnd(headers: Headers, message: string | undefined, now: number): number {
  const retryAfter = retryAfterMs(headers);
  const stated = /banned until (\d{12,14})/.exec(message ?? '');
  const candidates = [retryAfter === undefined ? undefined : now + retryAfter, stated ? Number(stated[1]) : undefined];
  const known = candidates.filter((time): time is number => time !== undefined);
  return known.length > 0 ? Math.max(...known) : now + MIN_BAN_MS;
}
