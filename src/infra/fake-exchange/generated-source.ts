/**
 * A generated market (domain/synthetic-market.ts) with a life: the listed symbols trade from the start; listings
 * appear PENDING_TRADING, turn TRADING and start trading at their own rate; delistings go SETTLING (and stop trading),
 * then CLOSE. Trade times are on the market's clock, so a trade is due when the clock reaches its time.
 */
import type { AggTrade } from '../../domain/agg-trade.ts';
import { hashSeed } from '../../domain/seeded-random.ts';
import { generateTrades } from '../../domain/synthetic-market.ts';
import { syntheticSymbols, type SyntheticSymbol } from '../../domain/synthetic-symbols.ts';
import { baseAssetOf, decimalsOf, PERPETUAL_DELIVERY_DATE, type SymbolInfo, type SymbolStatus } from './symbol-info.ts';

export interface ListingSpec {
  /** When the new symbol appears in exchangeInfo (PENDING_TRADING), ms after the market's start. */
  readonly atMs: number;
  /** How long it stays PENDING_TRADING before it turns TRADING and starts trading (its onboardDate); default 60 000. */
  readonly pendingMs?: number;
  /** Its trades per second once trading; default the market's rate ÷ its symbol count (at least 1). */
  readonly rate?: number;
}

export interface DelistingSpec {
  /** The symbol's name, or its position among the initial symbols (0 = the most active). */
  readonly symbol: string | number;
  /** When it goes SETTLING and stops trading, ms after the market's start. */
  readonly atMs: number;
  /** How long after that it turns CLOSE; default 60 000. */
  readonly closeAfterMs?: number;
}

export interface GeneratedSource {
  readonly kind: 'generated';
  /** Symbols listed (and trading) from the start. */
  readonly symbols: number;
  /** Whole-market mean trades per second (bursty around it). */
  readonly rate: number;
  readonly seed: number;
  /** The market's first moment (ms); default the clock's time when the market is made. */
  readonly startTime?: number;
  /**
   * A past before `startTime`: the initial symbols have traded since `startTime − historyMs` (their listing), at
   * `historyRate` trades per second (whole market; default `rate`) — the same generator, so ids and prices run on into
   * the live trades. It is due at once: REST serves it (aggTrades, klines) from the start. Default 0.
   */
  readonly historyMs?: number;
  readonly historyRate?: number;
  /** Stop after this many trades (then `done` resolves); default unlimited. */
  readonly trades?: number;
  readonly listings?: readonly ListingSpec[];
  readonly delistings?: readonly DelistingSpec[];
  /** Passed to the generator (see SyntheticMarketOptions); defaults 0.9 and true. */
  readonly burstiness?: number;
  readonly quietPeriods?: boolean;
}

/** A status change at a moment of market time; `appear` lists a symbol not shown before. */
export interface StatusEvent {
  readonly at: number;
  readonly symbol: string;
  readonly status: SymbolStatus;
  readonly info?: SymbolInfo;
  readonly deliveryDate?: number;
}

export interface GeneratedPlan {
  readonly startTime: number;
  /** Symbols shown from the start. */
  readonly initial: SymbolInfo[];
  /** Sorted by `at`. */
  readonly events: StatusEvent[];
  /** Per symbol, the market-time span [from, until) in which its trades are published. */
  readonly tradingSpans: Map<string, { from: number; until: number }>;
  readonly feed: TradeFeed;
}

/** Trades in publishing order. */
export interface TradeFeed {
  peek(): AggTrade | undefined;
  take(): AggTrade | undefined;
}

const DAY = 86_400_000;
const UNLIMITED = Number.MAX_SAFE_INTEGER;

export function planGeneratedMarket(source: GeneratedSource, now: number): GeneratedPlan {
  const startTime = Math.floor(source.startTime ?? now);
  const listings = source.listings ?? [];
  if (!(source.rate > 0)) throw new RangeError(`rate must be > 0, got ${source.rate}`);
  const specs = syntheticSymbols(source.seed, source.symbols + listings.length);
  const baseSpecs = specs.slice(0, source.symbols);
  const historyMs = source.historyMs ?? 0;
  if (!(Number.isSafeInteger(historyMs) && historyMs >= 0 && historyMs <= startTime)) throw new RangeError(`historyMs must be a whole number of ms from 0 to startTime, got ${historyMs}`);
  const historyStart = startTime - historyMs;
  // With a history the symbols are listed when it starts (their first trade); else long before the market starts.
  const onboard = historyMs > 0 ? historyStart : Math.floor(startTime / DAY) * DAY - 90 * DAY;
  const initial = baseSpecs.map((spec) => infoOf(spec, 'TRADING', onboard, PERPETUAL_DELIVERY_DATE));
  const tradingSpans = new Map<string, { from: number; until: number }>();
  for (const info of initial) tradingSpans.set(info.symbol, { from: Number.NEGATIVE_INFINITY, until: Number.POSITIVE_INFINITY });

  const common = { burstiness: source.burstiness, quietPeriods: source.quietPeriods };
  const generators: Iterator<AggTrade>[] = [
    generateTrades({
      seed: source.seed,
      symbols: source.symbols,
      startTime: historyStart,
      trades: UNLIMITED,
      meanRatePerSecond: source.rate,
      symbolSpecs: baseSpecs,
      ...(historyMs > 0 ? { historyUntil: startTime, historyRatePerSecond: source.historyRate ?? source.rate } : {}),
      ...common,
    }),
  ];
  const events: StatusEvent[] = [];
  listings.forEach((listing, i) => {
    const spec = specs[source.symbols + i]!;
    const appearAt = startTime + listing.atMs;
    const tradingAt = appearAt + (listing.pendingMs ?? 60_000);
    events.push({ at: appearAt, symbol: spec.symbol, status: 'PENDING_TRADING', info: infoOf(spec, 'PENDING_TRADING', tradingAt, PERPETUAL_DELIVERY_DATE) });
    events.push({ at: tradingAt, symbol: spec.symbol, status: 'TRADING' });
    tradingSpans.set(spec.symbol, { from: tradingAt, until: Number.POSITIVE_INFINITY });
    const rate = listing.rate ?? Math.max(1, source.rate / Math.max(1, source.symbols));
    generators.push(
      generateTrades({ seed: hashSeed(source.seed, 0x115c, i), symbols: 1, startTime: tradingAt, trades: UNLIMITED, meanRatePerSecond: rate, symbolSpecs: [spec], burstiness: source.burstiness, quietPeriods: false }),
    );
  });
  for (const delisting of source.delistings ?? []) {
    const symbol = typeof delisting.symbol === 'number' ? baseSpecs[delisting.symbol]?.symbol : delisting.symbol;
    const span = symbol === undefined ? undefined : tradingSpans.get(symbol);
    if (symbol === undefined || span === undefined) throw new RangeError(`cannot delist ${String(delisting.symbol)}: no such symbol in the generated market`);
    const at = startTime + delisting.atMs;
    span.until = at;
    events.push({ at, symbol, status: 'SETTLING', deliveryDate: at });
    events.push({ at: at + (delisting.closeAfterMs ?? 60_000), symbol, status: 'CLOSE' });
  }
  events.sort((a, b) => a.at - b.at);
  return { startTime, initial, events, tradingSpans, feed: new MergedFeed(generators, source.trades ?? UNLIMITED) };
}

function infoOf(spec: SyntheticSymbol, status: SymbolStatus, onboardDate: number, deliveryDate: number): SymbolInfo {
  return {
    symbol: spec.symbol,
    baseAsset: baseAssetOf(spec.symbol),
    quoteAsset: 'USDT',
    contractType: 'PERPETUAL',
    tickSize: spec.tickSize,
    stepSize: spec.stepSize,
    priceScale: decimalsOf(spec.tickSize),
    qtyScale: decimalsOf(spec.stepSize),
    status,
    onboardDate,
    deliveryDate,
  };
}

/** Several time-ordered trade streams merged by trade time (ties: the earlier stream first), up to `limit` trades. */
class MergedFeed implements TradeFeed {
  readonly #generators: Iterator<AggTrade>[];
  readonly #heads: (AggTrade | undefined)[];
  #remaining: number;

  constructor(generators: Iterator<AggTrade>[], limit: number) {
    this.#generators = generators;
    this.#heads = generators.map((generator) => generator.next().value as AggTrade | undefined);
    this.#remaining = limit;
  }

  #earliest(): number {
    let best = -1;
    for (let i = 0; i < this.#heads.length; i++) {
      const head = this.#heads[i];
      if (head !== undefined && (best < 0 || head.tradeTime < this.#heads[best]!.tradeTime)) best = i;
    }
    return best;
  }

  peek(): AggTrade | undefined {
    if (this.#remaining <= 0) return undefined;
    const i = this.#earliest();
    return i < 0 ? undefined : this.#heads[i];
  }

  take(): AggTrade | undefined {
    if (this.#remaining <= 0) return undefined;
    const i = this.#earliest();
    if (i < 0) return undefined;
    const trade = this.#heads[i];
    this.#heads[i] = this.#generators[i]!.next().value as AggTrade | undefined;
    this.#remaining--;
    return trade;
  }
}
