/**
 * Fault injection: what goes wrong on a real exchange, on request. Callable in-process, and through the admin route
 * `POST /_fake/faults` (JSON, see `FaultSpec`) so a chaos tool in another process can trigger them.
 *
 * WebSocket faults act through the hub the FakeExchange attaches; REST faults queue up and are consumed by the next
 * matching requests (optionally only those of one path), in the order they were injected.
 *
 * The faults (all times on the fake's clock):
 * - `dropConnections {symbol?}`: sockets destroyed without a close frame (all, or those subscribed to the symbol).
 * - `stall {ms}`: open connections get no market data for `ms`; what is published meanwhile is LOST for them.
 * - `skipIds {symbol, count}`: the symbol's next `count` trades are not sent as aggTrade frames (REST, klines have them).
 * - `duplicate {symbol, count}`: the symbol's last `count` trades are sent again, now.
 * - `lag {ms, durationMs}`: for `durationMs`, every market-data frame (aggTrade, kline, miniTicker) on every connection
 *   is delivered `ms` late; order is kept (frames after the window wait behind lagged ones), nothing is lost.
 * - `delay {symbol?, ms}`: the aggTrade frames of the symbol (or of all symbols) are held for `ms`, then delivered all,
 *   in order — a stall that loses nothing (kline frames are not held: the kline stream runs on independently).
 * - `withholdTail {symbol, count, quietMs?}`: the symbol's next `count` trades are never sent as aggTrade frames (REST
 *   aggTrades, the klines and the kline stream have them), and after the last of them the symbol publishes nothing
 *   for `quietMs` (default 10 000) of market time: its later trades are deferred (re-timed to their new publication
 *   time, ids unchanged), so no later aggTrade reveals the lost tail. Works for generated and recorded markets.
 * - `rest429 / rest418 / rest5xx {count, status?, path?}`: the next `count` REST requests fail so.
 * - `slowRest {ms, count, path?}`: the next `count` REST requests are answered `ms` late.
 *
 * This file holds the fault kinds, their checks and the Faults front; the pending per-symbol skips and withholds live
 * in withheld-trades.ts, the pending REST faults in rest-fault-queue.ts.
 */
import { RestFaultQueue, type RestFaultKind } from './rest-fault-queue.ts';
import { WithheldTrades } from './withheld-trades.ts';

/** What the WebSocket side must do for the WS faults. */
export interface WsFaultTarget {
  /** Destroys the sockets (no close frame) of every connection, or of those subscribed to the symbol; returns how many. */
  dropConnections(symbol?: string): number;
  /** Stops sending market data on the open connections for `ms` (frames meanwhile are lost); returns how many. */
  stall(ms: number): number;
  /** Sends the symbol's last `count` published trades again to its subscribers; returns how many trades. */
  duplicate(symbol: string, count: number): number;
  /** Delivers every market-data frame `ms` late for `durationMs` (order kept, nothing lost); returns the open connections. */
  lag(ms: number, durationMs: number): number;
  /** Holds the aggTrade frames of `symbol` (undefined: every symbol) for `ms`, then sends them all in order. */
  delay(symbol: string | undefined, ms: number): void;
}

/** What the market must do for `withholdTail`. */
export interface MarketFaultTarget {
  /** Whether the market lists the symbol. */
  hasSymbol(symbol: string): boolean;
  /** The symbol publishes nothing for `ms` from the market's current time: its later trades are deferred. */
  quiet(symbol: string, ms: number): void;
}

/** Default quiet spell after a withheld tail. */
export const DEFAULT_QUIET_MS = 10_000;

export type FaultSpec =
  | { readonly type: 'dropConnections'; readonly symbol?: string }
  | { readonly type: 'stall'; readonly ms: number }
  | { readonly type: 'skipIds'; readonly symbol: string; readonly count: number }
  | { readonly type: 'duplicate'; readonly symbol: string; readonly count: number }
  | { readonly type: 'lag'; readonly ms: number; readonly durationMs: number }
  | { readonly type: 'delay'; readonly symbol?: string; readonly ms: number }
  | { readonly type: 'withholdTail'; readonly symbol: string; readonly count: number; readonly quietMs?: number }
  | { readonly type: 'rest429'; readonly count: number; readonly path?: string }
  | { readonly type: 'rest418'; readonly count: number; readonly path?: string }
  | { readonly type: 'rest5xx'; readonly count: number; readonly status?: number; readonly path?: string }
  | { readonly type: 'slowRest'; readonly ms: number; readonly count: number; readonly path?: string };

export type FaultType = FaultSpec['type'];

export const FAULT_TYPES: readonly FaultType[] = [
  'dropConnections',
  'stall',
  'skipIds',
  'duplicate',
  'lag',
  'delay',
  'withholdTail',
  'rest429',
  'rest418',
  'rest5xx',
  'slowRest',
];

export interface FaultEffects {
  droppedConnections: number;
  stalledConnections: number;
  /** Trades not sent over WebSocket because of skipIds. */
  skippedTrades: number;
  /** Trades sent again because of duplicate. */
  duplicatedTrades: number;
  /** Market-data frames (per connection) delivered late because of lag, including those queued behind them. */
  laggedFrames: number;
  /** aggTrade events (per trade, whatever the number of subscribers) held back by delay. */
  delayedFrames: number;
  /** Trades never sent over WebSocket because of withholdTail. */
  withheldTrades: number;
  /** Quiet spells begun by withholdTail. */
  quietSpells: number;
  /** REST responses replaced or delayed by a fault. */
  rest429: number;
  rest418: number;
  rest5xx: number;
  slowRest: number;
}

/** The REST failure a request gets instead of its answer. */
export interface RestFailure {
  readonly status: 429 | 418 | number;
}

export class FaultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FaultError';
  }
}

export class Faults {
  /** How many times each fault was injected. */
  readonly injected: Record<FaultType, number> = Object.fromEntries(FAULT_TYPES.map((type) => [type, 0])) as Record<FaultType, number>;
  readonly effects: FaultEffects = {
    droppedConnections: 0,
    stalledConnections: 0,
    skippedTrades: 0,
    duplicatedTrades: 0,
    laggedFrames: 0,
    delayedFrames: 0,
    withheldTrades: 0,
    quietSpells: 0,
    rest429: 0,
    rest418: 0,
    rest5xx: 0,
    slowRest: 0,
  };
  #ws: WsFaultTarget | undefined;
  #market: MarketFaultTarget | undefined;
  readonly #held = new WithheldTrades();
  readonly #rest = new RestFaultQueue();

  attach(target: WsFaultTarget): void {
    this.#ws = target;
  }

  /** The market `withholdTail` defers trades in. */
  attachMarket(target: MarketFaultTarget): void {
    this.#market = target;
  }

  /** Destroys sockets without a close frame (all, or those subscribed to `symbol`); returns how many. */
  dropConnections(options: { readonly symbol?: string } = {}): number {
    this.injected.dropConnections++;
    const dropped = this.#target().dropConnections(options.symbol);
    this.effects.droppedConnections += dropped;
    return dropped;
  }

  /** Open connections stay open but get no market data for `ms`; what is published meanwhile is not sent. */
  stall(options: { readonly ms: number }): number {
    requireCount(options.ms, 'ms');
    this.injected.stall++;
    const stalled = this.#target().stall(options.ms);
    this.effects.stalledConnections += stalled;
    return stalled;
  }

  /** The symbol's next `count` published trades are not sent over WebSocket (REST still has them). */
  skipIds(options: { readonly symbol: string; readonly count: number }): void {
    requireSymbol(options.symbol);
    requireCount(options.count, 'count');
    this.injected.skipIds++;
    this.#held.addSkips(options.symbol, options.count);
  }

  /** The symbol's last `count` published trades are sent again, now; returns how many trades. */
  duplicate(options: { readonly symbol: string; readonly count: number }): number {
    requireSymbol(options.symbol);
    requireCount(options.count, 'count');
    this.injected.duplicate++;
    const sent = this.#target().duplicate(options.symbol, options.count);
    this.effects.duplicatedTrades += sent;
    return sent;
  }

  /**
   * For `durationMs`, every market-data frame on every connection (aggTrade, kline, miniTicker) is delivered `ms` late,
   * in order; nothing is lost. A new lag replaces a running one. Returns the connections open now.
   */
  lag(options: { readonly ms: number; readonly durationMs: number }): number {
    requireCount(options.ms, 'ms');
    requireCount(options.durationMs, 'durationMs');
    this.injected.lag++;
    return this.#target().lag(options.ms, options.durationMs);
  }

  /** The aggTrade frames of `symbol` (or of every symbol) are held for `ms`, then all delivered in order. */
  delay(options: { readonly symbol?: string; readonly ms: number }): void {
    if (options.symbol !== undefined) requireSymbol(options.symbol);
    requireCount(options.ms, 'ms');
    this.injected.delay++;
    this.#target().delay(options.symbol, options.ms);
  }

  /**
   * The symbol's next `count` published trades are never sent as aggTrade frames (REST and klines have them); after
   * the last of them the symbol publishes nothing for `quietMs` (default 10 000) of market time. With `count` 0 the
   * quiet spell starts now.
   */
  withholdTail(options: { readonly symbol: string; readonly count: number; readonly quietMs?: number }): void {
    requireSymbol(options.symbol);
    requireCount(options.count, 'count');
    const quietMs = options.quietMs ?? DEFAULT_QUIET_MS;
    requireCount(quietMs, 'quietMs');
    const market = this.#market;
    if (market === undefined) throw new FaultError('withholdTail: no market is attached');
    if (!market.hasSymbol(options.symbol)) throw new FaultError(`withholdTail: unknown symbol ${JSON.stringify(options.symbol)}`);
    this.#target();
    this.injected.withholdTail++;
    if (options.count === 0) {
      this.#beginQuiet(options.symbol, quietMs);
      return;
    }
    this.#held.addWithhold(options.symbol, options.count, quietMs);
  }

  /** The next `count` REST requests (of `path`, if given) get HTTP 429 / -1003. */
  rest429(options: { readonly count: number; readonly path?: string }): void {
    this.#queue('rest429', options.count, options.path, 429, 0);
  }

  /** The next `count` REST requests get HTTP 418 (an IP ban message); no real ban is recorded. */
  rest418(options: { readonly count: number; readonly path?: string }): void {
    this.#queue('rest418', options.count, options.path, 418, 0);
  }

  /** The next `count` REST requests get a server error (`status`, default 503). */
  rest5xx(options: { readonly count: number; readonly status?: number; readonly path?: string }): void {
    const status = options.status ?? 503;
    if (!Number.isInteger(status) || status < 500 || status > 599) throw new FaultError(`status must be 500–599, got ${String(status)}`);
    this.#queue('rest5xx', options.count, options.path, status, 0);
  }

  /** The next `count` REST requests are answered `ms` late. */
  slowRest(options: { readonly ms: number; readonly count: number; readonly path?: string }): void {
    requireCount(options.ms, 'ms');
    this.#queue('slowRest', options.count, options.path, 0, options.ms);
  }

  /** Injects a fault described as data (the admin route's body); returns what the in-process call returned. */
  inject(spec: FaultSpec): { type: FaultType; result: number | null } {
    if (typeof spec !== 'object' || spec === null) throw new FaultError('a fault is a JSON object with a "type"');
    const s = spec as unknown as Record<string, unknown>;
    const num = (name: string, fallback?: number): number => {
      const value = s[name] ?? fallback;
      if (typeof value !== 'number') throw new FaultError(`${String(s['type'])}: "${name}" must be a number`);
      return value;
    };
    const str = (name: string): string => {
      const value = s[name];
      if (typeof value !== 'string') throw new FaultError(`${String(s['type'])}: "${name}" must be a string`);
      return value;
    };
    const optStr = (name: string): string | undefined => (s[name] === undefined ? undefined : str(name));
    switch (s['type']) {
      case 'dropConnections':
        return { type: 'dropConnections', result: this.dropConnections({ symbol: optStr('symbol') }) };
      case 'stall':
        return { type: 'stall', result: this.stall({ ms: num('ms') }) };
      case 'skipIds':
        this.skipIds({ symbol: str('symbol'), count: num('count') });
        return { type: 'skipIds', result: null };
      case 'duplicate':
        return { type: 'duplicate', result: this.duplicate({ symbol: str('symbol'), count: num('count') }) };
      case 'lag':
        return { type: 'lag', result: this.lag({ ms: num('ms'), durationMs: num('durationMs') }) };
      case 'delay':
        this.delay({ symbol: optStr('symbol'), ms: num('ms') });
        return { type: 'delay', result: null };
      case 'withholdTail':
        this.withholdTail({ symbol: str('symbol'), count: num('count'), quietMs: num('quietMs', DEFAULT_QUIET_MS) });
        return { type: 'withholdTail', result: null };
      case 'rest429':
        this.rest429({ count: num('count'), path: optStr('path') });
        return { type: 'rest429', result: null };
      case 'rest418':
        this.rest418({ count: num('count'), path: optStr('path') });
        return { type: 'rest418', result: null };
      case 'rest5xx':
        this.rest5xx({ count: num('count'), status: num('status', 503), path: optStr('path') });
        return { type: 'rest5xx', result: null };
      case 'slowRest':
        this.slowRest({ ms: num('ms'), count: num('count'), path: optStr('path') });
        return { type: 'slowRest', result: null };
      default:
        throw new FaultError(`unknown fault type ${JSON.stringify(s['type'])}: expected one of ${FAULT_TYPES.join(', ')}`);
    }
  }

  /**
   * Forgets every pending fault (queued REST faults, pending skips and withholds). Counters stay; lags, delays and
   * quiet spells already running run their course.
   */
  clear(): void {
    this.#held.clear();
    this.#rest.clear();
  }

  /** Pending skips, withholds (only when there are some) and REST faults, for stats. */
  pending(): { skips: Record<string, number>; withholds?: Record<string, number>; rest: { kind: string; remaining: number; path?: string }[] } {
    return { ...this.#held.pending(), rest: this.#rest.pending() };
  }

  // ---- consumed by the REST and WS sides ---------------------------------------------------------------------------

  /** True when this trade of `symbol` must not be sent over WebSocket (consumes one skip). */
  takeSkip(symbol: string): boolean {
    if (!this.#held.takeSkip(symbol)) return false;
    this.effects.skippedTrades++;
    return true;
  }

  /**
   * True when this published trade of `symbol` must never be sent over WebSocket (consumes one withhold); the last
   * withheld trade starts the symbol's quiet spell (from the market's current time, i.e. that trade's publication).
   */
  takeWithheld(symbol: string): boolean {
    const withheld = this.#held.takeWithheld(symbol);
    if (withheld === undefined) return false;
    this.effects.withheldTrades++;
    if (withheld.last) this.#beginQuiet(symbol, withheld.quietMs);
    return true;
  }

  /** Counts market-data frames delivered late because of lag. */
  noteLagged(frames = 1): void {
    this.effects.laggedFrames += frames;
  }

  /** Counts aggTrade events held back by delay. */
  noteDelayed(events = 1): void {
    this.effects.delayedFrames += events;
  }

  #beginQuiet(symbol: string, quietMs: number): void {
    this.effects.quietSpells++;
    if (quietMs > 0) this.#market?.quiet(symbol, quietMs);
  }

  /** How long a request for `path` is to be delayed (consumes one slowRest). */
  takeRestDelay(path: string): number {
    const pending = this.#rest.takeDelay(path);
    if (pending === undefined) return 0;
    this.effects.slowRest++;
    return pending.ms;
  }

  /** The failure a request for `path` gets instead of its answer, if one is queued (consumes it). */
  takeRestFailure(path: string): RestFailure | undefined {
    const pending = this.#rest.takeFailure(path);
    if (pending === undefined) return undefined;
    this.effects[pending.kind]++;
    return { status: pending.status };
  }

  #queue(kind: RestFaultKind, count: number, path: string | undefined, status: number, ms: number): void {
    requireCount(count, 'count');
    if (path !== undefined && typeof path !== 'string') throw new FaultError('path must be a string');
    this.injected[kind]++;
    this.#rest.add(kind, count, path, status, ms);
  }

  #target(): WsFaultTarget {
    if (this.#ws === undefined) throw new FaultError('no WebSocket side is attached');
    return this.#ws;
  }
}

function requireCount(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new FaultError(`${name} must be a whole number ≥ 0, got ${String(value)}`);
}

function requireSymbol(symbol: string): void {
  if (typeof symbol !== 'string' || symbol.length === 0) throw new FaultError('symbol must be a non-empty string');
}
