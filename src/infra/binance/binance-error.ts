/**
 * Errors of the Binance REST client. Each names the request (`GET /fapi/v1/klines?symbol=…`) so a log line alone says
 * what failed:
 * - `BinanceApiError`: the exchange answered with an error status (its `{code,msg}` when the body had one).
 * - `BinanceResponseError`: a 2xx answer whose body is not what the endpoint returns (HTML, truncated JSON, a wrong
 *   shape, a bad row). Never a raw TypeError from deep inside a parser.
 * - `BinanceNetworkError`: no answer at all (connection refused or reset, timeout).
 * - `BinanceRetriesExhaustedError`: a retryable failure that kept failing `maxRetries` times; `cause` is the last one.
 * - `BinanceBannedError`: the IP is banned (HTTP 418) for longer than the client is willing to wait.
 */

/** Plain-language meanings of Binance error codes a market-data client meets. */
const CODE_MEANINGS: Readonly<Record<number, string>> = {
  [-1000]: 'unknown error on the exchange side; the outcome of the request is unknown',
  [-1003]:
    "too many requests: this IP's request-weight limit per minute was exceeded (HTTP 429), or the IP is banned for " +
    'sending after a 429 (HTTP 418)',
  [-1008]: 'the exchange is overloaded and throttled the request; retry later',
  [-1102]: 'a mandatory parameter was not sent, was empty or was malformed',
  [-1120]: 'invalid kline interval (case-sensitive: 1m is a minute, 1M a month)',
  [-1121]: 'invalid symbol: the exchange does not list it (a typo, lower case, delisted, or not a USDⓈ-M contract)',
  [-1127]: 'the time window is too long (aggTrades: startTime and endTime must be less than 1 hour apart)',
  [-1130]: 'a parameter has an invalid value (for example a limit out of range)',
  [-1023]: 'startTime is after endTime',
};

function statusMeaning(status: number): string {
  if (status === 403) return "refused by the exchange's web application firewall (WAF); the body is usually an HTML page";
  if (status === 408) return 'the exchange timed out waiting for its backend; safe to retry';
  if (status === 418) return 'this IP is banned for sending requests after a 429; bans escalate from 2 minutes to 3 days';
  if (status === 429) return "this IP's request-weight limit per minute was exceeded; wait for Retry-After";
  if (status >= 500) return 'failure on the exchange side; safe to retry';
  if (status >= 400) return 'the request was rejected';
  return `unexpected HTTP status ${status}`;
}

/** The plain-language meaning of a Binance error: the code's when known, else the HTTP status's. */
export function errorMeaning(status: number, code: number | undefined): string {
  return (code === undefined ? undefined : CODE_MEANINGS[code]) ?? statusMeaning(status);
}

/** At most `max` characters of a body, on one line, for messages. */
export function snippet(text: string, max = 120): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}

export class BinanceApiError extends Error {
  readonly status: number;
  /** Binance's (negative) error code, undefined when the body carried none (an HTML page from the WAF, …). */
  readonly code: number | undefined;
  /** Binance's `msg`, undefined when the body carried none. */
  readonly binanceMsg: string | undefined;
  /** The path, `/fapi/v1/klines`. */
  readonly endpoint: string;
  /** Method, path and query, `GET /fapi/v1/klines?symbol=BTCUSDT&interval=1m`. */
  readonly request: string;
  readonly meaning: string;

  constructor(options: { status: number; code?: number; binanceMsg?: string; endpoint: string; request: string; body?: string }) {
    const meaning = errorMeaning(options.status, options.code);
    const detail =
      options.code !== undefined || options.binanceMsg !== undefined
        ? `code ${options.code ?? '?'} ${JSON.stringify(options.binanceMsg ?? '')}`
        : options.body !== undefined && options.body !== ''
          ? `body ${JSON.stringify(snippet(options.body))}`
          : 'empty body';
    super(`${options.request}: HTTP ${options.status}, ${detail}: ${meaning}`);
    this.name = 'BinanceApiError';
    this.status = options.status;
    this.code = options.code;
    this.binanceMsg = options.binanceMsg;
    this.endpoint = options.endpoint;
    this.request = options.request;
    this.meaning = meaning;
  }

  /** 408 and 5xx are worth retrying; other 4xx are the request's own fault and fail the same way again. */
  get retryable(): boolean {
    return this.status === 408 || this.status >= 500;
  }
}

export class BinanceResponseError extends Error {
  readonly endpoint: string;
  readonly request: string;
  /** What was wrong, e.g. `row 3: field 1 (open) must be a decimal string, got 67231.4`. */
  readonly problem: string;

  constructor(endpoint: string, request: string, problem: string) {
    super(`${request}: unexpected response: ${problem}`);
    this.name = 'BinanceResponseError';
    this.endpoint = endpoint;
    this.request = request;
    this.problem = problem;
  }
}

export class BinanceNetworkError extends Error {
  readonly endpoint: string;
  readonly request: string;
  readonly timedOut: boolean;

  constructor(endpoint: string, request: string, timedOut: boolean, cause: unknown, timeoutMs: number) {
    const reason = timedOut ? `no complete answer within ${timeoutMs} ms` : `network error: ${describeCause(cause)}`;
    super(`${request}: ${reason}`, { cause });
    this.name = 'BinanceNetworkError';
    this.endpoint = endpoint;
    this.request = request;
    this.timedOut = timedOut;
  }
}

export class BinanceRetriesExhaustedError extends Error {
  readonly endpoint: string;
  readonly request: string;
  readonly attempts: number;

  constructor(endpoint: string, request: string, attempts: number, cause: Error) {
    super(`${request}: gave up after ${attempts} attempts; last error: ${cause.message}`, { cause });
    this.name = 'BinanceRetriesExhaustedError';
    this.endpoint = endpoint;
    this.request = request;
    this.attempts = attempts;
  }
}

export class BinanceBannedError extends Error {
  /** When the ban ends, ms since the epoch on the client's clock. */
  readonly bannedUntil: number;
  readonly maxWaitMs: number;

  constructor(bannedUntil: number, now: number, maxWaitMs: number) {
    super(
      `Binance has banned this IP (HTTP 418) until ${new Date(bannedUntil).toISOString()} (${Math.ceil((bannedUntil - now) / 1000)} s ` +
        `from now), longer than the ${Math.round(maxWaitMs / 1000)} s the client waits; no request is sent until then`,
    );
    this.name = 'BinanceBannedError';
    this.bannedUntil = bannedUntil;
    this.maxWaitMs = maxWaitMs;
  }
}

function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  // undici's "fetch failed" hides the useful part (ECONNREFUSED, socket hang up) in its own cause.
  const inner = cause.cause instanceof Error ? `: ${(cause.cause as Error & { code?: string }).code ?? cause.cause.message}` : '';
  return `${cause.message}${inner}`;
}
