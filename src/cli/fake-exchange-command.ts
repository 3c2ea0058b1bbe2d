/**
 * `klagg fake-exchange`: runs the local fake Binance USDⓈ-M exchange alone, serving a recording (`--replay`) or a
 * generated market, until SIGINT/SIGTERM. Prints one JSON line with its URLs on stdout.
 */
import { Command, InvalidArgumentError } from 'commander';
import { FakeExchange, type DelistingSpec, type FakeExchangeOptions, type ListingSpec, type MarketSource } from '../infra/fake-exchange/fake-exchange.ts';
import type { Logger } from '../infra/logger.ts';
import { contextOf, type CommandHost } from './cli-context.ts';

export interface FakeExchangeCliOptions {
  readonly replay?: string;
  readonly speed: number | 'max';
  readonly symbols: number;
  readonly rate: number;
  readonly seed: number;
  readonly listings?: readonly ListingSpec[];
  readonly delistings?: readonly DelistingSpec[];
  readonly port: number;
  readonly weightLimit?: number;
  readonly banMs?: number;
  readonly maxConnectionAgeMs?: number;
  readonly pingIntervalMs?: number;
  readonly legacySilent: boolean;
  readonly aggTradesHistoryMs?: number;
  readonly startOnSubscribe?: boolean;
  readonly blast?: boolean;
  readonly blastChunkBytes?: number;
}

export interface RunContext {
  readonly logger: Logger;
  /** Stops the exchange when aborted. */
  readonly signal: AbortSignal;
  /** Receives the URL line. */
  readonly write: (line: string) => void;
  /** Called once the exchange listens. */
  readonly onStarted?: (exchange: FakeExchange) => void;
}

/**
 * Starts the fake exchange, prints its URLs (and, in the blast mode, a line when each blast round starts and ends), and
 * resolves once it has closed after `signal` aborted.
 */
export async function runFakeExchange(options: FakeExchangeCliOptions, context: RunContext): Promise<void> {
  if (options.blast && !options.replay) throw new InvalidArgumentError('--blast needs --replay <file>');
  const source: MarketSource = options.replay
    ? { kind: 'recording', path: options.replay, speed: options.speed }
    : { kind: 'generated', symbols: options.symbols, rate: options.rate, seed: options.seed, listings: options.listings, delistings: options.delistings };
  const exchangeOptions: FakeExchangeOptions = {
    source,
    port: options.port,
    host: '127.0.0.1',
    weightLimit: options.weightLimit,
    banMs: options.banMs,
    maxConnectionAgeMs: options.maxConnectionAgeMs,
    pingIntervalMs: options.pingIntervalMs,
    legacySilent: options.legacySilent,
    aggTradesHistoryMs: options.aggTradesHistoryMs,
    startOnSubscribe: options.startOnSubscribe,
    blast: options.blast ? { chunkBytes: options.blastChunkBytes, onEvent: (event) => context.write(`${JSON.stringify(event)}\n`) } : undefined,
    logger: context.logger,
  };
  const exchange = await FakeExchange.start(exchangeOptions);
  context.write(
    `${JSON.stringify({
      restUrl: exchange.restUrl,
      wsUrl: exchange.wsUrl,
      marketStream: `${exchange.wsUrl}/market/stream?streams=`,
      adminFaults: `${exchange.restUrl}/_fake/faults`,
      symbols: exchange.market.symbols().length,
      ...(exchange.blast === undefined ? {} : { blast: { trades: exchange.blast.stats.trades } }),
    })}\n`,
  );
  context.onStarted?.(exchange);
  if (!context.signal.aborted) await new Promise<void>((resolve) => context.signal.addEventListener('abort', () => resolve(), { once: true }));
  await exchange.close();
  context.logger.info({ stats: exchange.stats() }, 'fake exchange stopped');
}

export function fakeExchangeCommand(host: CommandHost): Command {
  const ctx = contextOf(host);
  const command = new Command('fake-exchange');
  return command
    .description('run a local fake Binance USDⓈ-M futures exchange (REST + WebSocket on 127.0.0.1) serving recorded or generated trades')
    .option('--replay <file>', 'serve this aggTrade recording (one frame per line) instead of a generated market')
    .option('--speed <x|max>', 'with --replay: recorded time ÷ x, or max (as fast as clients take it)', speedOption, 1)
    .option('--symbols <n>', 'generated market: symbols listed from the start', integerOption('--symbols', 1, 100_000), 50)
    .option('--rate <trades/s>', 'generated market: mean trades per second, whole market', numberOption('--rate'), 200)
    .option('--seed <n>', 'generated market: seed', integerOption('--seed', 0, Number.MAX_SAFE_INTEGER), 1)
    .option('--listings <ms,...>', 'generated market: new symbols appear (PENDING_TRADING, trading 60 s later) this many ms after the start', listingsOption)
    .option('--delistings <symbol@ms,...>', 'generated market: symbols (name or index) go SETTLING (and stop trading) this many ms after the start', delistingsOption)
    .option('--port <p>', 'port on 127.0.0.1 (0: any free port)', integerOption('--port', 0, 65_535), 0)
    .option('--weight-limit <n>', 'REST IP weight per minute', integerOption('--weight-limit', 1, 1_000_000))
    .option('--ban-ms <ms>', 'ban length after an ignored 429', integerOption('--ban-ms', 0, 30 * 86_400_000))
    .option('--max-connection-age-ms <ms>', 'WebSocket connections are cut at this age', integerOption('--max-connection-age-ms', 1, 30 * 86_400_000))
    .option('--ping-interval-ms <ms>', 'server ping period', integerOption('--ping-interval-ms', 1, 86_400_000))
    .option('--agg-trades-history-ms <ms>', 'REST aggTrades keep only this much history', integerOption('--agg-trades-history-ms', 1, Number.MAX_SAFE_INTEGER))
    .option('--start-on-subscribe', 'publish only once a first @aggTrade stream is subscribed (a --speed max replay waits for its consumer)')
    .option('--blast', 'with --replay: a load generator — everything published at startup, each trade made into its WebSocket frame once, blasted onto the sockets once the connections cover every symbol (see below)')
    .option('--blast-chunk-bytes <n>', 'with --blast: bytes per socket write', integerOption('--blast-chunk-bytes', 1, 64 << 20), 256 * 1024)
    .option('--no-legacy-silent', 'let the legacy /ws and /stream routes deliver market data')
    .addHelpText('after', FAULTS_HELP)
    .action(async (opts: FakeExchangeCliOptions) => {
      // The fake exchange has no settings in klagg's configuration; the log settings come from it.
      const { logger } = ctx.configure(command);
      const releaseSignals = ctx.lifecycle.ensureSignals();
      const signal = ctx.lifecycle.stopSignal();
      signal.addEventListener('abort', () => logger.info({ signal: ctx.lifecycle.stopReason }, 'fake exchange: stopping'), { once: true });
      try {
        await runFakeExchange(opts, { logger, signal, write: (line) => process.stdout.write(line) });
      } finally {
        releaseSignals();
      }
    });
}

const FAULTS_HELP = `
Streams on /market/ws/<s> and /market/stream?streams=<s1>/<s2>: <symbol>@aggTrade, <symbol>@kline_<interval>, !miniTicker@arr.

--blast (a load generator that outruns its client; --speed and --start-on-subscribe do not apply): the whole
recording is published at startup and every trade is made into its complete WebSocket frame once, byte for byte what
the normal mode sends. When the connections that have not had a blast yet together subscribe every recorded symbol's
@aggTrade stream, a round starts: each of them gets its symbols' frames in recording order, in chunks written straight
onto its TCP socket (waiting for 'drain'). A connection gets one round; new connections covering every symbol again
make the next. REST aggTrades and klines show what the stream has sent so far (nothing before the first round; nothing
again once a round is over and its connections are gone); exchangeInfo lists every symbol. Kline streams send nothing;
faults on published trades do not touch the blast. Each round prints two JSON lines on stdout (at: ms since the epoch,
from performance.timeOrigin + performance.now()):
  {"event":"blastStart","round","at","connections","trades","frames","bytes"}
  {"event":"blastEnd","round","at","seconds","connections","trades","frames","bytes","complete","cpuUserMs","cpuSystemMs"}

Faults: POST a JSON object (or an array of them) to /_fake/faults; all times on the exchange's clock (ms):
  {"type":"dropConnections","symbol"?}          sockets destroyed without a close frame
  {"type":"stall","ms"}                          no market data for ms; frames meanwhile are lost
  {"type":"skipIds","symbol","count"}            the next count trades are not sent as aggTrades
  {"type":"duplicate","symbol","count"}          the last count trades are sent again
  {"type":"lag","ms","durationMs"}               for durationMs every market-data frame arrives ms late, in order
  {"type":"delay","symbol"?,"ms"}                aggTrades of the symbol (or all) held for ms, then all delivered
  {"type":"withholdTail","symbol","count","quietMs"?}
                                                 the next count trades never come as aggTrades (REST and klines
                                                 have them), then the symbol is quiet for quietMs (default 10000)
  {"type":"rest429"|"rest418","count","path"?}   the next count REST requests fail so
  {"type":"rest5xx","count","status"?,"path"?}   ... with a server error (default 503)
  {"type":"slowRest","ms","count","path"?}       ... are answered ms late
GET /_fake/faults and /_fake/stats show what was injected and what it did.`;

function integerOption(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || parsed < min || parsed > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    return parsed;
  };
}

function numberOption(name: string): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || !(parsed > 0)) throw new InvalidArgumentError(`${name} must be a number > 0, got ${JSON.stringify(value)}`);
    return parsed;
  };
}

function speedOption(value: string): number | 'max' {
  if (value === 'max') return 'max';
  return numberOption('--speed')(value);
}

function listingsOption(value: string): ListingSpec[] {
  return value.split(',').map((part) => ({ atMs: integerOption('--listings', 0, Number.MAX_SAFE_INTEGER)(part.trim()) }));
}

function delistingsOption(value: string): DelistingSpec[] {
  return value.split(',').map((part) => {
    const match = /^([A-Za-z0-9]+)@(\d+)$/.exec(part.trim());
    if (!match) throw new InvalidArgumentError(`--delistings takes symbol@ms (symbol: a name or an index), got ${JSON.stringify(part)}`);
    const [, symbol, at] = match as unknown as [string, string, string];
    return { symbol: /^\d+$/.test(symbol) ? Number(symbol) : symbol, atMs: Number(at) };
  });
}
