/**
 * klagg's error registry: every code klagg raises, answers or logs, with its message, in this one module.
 *
 * Codes read `KLAGG_ERR_<AREA>_<WHAT>`. A code's `message` builds the text from its parameters, so the wording lives
 * here and nowhere else; `summary` and `fix` are what `docs/errors.md` lists (a test keeps that file equal to
 * `errorsMarkdown()`). klagg's own HTTP routes answer `{code, message}` with the code's `status`; Binance-shaped routes
 * answer Binance's `{code, msg}` from the Binance table instead (`src/infra/binance-api/binance-codes.ts`).
 *
 * To add a code: add an entry in its area (areas are sorted; codes within an area too), run
 * `node scripts/errors-doc.ts` to regenerate `docs/errors.md`.
 */

interface ErrorSpec<P> {
  /** One line for the docs: when this error happens. */
  readonly summary: string;
  /** What the user can do about it (docs, and start failures print it). */
  readonly fix?: string;
  /** The HTTP status a route answers with (routes only). */
  readonly status?: number;
  readonly message: (params: P) => string;
}

const spec = <P = Record<never, never>>(s: ErrorSpec<P>): ErrorSpec<P> => s;

export const ERRORS = {
  // ── ACTIVATION: making a symbol Active ───────────────────────────────────────────────────────────────────────────
  KLAGG_ERR_ACTIVATION_FAILED: spec<{ reason: string }>({
    summary: "A symbol's activation failed on its worker (retried; after the last retry the symbol is Failed).",
    fix: 'See the reason; an admin can force the activation again (`POST /admin/symbols/:symbol/activate`).',
    message: (p) => p.reason,
  }),
  KLAGG_ERR_ACTIVATION_REFUSED: spec<{ symbol: string }>({
    summary: 'An activation of a Failed symbol that was not forced.',
    fix: 'Force it (`POST /admin/symbols/:symbol/activate`).',
    message: (p) => `${p.symbol} is Failed; only a forced activation revives it`,
  }),
  KLAGG_ERR_ACTIVATION_TIMEOUT: spec<{ ms: number }>({
    summary: "The symbol's worker did not answer an activation in time (retried).",
    fix: 'A worker overloaded or stuck: see the worker health on /health.',
    message: (p) => `no answer from the worker within ${p.ms} ms`,
  }),

  // ── ADMIN: the admin HTTP API ────────────────────────────────────────────────────────────────────────────────────
  KLAGG_ERR_ADMIN_BAD_REQUEST: spec<{ reason: string }>({
    status: 400,
    summary: 'An admin request had a missing or invalid parameter.',
    fix: 'Correct the parameter named in the message.',
    message: (p) => p.reason,
  }),
  KLAGG_ERR_ADMIN_DISABLED: spec({
    status: 404,
    summary: 'An admin route was asked of a service without an admin token: the admin routes are off.',
    fix: 'Configure `adminToken` (env KLAGG_ADMIN_TOKEN) to turn them on.',
    message: () => 'not found (admin routes are off: no admin token is configured)',
  }),
  KLAGG_ERR_ADMIN_REMOTE_FORBIDDEN: spec<{ address: string }>({
    status: 403,
    summary: 'An admin route was asked from an address other than this machine (loopback) and not allowed by `admin`.',
    fix: 'Ask from the machine itself, or allow the address: `admin.allowFrom` (addresses or CIDR blocks) or `admin.allowRemote`.',
    message: (p) => `admin routes answer only loopback peers unless admin.allowRemote or admin.allowFrom allows it; this request came from ${p.address}`,
  }),
  KLAGG_ERR_ADMIN_REPAIR_UNAVAILABLE: spec({
    status: 501,
    summary: 'A repair was asked of a service that has no exchange REST source (a replay).',
    message: () => 'repair is not available in this service (no REST source configured)',
  }),
  KLAGG_ERR_ADMIN_UNKNOWN_SYMBOL: spec<{ symbol: string; detail: string }>({
    status: 404,
    summary: 'An admin request named a symbol klagg does not know.',
    fix: 'Check the symbol (upper case, as the exchange lists it).',
    message: (p) => `unknown symbol ${p.symbol} (${p.detail})`,
  }),

  // ── CHAOS: the chaos run (`klagg chaos`) ─────────────────────────────────────────────────────────────────────────
  KLAGG_ERR_CHAOS_STUCK: spec<{ what: string }>({
    summary: 'A chaos run ended with symbols behind the exchange that stopped moving (a trailing gap nothing found).',
    fix: 'A bug in gap detection: report it with the symbols and positions named.',
    message: (p) => p.what,
  }),

  // ── CONFIG ───────────────────────────────────────────────────────────────────────────────────────────────────────
  KLAGG_ERR_CONFIG_INVALID: spec<{ count: number; lines: readonly string[] }>({
    summary: 'The configuration (file, environment, flags) has problems; every one is listed with where it came from.',
    fix: 'Correct each setting named; `klagg <command> --help` lists them.',
    message: (p) => `invalid klagg configuration (${p.count === 1 ? '1 problem' : `${p.count} problems`}):\n${p.lines.map((l) => `  ${l}`).join('\n')}`,
  }),

  // ── ENGINE: the kline engine ─────────────────────────────────────────────────────────────────────────────────────
  KLAGG_ERR_ENGINE_BAD_SNAPSHOT: spec<{ what: string }>({
    summary: "An engine snapshot (a worker's saved state) does not fit this version or these intervals.",
    fix: 'Start without the snapshot: the stored klines and the exchange rebuild the state.',
    message: (p) => p.what,
  }),
  KLAGG_ERR_ENGINE_FINISHED: spec({
    summary: 'A trade reached an engine after its input was finished (a replay that ended).',
    message: () => 'the engine has finished; it takes no more trades',
  }),
  KLAGG_ERR_ENGINE_PRICE_TOO_LARGE: spec<{ text: string }>({
    summary: 'A price or quantity with more digits than the engine holds exactly (above 2^53 at its scale).',
    fix: "Check the symbol's tick and step sizes; report the value.",
    message: (p) => `price ${p.text} is too large to hold exactly`,
  }),

  // ── HTTP: klagg's own routes ─────────────────────────────────────────────────────────────────────────────────────
  KLAGG_ERR_HTTP_BAD_REQUEST: spec<{ reason: string }>({
    status: 400,
    summary: 'A request the server could not read (e.g. a body that is not the JSON its content type says).',
    message: (p) => p.reason,
  }),
  KLAGG_ERR_HTTP_FILE_MISSING: spec<{ path: string }>({
    status: 404,
    summary: 'A static page or script whose file is missing from this installation.',
    fix: 'Reinstall klagg (the file belongs to `static/` or `node_modules`).',
    message: (p) => `${p.path} is not available`,
  }),
  KLAGG_ERR_HTTP_HEADERS_TOO_LARGE: spec<{ limit: number }>({
    status: 431,
    summary: "A request whose header section is larger than the limit (`server.maxHeaderBytes`).",
    message: (p) => `request headers larger than ${p.limit} bytes`,
  }),
  KLAGG_ERR_HTTP_INTERNAL: spec({
    status: 500,
    summary: 'An unexpected failure while answering; logged with the request id.',
    fix: 'Report it with the request id from the log.',
    message: () => 'internal error',
  }),
  KLAGG_ERR_HTTP_METHOD_NOT_ALLOWED: spec<{ method: string; allowed: readonly string[] }>({
    status: 405,
    summary: 'The path exists but not for this method (the `Allow` header lists the ones it takes).',
    message: (p) => `method ${p.method} not allowed; use ${p.allowed.join(', ')}`,
  }),
  KLAGG_ERR_HTTP_NOT_FOUND: spec<{ method: string; path: string }>({
    status: 404,
    summary: 'No route for this method and path.',
    fix: 'See the README for the routes klagg serves.',
    message: (p) => `no route for ${p.method} ${p.path.slice(0, 200)}`,
  }),
  KLAGG_ERR_HTTP_REQUEST_TIMEOUT: spec<{ headersMs: number; requestMs: number }>({
    status: 408,
    summary: 'A client too slow to send its request (`server.headersTimeoutMs` for the headers, `server.requestTimeoutMs` for all of it).',
    message: (p) => `request not received in time (headers within ${p.headersMs} ms, the whole request within ${p.requestMs} ms)`,
  }),
  KLAGG_ERR_HTTP_SHUTTING_DOWN: spec({
    status: 503,
    summary: 'A request arrived while the server was closing (it finishes the requests in flight, takes no new ones).',
    fix: 'Retry against the restarted service.',
    message: () => 'the server is shutting down',
  }),
  KLAGG_ERR_HTTP_TOO_LARGE: spec<{ limit: number }>({
    status: 413,
    summary: 'A request body larger than the limit.',
    message: (p) => `request body larger than ${p.limit} bytes`,
  }),
  KLAGG_ERR_HTTP_TOO_MANY_CONNECTIONS: spec<{ address: string; limit: number }>({
    status: 429,
    summary: 'A request on a connection its client address opened past `server.maxConnectionsPerIp` (the connection is closed).',
    fix: 'Reuse connections (keep-alive) instead of opening more; behind a reverse proxy, raise or turn off the limit.',
    message: (p) => `too many connections: ${p.address} has more than ${p.limit} open`,
  }),
  KLAGG_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE: spec<{ type: string }>({
    status: 415,
    summary: 'A request body of a content type the route does not read.',
    message: (p) => `unsupported content type ${JSON.stringify(p.type.slice(0, 100))}`,
  }),
  KLAGG_ERR_HTTP_URL_TOO_LONG: spec<{ limit: number }>({
    status: 414,
    summary: 'A request URL longer than the limit.',
    message: (p) => `request URL longer than ${p.limit} characters`,
  }),

  // ── INSPECTOR: the live inspector's pages and event stream ───────────────────────────────────────────────────────
  KLAGG_ERR_INSPECTOR_TOO_MANY_CLIENTS: spec<{ max: number }>({
    status: 503,
    summary: 'More inspector event streams than allowed are open at once.',
    fix: 'Close other inspector tabs.',
    message: (p) => `too many inspector event streams (at most ${p.max})`,
  }),
  KLAGG_ERR_INSPECTOR_UNKNOWN_ACTOR: spec<{ key: string }>({
    status: 404,
    summary: 'The inspector asked for an actor it no longer follows (a finished actor beyond the few kept).',
    fix: 'Pick an actor from the current list.',
    message: (p) => `no actor ${JSON.stringify(p.key.slice(0, 40))} in the inspector`,
  }),

  // ── JOIN: a symbol joining mid-period (cold join) ────────────────────────────────────────────────────────────────
  KLAGG_ERR_JOIN_INCOMPLETE: spec<{ what: string }>({
    summary: "The exchange no longer has every trade of the current period, so an exact join cannot be composed.",
    fix: 'None needed: the symbol starts at the next period and the joined one is rebuilt from the exchange klines.',
    message: (p) => p.what,
  }),

  // ── NATS: the NATS server klagg's scale-out roles run on ─────────────────────────────────────────────────────────
  KLAGG_ERR_NATS_CAPABILITY: spec<{ what: string }>({
    summary: 'The NATS server lacks something klagg needs (JetStream, a feature of a newer server), or silently dropped a stream setting klagg asked for.',
    fix: 'Run a current nats-server (2.11 or newer) with JetStream on (`-js`); the message names what is missing and the version found.',
    message: (p) => p.what,
  }),

  // ── START: a start that cannot complete (the process exits non-zero) ─────────────────────────────────────────────
  KLAGG_ERR_START_DATA_DIR_LOCKED: spec<{ dir: string; pid: number }>({
    summary: 'The embedded database folder is in use by another klagg process.',
    fix: 'Stop the other process, or give this one another folder (`database.dataDir`, env KLAGG_DATABASE__DATA_DIR).',
    message: (p) => `data directory ${p.dir} is in use by process ${p.pid}`,
  }),
  KLAGG_ERR_START_DB_UNREACHABLE: spec<{ target: string; reason: string }>({
    summary: 'PostgreSQL could not be reached or refused the connection.',
    fix: 'Start PostgreSQL or correct `database.url` (env DATABASE_URL, flag --database-url).',
    message: (p) => `database ${p.target} unreachable: ${p.reason}`,
  }),
  KLAGG_ERR_START_EXCHANGE_UNREACHABLE: spec<{ url: string; attempts: number; reason: string }>({
    summary: 'The exchange did not answer after all retries while starting.',
    fix: 'Check the network and `exchange.restBaseUrl` / `exchange.wsBaseUrl` (flags --rest-url / --ws-url); `exchange.maxRetries` sets the retries.',
    message: (p) => `exchange ${p.url} unreachable after ${p.attempts} attempts: ${p.reason}`,
  }),
  KLAGG_ERR_START_NATS_UNREACHABLE: spec<{ servers: string; reason: string }>({
    summary: 'No NATS server of the cluster could be reached while a cluster role was starting.',
    fix: 'Start NATS (with JetStream, `-js`) or correct `cluster.servers` (env KLAGG_CLUSTER__SERVERS, flag --nats).',
    message: (p) => `NATS ${p.servers} unreachable: ${p.reason}`,
  }),
  KLAGG_ERR_START_PORT_IN_USE: spec<{ host: string; port: number }>({
    summary: 'The HTTP port is taken by another process.',
    fix: 'Stop the other process or choose another port (`server.port`, env KLAGG_SERVER__PORT, flag --port).',
    message: (p) => `port ${p.port} on ${p.host} is already in use`,
  }),

  // ── SYSTEM: the running service ──────────────────────────────────────────────────────────────────────────────────
  KLAGG_ERR_SYSTEM_INVARIANT: spec<{ what: string }>({
    summary: 'A broken internal invariant (a bug, not bad input).',
    fix: 'Report it with the message.',
    message: (p) => p.what,
  }),
  KLAGG_ERR_SYSTEM_NOT_RUNNING: spec<{ part: string }>({
    summary: 'A request reached the system while it was not running (starting or stopped).',
    message: (p) => `the system is not running (no ${p.part})`,
  }),
} as const;

export type ErrorCode = keyof typeof ERRORS;
export type ErrorParams<C extends ErrorCode> = (typeof ERRORS)[C] extends ErrorSpec<infer P> ? P : never;

/** The message of a code with its parameters. */
export function errorMessage<C extends ErrorCode>(code: C, params: ErrorParams<C>): string {
  return (ERRORS[code] as ErrorSpec<ErrorParams<C>>).message(params);
}

/** An error with a registry code. `status` is the code's HTTP status (500 when it has none). */
export class KlaggError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly status: number;

  constructor(code: C, params: ErrorParams<C>, options?: { cause?: unknown }) {
    super(errorMessage(code, params), options);
    this.name = 'KlaggError';
    this.code = code;
    this.status = (ERRORS[code] as ErrorSpec<unknown>).status ?? 500;
  }

  /** The body klagg's own routes answer with. */
  toJSON(): { code: C; message: string } {
    return { code: this.code, message: this.message };
  }

  /** A start failure's one line: the message and, when the code has one, the fix. */
  oneLine(): string {
    const fix = (ERRORS[this.code] as ErrorSpec<unknown>).fix;
    return fix === undefined ? `${this.code}: ${this.message}` : `${this.code}: ${this.message} — ${fix}`;
  }
}

/** The registry as markdown: what `docs/errors.md` holds. */
export function errorsMarkdown(): string {
  const lines = [
    '# klagg error codes',
    '',
    'Generated from `src/domain/errors.ts` by `node scripts/errors-doc.ts`; a test keeps the two equal.',
    "klagg's own routes answer `{\"code\": \"KLAGG_ERR_…\", \"message\": \"…\"}`; Binance-shaped routes (`/fapi/…`, the",
    "stream endpoints) answer Binance's `{\"code\": -1121, \"msg\": \"…\"}` as Binance does.",
    '',
    '| code | HTTP | when | what to do |',
    '|---|---|---|---|',
  ];
  for (const [code, s] of Object.entries(ERRORS) as [ErrorCode, ErrorSpec<unknown>][]) {
    lines.push(`| \`${code}\` | ${s.status ?? ''} | ${s.summary.replace(/\|/g, '\\|')} | ${(s.fix ?? '').replace(/\|/g, '\\|')} |`);
  }
  return `${lines.join('\n')}\n`;
}
