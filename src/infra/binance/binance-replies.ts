/**
 * The Binance table: every Binance-style error klagg and its fake exchange answer — an HTTP status and the
 * `{"code":-1121,"msg":"Invalid symbol."}` body, with the codes and messages the real API uses. Binance's texts are
 * written here and nowhere else (REST routes of both servers, and the WebSocket endpoints' refusals).
 * (klagg's own error codes are in `src/domain/errors.ts`; the meanings a client reads are in `binance-error.ts`.)
 */
export class BinanceError extends Error {
  readonly status: number;
  readonly code: number;
  constructor(status: number, code: number, msg: string) {
    super(msg);
    this.name = 'BinanceError';
    this.status = status;
    this.code = code;
  }

  get body(): { code: number; msg: string } {
    return { code: this.code, msg: this.message };
  }
}

export const invalidSymbol = (): BinanceError => new BinanceError(400, -1121, 'Invalid symbol.');
export const invalidInterval = (): BinanceError => new BinanceError(400, -1120, 'Invalid interval.');
export const mandatoryParam = (name: string): BinanceError =>
  new BinanceError(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);
export const illegalChars = (name: string): BinanceError =>
  new BinanceError(400, -1100, `Illegal characters found in parameter '${name}'; legal range is '^[0-9]{1,20}$'.`);
export const invalidParameter = (name: string): BinanceError => new BinanceError(400, -1130, `Data sent for parameter '${name}' is not valid.`);
export const startAfterEnd = (): BinanceError => new BinanceError(400, -1023, 'Start time is greater than end time.');
export const moreThanHours = (hours: number): BinanceError => new BinanceError(400, -1127, `More than ${hours} hours between startTime and endTime.`);
export const unknownRoute = (method: string, path: string): BinanceError => new BinanceError(404, -5000, `Path ${path}, Method ${method} is invalid`);

export function tooManyRequests(ip: string, limit: number): BinanceError {
  return new BinanceError(
    429,
    -1003,
    `Too many requests; current limit of IP(${ip}) is ${limit} requests per minute. Please use the websocket for live updates to avoid polling the API.`,
  );
}

export function banned(ip: string, until: number): BinanceError {
  return new BinanceError(418, -1003, `Way too many requests; IP(${ip}) banned until ${until}. Please use the websocket for live updates to avoid bans.`);
}

export function serverError(status: number): BinanceError {
  if (status === 503) return new BinanceError(503, -1008, 'Server is currently overloaded with other requests. Please try again in a few minutes.');
  return new BinanceError(status, -1000, 'An unknown error occurred while processing the request.');
}

export const invalidPath = (path: string): BinanceError => new BinanceError(404, -5000, `Path ${path} is invalid`);
export const tooManyStreams = (): BinanceError => new BinanceError(400, -1130, 'Too many streams.');
export const invalidStream = (): BinanceError => new BinanceError(400, -1100, 'Invalid stream: expected <symbol>@kline_<interval>.');
/** A kline stream of a Binance interval klagg does not aggregate: Binance's code for a bad interval, and what is served. */
export const unservedInterval = (stream: string, served: string): BinanceError =>
  new BinanceError(400, -1120, `Invalid interval: ${stream} is not aggregated here (served: ${served}).`);
export const shuttingDown = (): BinanceError => new BinanceError(503, -1001, 'Server is shutting down.');
export const invalidApiKey = (): BinanceError => new BinanceError(401, -2015, 'Invalid API-key, IP, or permissions for action.');
/** A Binance path asked with a method it does not take (Binance says -5000; the status is 405, with `Allow`). */
export const methodNotAllowed = (method: string, path: string): BinanceError => new BinanceError(405, -5000, `Path ${path}, Method ${method} is invalid`);
/** A request URL over the server's limit: Binance's closest refusal (too many parameters), as a 414. */
export const urlTooLong = (): BinanceError => new BinanceError(414, -1101, 'Too many parameters sent for this endpoint.');
/** A connection past the per-IP connection limit: Binance's rate-limit code and wording, as a 429; `advice` follows. */
export const tooManyConnections = (ip: string, limit: number, advice: string): BinanceError =>
  new BinanceError(429, -1003, `Too many connections; current limit of IP(${ip}) is ${limit} open connections. ${advice}`);
/** A stream upgrade whose URL streams would take its IP past the per-IP subscription limit (429). */
export const tooManyIpStreams = (ip: string, limit: number): BinanceError =>
  new BinanceError(429, -1003, `Too many streams; current limit of IP(${ip}) is ${limit} streams over all its connections.`);
/** Limits of the HTTP server on a Binance path: Binance's generic code (-1000), a status and text that say which. */
export const bodyTooLarge = (limit: number): BinanceError => new BinanceError(413, -1000, `Request body too large: at most ${limit} bytes.`);
export const headersTooLarge = (limit: number): BinanceError => new BinanceError(431, -1000, `Request header fields too large: at most ${limit} bytes.`);
export const requestTimeout = (): BinanceError => new BinanceError(408, -1000, 'Request timeout: the request was not received in time.');
