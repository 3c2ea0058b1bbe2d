/**
 * The kline engine: aggregate trades in, exchange-exact klines out.
 *
 * It is a pure function of its inputs — trades, time advances (watermarks) and gap decisions — and never reads a
 * clock. All state sits in one Float64Array (a fixed stride per symbol × interval) plus a few per-symbol columns,
 * so a trade touches no object and allocates nothing; objects are made only when a kline is emitted. The whole state
 * snapshots to a versioned plain object and restores to an engine that continues exactly as the original would.
 */
import { addWide, addWideProduct, formatScaled, formatWide, MAX_SCALE, parseWide, POW10, rescaleMantissa, scaleWide } from './decimal.ts';
import { fixedLengthMs, nextOpenTime, openTimeOf, type IntervalName } from './interval.ts';
import type { Kline } from './kline.ts';
import { KlaggError } from './errors.ts';

/** What happened to one trade. */
export const TradeOutcome = {
  Applied: 0,
  /** `a` ≤ the last applied id: dropped and counted. */
  Duplicate: 1,
  /** `a` > last + 1: not applied; the caller repairs the gap or accepts it (`acceptGap`) and offers the trade again. */
  Gap: 2,
  /**
   * Never returned any more (kept so the numbering of outcomes stays stable): a trade for a period that is already
   * final is applied to it and the kline is emitted again as a revision (see `applyTrade`). Late is never dropped.
   */
  Late: 3,
  /** The price or quantity cannot be held exactly even after growing the symbol's scale. */
  Unrepresentable: 4,
} as const;
export type TradeOutcome = (typeof TradeOutcome)[keyof typeof TradeOutcome];

export interface KlineEngineOptions {
  readonly intervals: readonly IntervalName[];
  /** How long after a period's close a time advance waits before finalizing it (quiet symbols). */
  readonly graceMs: number;
}

export interface SymbolScales {
  /** Decimals of prices (from the tick size). */
  readonly priceScale: number;
  /** Decimals of quantities (from the step size). */
  readonly qtyScale: number;
}

/** Receives everything the engine emits, synchronously and in a deterministic order. */
export interface KlineSink {
  /**
   * A kline that just became final; emitted once per (symbol, interval, openTime, revision). A revision (revision ≥ 1)
   * is a final kline corrected by a late trade: same key, higher revision, the corrected values. `amendment` is true
   * when a late trade just changed it; false for an installed (stored) final that trades continued (a restart).
   */
  onFinal(kline: Kline, amendment?: boolean): void;
  /**
   * A late trade fell into a period older than the last final kline the engine remembers for that interval: the
   * trade is counted in every period the engine still holds, but the klines of `interval` from `fromOpenTime` to
   * `toOpenTime` (open times, inclusive) can only be made exact from the exchange's klines. Never silent.
   */
  onRebuildNeeded?(symbol: string, interval: IntervalName, fromOpenTime: number, toOpenTime: number): void;
}

export interface EngineCounters {
  applied: number;
  duplicates: number;
  gaps: number;
  /** Trades skipped over by accepted gaps (lost unless repaired elsewhere). */
  acceptedGapTrades: number;
  /** Trades dropped because their period was final. Always 0: late trades amend their period instead. */
  late: number;
  /** Late trades applied to a period that was already final (its kline emitted again as a revision). */
  amended: number;
  /** Revised final klines emitted (a late trade can revise one kline per interval). */
  revisions: number;
  /** Late trades older than the remembered final of some interval: that interval's klines go to the rebuild path. */
  lateBeyondMemory: number;
  unrepresentable: number;
  finals: number;
  scaleChanges: number;
}

/** Details of the most recent `Gap` outcome (kept in fields so the hot path allocates nothing). */
export interface GapInfo {
  symbol: string;
  /** First missing aggregate id. */
  fromId: number;
  /** Last missing aggregate id. */
  toId: number;
}

export const ENGINE_SNAPSHOT_VERSION = 2;

export interface EngineSnapshot {
  readonly version: typeof ENGINE_SNAPSHOT_VERSION;
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
  readonly finished: boolean;
  readonly counters: EngineCounters;
  readonly symbols: readonly SymbolSnapshot[];
}

export interface SymbolSnapshot {
  readonly symbol: string;
  readonly priceScale: number;
  readonly qtyScale: number;
  readonly lastAggId: number;
  /** Per interval, the slot's cells (see the layout below), or null while the interval has no kline yet. */
  readonly slots: readonly (readonly number[] | null)[];
  /** Per interval, the last final kline's cells (the amendment memory), or null. */
  readonly finals: readonly (readonly number[] | null)[];
}

// Slot layout: one kline per symbol × interval, STRIDE doubles each.
const OPEN_TIME = 0;
const NEXT_OPEN = 1;
const OPEN = 2;
const HIGH = 3;
const LOW = 4;
const CLOSE = 5;
const VOLUME = 6; // two limbs: 6, 7
const QUOTE = 8; // 8, 9
const TAKER_VOLUME = 10; // 10, 11
const TAKER_QUOTE = 12; // 12, 13
const COUNT = 14;
const FIRST_ID = 15;
const LAST_ID = 16;
const LAST_AGG = 17;
const STATE = 18;
/** The revision the slot's kline carries: 0 for a kline never emitted as final before. */
const REVISION = 19;
const STRIDE = 20;
/** Bytes of one kline slot; the amendment memory (the last final kline) takes one per symbol × interval. */
export const KLINE_SLOT_BYTES = STRIDE * Float64Array.BYTES_PER_ELEMENT;

const STATE_EMPTY = 0; // no kline yet for this interval (in the amendment memory: nothing remembered)
const STATE_OPEN = 1;
/**
 * A final kline installed from the store (a restart): it stands as the current period, so a trade that still belongs
 * to it turns it into an open kline of the next revision; if none does, its roll emits nothing (it is stored already).
 */
const STATE_INSTALLED_FINAL = 2;

export class KlineEngine {
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
  readonly counters: EngineCounters = {
    applied: 0,
    duplicates: 0,
    gaps: 0,
    acceptedGapTrades: 0,
    late: 0,
    amended: 0,
    revisions: 0,
    lateBeyondMemory: 0,
    unrepresentable: 0,
    finals: 0,
    scaleChanges: 0,
  };
  readonly lastGap: GapInfo = { symbol: '', fromId: 0, toId: 0 };

  readonly #sink: KlineSink;
  readonly #lengths: Float64Array; // per interval; 0 for calendar months
  readonly #perSymbol: number; // STRIDE × intervals
  #cells: Float64Array;
  /**
   * The amendment memory: per symbol × interval, the last final kline (same layout), so a late trade can correct it
   * exactly and emit it again as a revision. Older finals take the rebuild path (the exchange's klines).
   */
  #finalCells: Float64Array;
  /** Per symbol: 1 while time may not finalize its klines (a restart or a gap is being repaired first). */
  #timeHeld = new Uint8Array(64);
  #names: string[] = [];
  #index = new Map<string, number>();
  #priceScale: number[] = [];
  #qtyScale: number[] = [];
  #lastAggId: number[] = [];
  /** Per symbol, the latest open time over its intervals: a trade before it falls in a finalized period. */
  #floorTime: number[] = [];
  /** A lower bound of the earliest `nextOpen + grace` over open slots: below it a time advance has nothing to do. */
  #nextDeadline = Number.POSITIVE_INFINITY;
  #finished = false;
  /** Slots changed since the last `takeChanged()`, each listed once (coalescing: only the latest state is served). */
  #dirty = new Uint8Array(64 * 8);
  #changed: number[] = [];

  constructor(options: KlineEngineOptions, sink: KlineSink) {
    if (options.intervals.length === 0) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'the engine needs at least one interval' });
    if (new Set(options.intervals).size !== options.intervals.length) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'intervals must not repeat' });
    if (!(options.graceMs >= 0)) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `graceMs must be ≥ 0, got ${options.graceMs}` });
    this.intervals = [...options.intervals];
    this.graceMs = options.graceMs;
    this.#sink = sink;
    this.#lengths = Float64Array.from(this.intervals, (interval) => fixedLengthMs(interval === '1M' ? '1M' : interval) ?? 0);
    this.#perSymbol = STRIDE * this.intervals.length;
    this.#cells = new Float64Array(this.#perSymbol * 64);
    this.#finalCells = new Float64Array(this.#perSymbol * 64);
  }

  /** True once `finish` ran: no trade is taken any more. */
  get isFinished(): boolean {
    return this.#finished;
  }

  get symbolCount(): number {
    return this.#names.length;
  }

  symbolName(index: number): string {
    const name = this.#names[index];
    if (name === undefined) throw new RangeError(`no symbol at index ${index}`);
    return name;
  }

  symbolIndex(symbol: string): number | undefined {
    return this.#index.get(symbol);
  }

  scalesOf(index: number): SymbolScales {
    return { priceScale: this.#priceScale[index]!, qtyScale: this.#qtyScale[index]! };
  }

  lastAggIdOf(index: number): number {
    return this.#lastAggId[index]!;
  }

  /** Registers a symbol and returns its index; registering a known symbol returns the existing index. */
  addSymbol(symbol: string, scales: SymbolScales): number {
    const known = this.#index.get(symbol);
    if (known !== undefined) return known;
    checkScale(scales.priceScale, 'priceScale');
    checkScale(scales.qtyScale, 'qtyScale');
    const index = this.#names.length;
    if ((index + 1) * this.#perSymbol > this.#cells.length) {
      const grown = new Float64Array(this.#cells.length * 2);
      grown.set(this.#cells);
      this.#cells = grown;
      const grownFinals = new Float64Array(this.#finalCells.length * 2);
      grownFinals.set(this.#finalCells);
      this.#finalCells = grownFinals;
    }
    if (index + 1 > this.#timeHeld.length) {
      const grown = new Uint8Array(this.#timeHeld.length * 2);
      grown.set(this.#timeHeld);
      this.#timeHeld = grown;
    }
    if ((index + 1) * this.intervals.length > this.#dirty.length) {
      const grown = new Uint8Array(this.#dirty.length * 2);
      grown.set(this.#dirty);
      this.#dirty = grown;
    }
    this.#names.push(symbol);
    this.#index.set(symbol, index);
    this.#priceScale.push(scales.priceScale);
    this.#qtyScale.push(scales.qtyScale);
    this.#lastAggId.push(-1);
    this.#floorTime.push(Number.NEGATIVE_INFINITY);
    return index;
  }

  /**
   * Applies one aggregate trade. Prices and quantities come as (mantissa, decimals) pairs: `"0.00141342"` is
   * (141342, 8). This is the hot path: plain arithmetic on the cell array, no allocation.
   */
  applyTrade(
    symbol: number,
    aggId: number,
    priceMantissa: number,
    priceDecimals: number,
    qtyMantissa: number,
    qtyDecimals: number,
    firstTradeId: number,
    lastTradeId: number,
    tradeTime: number,
    buyerIsMaker: boolean,
  ): TradeOutcome {
    if (this.#finished) throw new KlaggError('KLAGG_ERR_ENGINE_FINISHED', {});
    const last = this.#lastAggId[symbol]!;
    if (last >= 0) {
      if (aggId <= last) {
        this.counters.duplicates++;
        return TradeOutcome.Duplicate;
      }
      if (aggId !== last + 1) {
        this.counters.gaps++;
        this.lastGap.symbol = this.#names[symbol]!;
        this.lastGap.fromId = last + 1;
        this.lastGap.toId = aggId - 1;
        return TradeOutcome.Gap;
      }
    }
    let price = rescaleMantissa(priceMantissa, priceDecimals, this.#priceScale[symbol]!);
    let qty = rescaleMantissa(qtyMantissa, qtyDecimals, this.#qtyScale[symbol]!);
    if (Number.isNaN(price) || Number.isNaN(qty)) {
      if (!this.#growScale(symbol, Math.max(this.#priceScale[symbol]!, priceDecimals), Math.max(this.#qtyScale[symbol]!, qtyDecimals))) {
        this.counters.unrepresentable++;
        return TradeOutcome.Unrepresentable;
      }
      price = rescaleMantissa(priceMantissa, priceDecimals, this.#priceScale[symbol]!);
      qty = rescaleMantissa(qtyMantissa, qtyDecimals, this.#qtyScale[symbol]!);
      if (Number.isNaN(price) || Number.isNaN(qty)) {
        this.counters.unrepresentable++;
        return TradeOutcome.Unrepresentable;
      }
    }

    if (tradeTime < this.#floorTime[symbol]!) {
      this.#applyLate(symbol, aggId, price, qty, firstTradeId, lastTradeId, tradeTime, !buyerIsMaker);
      return TradeOutcome.Applied;
    }

    const cells = this.#cells;
    let at = symbol * this.#perSymbol;
    for (let i = 0; i < this.#lengths.length; i++, at += STRIDE) {
      if (cells[at + STATE] === STATE_EMPTY) this.#openFirst(symbol, i, at, tradeTime);
      else if (tradeTime >= cells[at + NEXT_OPEN]!) this.#roll(symbol, i, at, tradeTime);
      accumulate(cells, at, price, qty, firstTradeId, lastTradeId, aggId, !buyerIsMaker);
      this.#markChanged(at);
    }
    this.#lastAggId[symbol] = aggId;
    this.counters.applied++;
    return TradeOutcome.Applied;
  }

  /**
   * A trade for a period that time already finalized (the stream lagged past the grace, a gap was repaired after the
   * period closed, a restart): per interval it lands in the open kline when that still holds its time, else in the
   * remembered last final kline, which is emitted again as the next revision. Older than that, the interval's klines
   * from the trade's period on are handed to the rebuild path. Flat klines after the trade take its price as their
   * close. The trade is never dropped.
   */
  #applyLate(symbol: number, aggId: number, price: number, qty: number, firstTradeId: number, lastTradeId: number, tradeTime: number, takerBuy: boolean): void {
    const cells = this.#cells;
    const finals = this.#finalCells;
    let amended = false;
    let beyond = false;
    let at = symbol * this.#perSymbol;
    for (let i = 0; i < this.#lengths.length; i++, at += STRIDE) {
      if (cells[at + STATE] === STATE_EMPTY) this.#openFirst(symbol, i, at, tradeTime);
      if (tradeTime >= cells[at + OPEN_TIME]!) {
        if (tradeTime >= cells[at + NEXT_OPEN]!) this.#roll(symbol, i, at, tradeTime);
        accumulate(cells, at, price, qty, firstTradeId, lastTradeId, aggId, takerBuy);
        this.#markChanged(at);
        continue;
      }
      if (finals[at + STATE] !== STATE_EMPTY && tradeTime >= finals[at + OPEN_TIME]! && tradeTime < finals[at + NEXT_OPEN]!) {
        accumulate(finals, at, price, qty, firstTradeId, lastTradeId, aggId, takerBuy);
        finals[at + REVISION]!++;
        amended = true;
        this.counters.revisions++;
        this.#sink.onFinal(this.#klineAt(finals, symbol, i, at, true), true);
      } else {
        // Older than the remembered final: this interval's klines from the trade's period to the last final are
        // rebuilt from the exchange's klines. The memory of the last final is dropped (it is no longer the truth).
        beyond = true;
        const interval = this.intervals[i]!;
        const to = finals[at + STATE] !== STATE_EMPTY ? finals[at + OPEN_TIME]! : openTimeOf(interval, cells[at + OPEN_TIME]! - 1);
        finals[at + STATE] = STATE_EMPTY;
        this.#sink.onRebuildNeeded?.(this.#names[symbol]!, interval, openTimeOf(interval, tradeTime), to);
      }
      // The open kline has no trade yet: it is flat at the previous close, which this trade just changed. It now
      // carries this trade's id as its version, or the store and the feeds (which take an open kline only at a higher
      // last aggregate id) would keep its old price: found by the soak, flat klines stored one tick off for good.
      if (cells[at + COUNT] === 0) {
        cells[at + OPEN] = price;
        cells[at + HIGH] = price;
        cells[at + LOW] = price;
        cells[at + CLOSE] = price;
        cells[at + LAST_AGG] = aggId;
        this.#markChanged(at);
      }
    }
    this.#lastAggId[symbol] = aggId;
    this.counters.applied++;
    if (amended) this.counters.amended++;
    if (beyond) this.counters.lateBeyondMemory++;
  }

  /**
   * Holds or releases time for one symbol: while held, time advances finalize none of its klines (its missing trades
   * are being fetched, e.g. after a restart), so they land in open periods instead of revising finals.
   */
  setTimeHeld(symbol: number, held: boolean): void {
    this.#timeHeld[symbol] = held ? 1 : 0;
    // Released: the next advance must look at this symbol again, whatever deadline was computed meanwhile.
    if (!held) this.#nextDeadline = Number.NEGATIVE_INFINITY;
  }

  isTimeHeld(symbol: number): boolean {
    return this.#timeHeld[symbol] === 1;
  }

  /**
   * Accepts the gap reported for `symbol`: the ids below `nextAggId` will not come (or come from a repair that
   * rebuilds whole klines instead). The trade with `nextAggId` may then be applied.
   */
  acceptGap(symbol: number, nextAggId: number): void {
    const last = this.#lastAggId[symbol]!;
    if (nextAggId <= last + 1) return;
    this.counters.acceptedGapTrades += last < 0 ? 0 : nextAggId - last - 1;
    this.#lastAggId[symbol] = nextAggId - 1;
  }

  /**
   * Moves time to `now`: every period whose close + grace has passed becomes final (quiet symbols included, with
   * flat klines at the previous close for periods without trades). Cheap when nothing is due.
   */
  advanceTo(now: number): void {
    if (now < this.#nextDeadline || this.#finished) return;
    const target = now - this.graceMs;
    let deadline = Number.POSITIVE_INFINITY;
    const cells = this.#cells;
    for (let symbol = 0; symbol < this.#names.length; symbol++) {
      const held = this.#timeHeld[symbol] === 1;
      let at = symbol * this.#perSymbol;
      for (let i = 0; i < this.#lengths.length; i++, at += STRIDE) {
        if (cells[at + STATE] === STATE_EMPTY) continue;
        if (!held && target >= cells[at + NEXT_OPEN]!) this.#roll(symbol, i, at, target);
        deadline = Math.min(deadline, cells[at + NEXT_OPEN]! + this.graceMs);
      }
    }
    this.#nextDeadline = deadline;
  }

  /**
   * End of input: every kline that has begun becomes final and is emitted; no new period opens. A replay calls
   * this when its recording ends, as if the clock ran on to the close of every open period.
   */
  finish(): void {
    if (this.#finished) return;
    const cells = this.#cells;
    for (let symbol = 0; symbol < this.#names.length; symbol++) {
      let at = symbol * this.#perSymbol;
      for (let i = 0; i < this.#lengths.length; i++, at += STRIDE) {
        if (cells[at + STATE] === STATE_EMPTY) continue;
        this.#emitFinal(symbol, i, at);
        cells[at + STATE] = STATE_EMPTY;
      }
    }
    this.#finished = true;
    this.#nextDeadline = Number.POSITIVE_INFINITY;
  }

  /**
   * The open klines changed since the previous call, each once with its latest state (finals go to the sink as they
   * happen). This is what a worker serves as coalesced deltas.
   */
  takeChanged(): Kline[] {
    const result: Kline[] = [];
    const intervals = this.intervals.length;
    for (const slot of this.#changed) {
      this.#dirty[slot] = 0;
      const at = slot * STRIDE;
      if (this.#cells[at + STATE] !== STATE_OPEN) continue;
      const symbol = Math.floor(slot / intervals);
      result.push(this.#klineAt(this.#cells, symbol, slot - symbol * intervals, at, false));
    }
    this.#changed = [];
    return result;
  }

  /** Every open kline (a full snapshot for a new subscriber or a restarted gateway). */
  openKlines(): Kline[] {
    const result: Kline[] = [];
    for (let symbol = 0; symbol < this.#names.length; symbol++) {
      for (let i = 0; i < this.intervals.length; i++) {
        const at = symbol * this.#perSymbol + i * STRIDE;
        if (this.#cells[at + STATE] === STATE_OPEN) result.push(this.#klineAt(this.#cells, symbol, i, at, false));
      }
    }
    return result;
  }

  /** The current (open) kline of a symbol and interval, or undefined when that interval has none yet. */
  openKline(symbol: number, interval: IntervalName): Kline | undefined {
    const i = this.intervals.indexOf(interval);
    if (i < 0) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `interval ${interval} is not aggregated by this engine` });
    const at = symbol * this.#perSymbol + i * STRIDE;
    if (this.#cells[at + STATE] !== STATE_OPEN) return undefined;
    return this.#klineAt(this.#cells, symbol, i, at, false);
  }

  /**
   * Installs a stored kline as the current state of its symbol and interval, so a restarted service continues it
   * instead of starting it over. The symbol's position is the lowest last aggregate id of the installed klines.
   * A stored final kline stands as the current period without being emitted again: a trade that still belongs to it
   * (the repair after a restart) makes it the next revision; otherwise its roll emits only the periods after it.
   */
  installKline(kline: Kline): void {
    const symbol = this.#index.get(kline.symbol);
    if (symbol === undefined) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `unknown symbol ${kline.symbol}: add it before installing klines` });
    const i = this.intervals.indexOf(kline.interval);
    if (i < 0) return;
    if (openTimeOf(kline.interval, kline.openTime) !== kline.openTime) {
      throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `kline ${kline.symbol} ${kline.interval} opens at ${kline.openTime}, which is not a period boundary` });
    }
    const ps = this.#priceScale[symbol]!;
    const qs = this.#qtyScale[symbol]!;
    const cells = this.#cells;
    const at = symbol * this.#perSymbol + i * STRIDE;
    const put = (offset: number, [hi, lo]: [number, number]): void => {
      cells[at + offset] = hi;
      cells[at + offset + 1] = lo;
    };
    cells[at + OPEN_TIME] = kline.openTime;
    cells[at + NEXT_OPEN] = this.#nextOpen(i, kline.openTime);
    cells[at + OPEN] = scaledPrice(kline.open, ps);
    cells[at + HIGH] = scaledPrice(kline.high, ps);
    cells[at + LOW] = scaledPrice(kline.low, ps);
    cells[at + CLOSE] = scaledPrice(kline.close, ps);
    put(VOLUME, parseWide(kline.volume, qs));
    put(QUOTE, parseWide(kline.quoteVolume, ps + qs));
    put(TAKER_VOLUME, parseWide(kline.takerBuyVolume, qs));
    put(TAKER_QUOTE, parseWide(kline.takerBuyQuoteVolume, ps + qs));
    cells[at + COUNT] = kline.tradeCount;
    cells[at + FIRST_ID] = kline.firstTradeId;
    cells[at + LAST_ID] = kline.lastTradeId;
    cells[at + LAST_AGG] = kline.lastAggId;
    cells[at + REVISION] = kline.revision ?? 0;
    cells[at + STATE] = kline.isFinal ? STATE_INSTALLED_FINAL : STATE_OPEN;
    this.#markChanged(at);
    // The position is the lowest id the installed klines end at: the trades after it are offered again, and each
    // interval skips those its kline already holds — stored rows of different intervals may end at different ids.
    const position = this.#lastAggId[symbol]!;
    if (kline.lastAggId >= 0 && (position < 0 || kline.lastAggId < position)) this.#lastAggId[symbol] = kline.lastAggId;
    this.#floorTime[symbol] = Math.max(this.#floorTime[symbol]!, kline.openTime);
    this.#nextDeadline = Math.min(this.#nextDeadline, cells[at + NEXT_OPEN]! + this.graceMs);
  }

  snapshot(): EngineSnapshot {
    const symbols: SymbolSnapshot[] = this.#names.map((symbol, index) => {
      const slots: (number[] | null)[] = [];
      const finals: (number[] | null)[] = [];
      for (let i = 0; i < this.intervals.length; i++) {
        const at = index * this.#perSymbol + i * STRIDE;
        slots.push(this.#cells[at + STATE] === STATE_EMPTY ? null : Array.from(this.#cells.subarray(at, at + STRIDE)));
        finals.push(this.#finalCells[at + STATE] === STATE_EMPTY ? null : Array.from(this.#finalCells.subarray(at, at + STRIDE)));
      }
      return {
        symbol,
        priceScale: this.#priceScale[index]!,
        qtyScale: this.#qtyScale[index]!,
        lastAggId: this.#lastAggId[index]!,
        slots,
        finals,
      };
    });
    return {
      version: ENGINE_SNAPSHOT_VERSION,
      intervals: [...this.intervals],
      graceMs: this.graceMs,
      finished: this.#finished,
      counters: { ...this.counters },
      symbols,
    };
  }

  static restore(snapshot: EngineSnapshot, sink: KlineSink): KlineEngine {
    if (snapshot.version !== ENGINE_SNAPSHOT_VERSION) {
      throw new KlaggError('KLAGG_ERR_ENGINE_BAD_SNAPSHOT', { what: `engine snapshot version ${String(snapshot.version)} is not supported (expected ${ENGINE_SNAPSHOT_VERSION})` });
    }
    const engine = new KlineEngine({ intervals: snapshot.intervals, graceMs: snapshot.graceMs }, sink);
    Object.assign(engine.counters, snapshot.counters);
    let deadline = Number.POSITIVE_INFINITY;
    for (const s of snapshot.symbols) {
      const index = engine.addSymbol(s.symbol, { priceScale: s.priceScale, qtyScale: s.qtyScale });
      engine.#lastAggId[index] = s.lastAggId;
      if (s.slots.length !== snapshot.intervals.length) throw new KlaggError('KLAGG_ERR_ENGINE_BAD_SNAPSHOT', { what: `snapshot of ${s.symbol} has ${s.slots.length} slots for ${snapshot.intervals.length} intervals` });
      s.slots.forEach((slot, i) => {
        if (slot === null) return;
        if (slot.length !== STRIDE) throw new KlaggError('KLAGG_ERR_ENGINE_BAD_SNAPSHOT', { what: `snapshot slot of ${s.symbol} has ${slot.length} cells, expected ${STRIDE}` });
        const at = index * engine.#perSymbol + i * STRIDE;
        engine.#cells.set(slot, at);
        engine.#floorTime[index] = Math.max(engine.#floorTime[index]!, slot[OPEN_TIME]!);
        deadline = Math.min(deadline, slot[NEXT_OPEN]! + snapshot.graceMs);
      });
      s.finals.forEach((slot, i) => {
        if (slot === null) return;
        if (slot.length !== STRIDE) throw new KlaggError('KLAGG_ERR_ENGINE_BAD_SNAPSHOT', { what: `snapshot final of ${s.symbol} has ${slot.length} cells, expected ${STRIDE}` });
        engine.#finalCells.set(slot, index * engine.#perSymbol + i * STRIDE);
      });
    }
    engine.#nextDeadline = deadline;
    engine.#finished = snapshot.finished;
    return engine;
  }

  #nextOpen(i: number, openTime: number): number {
    const length = this.#lengths[i]!;
    return length > 0 ? openTime + length : nextOpenTime('1M', openTime);
  }

  #openFirst(symbol: number, i: number, at: number, time: number): void {
    const openTime = openTimeOf(this.intervals[i]!, time);
    this.#resetSlot(at, openTime, this.#nextOpen(i, openTime), 0, -1);
    if (openTime > this.#floorTime[symbol]!) this.#floorTime[symbol] = openTime;
    this.#nextDeadline = Math.min(this.#nextDeadline, this.#cells[at + NEXT_OPEN]! + this.graceMs);
  }

  /** Finalizes the slot's kline, emits flat klines for periods without trades, and opens the period holding `time`. */
  #roll(symbol: number, i: number, at: number, time: number): void {
    const cells = this.#cells;
    this.#emitFinal(symbol, i, at);
    const close = cells[at + CLOSE]!;
    const carried = cells[at + LAST_AGG]!;
    let next = cells[at + NEXT_OPEN]!;
    let after = this.#nextOpen(i, next);
    while (time >= after) {
      this.#resetSlot(at, next, after, close, carried);
      this.#emitFinal(symbol, i, at);
      next = after;
      after = this.#nextOpen(i, next);
    }
    this.#resetSlot(at, next, after, close, carried);
    if (next > this.#floorTime[symbol]!) this.#floorTime[symbol] = next;
    this.#markChanged(at);
  }

  #markChanged(at: number): void {
    const slot = at / STRIDE;
    if (this.#dirty[slot] === 0) {
      this.#dirty[slot] = 1;
      this.#changed.push(slot);
    }
  }

  /**
   * A new period, flat at `close` until its first trade. `lastAgg` is the id of the trade that set `close` (−1: none):
   * the version of a flat kline, which a late trade raises when it moves the price (see #applyLate).
   */
  #resetSlot(at: number, openTime: number, nextOpen: number, close: number, lastAgg: number): void {
    const cells = this.#cells;
    cells.fill(0, at, at + STRIDE);
    cells[at + OPEN_TIME] = openTime;
    cells[at + NEXT_OPEN] = nextOpen;
    cells[at + OPEN] = close;
    cells[at + HIGH] = close;
    cells[at + LOW] = close;
    cells[at + CLOSE] = close;
    cells[at + FIRST_ID] = -1;
    cells[at + LAST_ID] = -1;
    cells[at + LAST_AGG] = lastAgg;
    cells[at + STATE] = STATE_OPEN;
  }

  /** The slot's kline became final: emitted (unless it was stored final already) and remembered for amendments. */
  #emitFinal(symbol: number, i: number, at: number): void {
    const cells = this.#cells;
    const installedFinal = cells[at + STATE] === STATE_INSTALLED_FINAL;
    cells[at + STATE] = STATE_OPEN;
    this.#finalCells.set(cells.subarray(at, at + STRIDE), at);
    if (installedFinal) return;
    this.counters.finals++;
    if (cells[at + REVISION]! > 0) this.counters.revisions++;
    this.#sink.onFinal(this.#klineAt(cells, symbol, i, at, true), false);
  }

  #klineAt(c: Float64Array, symbol: number, i: number, at: number, isFinal: boolean): Kline {
    const ps = this.#priceScale[symbol]!;
    const qs = this.#qtyScale[symbol]!;
    return {
      symbol: this.#names[symbol]!,
      interval: this.intervals[i]!,
      openTime: c[at + OPEN_TIME]!,
      closeTime: c[at + NEXT_OPEN]! - 1,
      open: formatScaled(c[at + OPEN]!, ps),
      high: formatScaled(c[at + HIGH]!, ps),
      low: formatScaled(c[at + LOW]!, ps),
      close: formatScaled(c[at + CLOSE]!, ps),
      volume: formatWide(c[at + VOLUME]!, c[at + VOLUME + 1]!, qs),
      quoteVolume: formatWide(c[at + QUOTE]!, c[at + QUOTE + 1]!, ps + qs),
      tradeCount: c[at + COUNT]!,
      takerBuyVolume: formatWide(c[at + TAKER_VOLUME]!, c[at + TAKER_VOLUME + 1]!, qs),
      takerBuyQuoteVolume: formatWide(c[at + TAKER_QUOTE]!, c[at + TAKER_QUOTE + 1]!, ps + qs),
      firstTradeId: c[at + FIRST_ID]!,
      lastTradeId: c[at + LAST_ID]!,
      lastAggId: c[at + LAST_AGG]!,
      isFinal,
      ...(c[at + REVISION]! > 0 ? { revision: c[at + REVISION]! } : {}),
    };
  }

  /**
   * A trade carried more decimals than the symbol's scale (the exchange changed a tick or step size, or a replay
   * guessed low): every held value is multiplied up so the sums stay exact. Returns false when that cannot be done.
   */
  #growScale(symbol: number, priceScale: number, qtyScale: number): boolean {
    if (priceScale > MAX_SCALE || qtyScale > MAX_SCALE) return false;
    const dp = priceScale - this.#priceScale[symbol]!;
    const dq = qtyScale - this.#qtyScale[symbol]!;
    const cells = this.#cells;
    let at = symbol * this.#perSymbol;
    for (let i = 0; i < this.intervals.length; i++, at += STRIDE) {
      for (const offset of [OPEN, HIGH, LOW, CLOSE]) {
        const grown = cells[at + offset]! * POW10[dp]!;
        if (grown > Number.MAX_SAFE_INTEGER) return false;
      }
    }
    at = symbol * this.#perSymbol;
    for (let i = 0; i < this.intervals.length; i++, at += STRIDE) {
      for (const offset of [OPEN, HIGH, LOW, CLOSE]) cells[at + offset]! *= POW10[dp]!;
      if (dq > 0) {
        scaleWide(cells, at + VOLUME, dq);
        scaleWide(cells, at + TAKER_VOLUME, dq);
      }
      if (dp + dq > 0) {
        scaleWide(cells, at + QUOTE, dp + dq);
        scaleWide(cells, at + TAKER_QUOTE, dp + dq);
      }
    }
    this.#priceScale[symbol] = priceScale;
    this.#qtyScale[symbol] = qtyScale;
    this.counters.scaleChanges++;
    return true;
  }
}

/**
 * Adds one trade to the kline at `at` (open, or a remembered final being amended). An installed final that receives
 * a trade becomes an open kline of the next revision.
 */
function accumulate(cells: Float64Array, at: number, price: number, qty: number, firstTradeId: number, lastTradeId: number, aggId: number, takerBuy: boolean): void {
  // Installed klines may already hold this trade (stored rows of different intervals can end at different ids).
  if (cells[at + LAST_AGG]! >= aggId) return;
  if (cells[at + STATE] === STATE_INSTALLED_FINAL) {
    cells[at + STATE] = STATE_OPEN;
    cells[at + REVISION]!++;
  }
  if (cells[at + COUNT] === 0) {
    cells[at + OPEN] = price;
    cells[at + HIGH] = price;
    cells[at + LOW] = price;
    cells[at + FIRST_ID] = firstTradeId;
  } else if (price > cells[at + HIGH]!) cells[at + HIGH] = price;
  else if (price < cells[at + LOW]!) cells[at + LOW] = price;
  cells[at + CLOSE] = price;
  addWide(cells, at + VOLUME, qty);
  addWideProduct(cells, at + QUOTE, price, qty);
  if (takerBuy) {
    addWide(cells, at + TAKER_VOLUME, qty);
    addWideProduct(cells, at + TAKER_QUOTE, price, qty);
  }
  cells[at + COUNT]! += lastTradeId - firstTradeId + 1;
  cells[at + LAST_ID] = lastTradeId;
  cells[at + LAST_AGG] = aggId;
}

function checkScale(scale: number, name: string): void {
  if (!Number.isInteger(scale) || scale < 0 || scale > MAX_SCALE) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `${name} must be an integer from 0 to ${MAX_SCALE}, got ${scale}` });
}

function scaledPrice(text: string, scale: number): number {
  const [hi, lo] = parseWide(text, scale);
  if (hi !== 0) throw new KlaggError('KLAGG_ERR_ENGINE_PRICE_TOO_LARGE', { text });
  return lo;
}
