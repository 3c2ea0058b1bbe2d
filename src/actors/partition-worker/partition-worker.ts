/**
 * What a worker owns, as plain code: the kline engine for its partitions' symbols, which of them are Active, the finals
 * not yet pulled, and the last trade time per symbol. The per-trade path (`ingest`) is here and never touches XState;
 * the worker actor (`worker.ts`) drives the rest with events. Nothing here reads a clock.
 */
import type { AggTrade } from '../../domain/agg-trade.ts';
import type { ParsedTrade } from '../../domain/agg-trade-parser.ts';
import { parseDecimal } from '../../domain/decimal.ts';
import { FrameIngest, FrameOutcome } from '../../domain/frame-ingest.ts';
import type { IntervalName } from '../../domain/interval.ts';
import { KlineEngine, type GapInfo, type SymbolScales } from '../../domain/kline-engine.ts';
import type { Kline, RevisionCause } from '../../domain/kline.ts';
import { FROM_FIRST_TRADE, type DeltaBatch } from '../../domain/messages.ts';
import { KlaggError } from '../../domain/errors.ts';
import { fetchRetrying } from './fetch-retrying.ts';
import { HeldFrames } from './held-frames.ts';
import { DEFAULT_REPAIR_LIMITS, type RepairLimits } from './repair-limits.ts';

/** Fetches the trades with aggregate ids fromId…toId of a symbol (REST `/fapi/v1/aggTrades?fromId=`). */
export type TradeFetcher = (symbol: string, fromId: number, toId: number) => Promise<readonly AggTrade[]>;

/** Ids the exchange could not provide any more: the klines from `fromTime` to `toTime` must be rebuilt from its klines. */
export interface UnrepairedGap {
  readonly symbol: string;
  readonly fromId: number;
  readonly toId: number;
  readonly fromTime: number;
  readonly toTime: number;
  /** Set when the gap was too wide to fetch (repair-limits.ts); otherwise the exchange no longer had the trades. */
  readonly tooWide?: true;
}

/** A late trade older than the engine's memory: the klines of `interval` from `fromOpenTime` to `toOpenTime` need the exchange's. */
export interface RebuildRequest {
  readonly symbol: string;
  readonly interval: IntervalName;
  readonly fromOpenTime: number;
  readonly toOpenTime: number;
}

export interface GapRepairStats {
  readonly repaired: number;
  readonly repairedTrades: number;
  readonly unrepaired: number;
  readonly pending: number;
  /** Catch-ups to the exchange's latest trade (activation from a stored position, trailing gaps). */
  readonly catchUps: number;
  /** Repair fetches that failed and were asked again. */
  readonly fetchRetries: number;
  /** Bytes of stream frames held behind repairs now, and frames not kept past the budget (fetched again). */
  readonly heldBytes: number;
  readonly heldDropped: number;
}

/** Revised finals emitted, by cause. */
export type RevisionCounts = Record<Exclude<RevisionCause, 'rebuild'>, number>;

/** Fetch up to the exchange's latest trade (the REST paging stops at the first short page). */
export const LATEST_ID = Number.MAX_SAFE_INTEGER;

export interface PartitionWorkerOptions {
  readonly id: number;
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
  /**
   * Simulated time (replays): each trade's own time advances this worker's clock, so quiet symbols close as they
   * would have live — without a timer or an event per trade.
   */
  readonly clockFromTrades?: boolean;
  /** Gap repair: without it a gap is accepted and counted (replays of files, which have nobody to ask). */
  readonly fetchTrades?: TradeFetcher;
  readonly onUnrepairedGap?: (gap: UnrepairedGap) => void;
  /** A late trade older than the engine's amendment memory: those klines are to be rebuilt from the exchange's. */
  readonly onRebuildNeeded?: (request: RebuildRequest) => void;
  /**
   * Finals are waiting to be pulled (called once per pull, at the first): the Gateway pulls at once instead of at its
   * next interval. Called inside the per-trade path, so it must only note or schedule.
   */
  readonly onFinalsReady?: () => void;
  /** Bytes of stream frames kept behind repairs at most (see HeldFrames; default 256 MB). */
  readonly maxHeldBytes?: number;
  /** How much one repair asks the exchange for (see repair-limits.ts). */
  readonly repairLimits?: RepairLimits;
}

const MAX_REMEMBERED_GAPS = 1000;
/** A listing's first trades are asked for this many times while the exchange answers none yet the stream has some. */
const FIRST_TRADE_ATTEMPTS = 6;

export class PartitionWorker {
  readonly id: number;
  readonly ingest: FrameIngest;
  /** Gaps accepted without repair (no fetcher: a replay of a file); the most recent ones. */
  readonly gaps: GapInfo[] = [];
  #finals: Kline[] = [];
  /** Per symbol index: last trade time since the previous pull (0: none), and which symbols traded. */
  #lastTradeTime: number[] = [];
  #traded: number[] = [];
  readonly #clockFromTrades: boolean;
  readonly #fetchTrades: TradeFetcher | undefined;
  readonly #onUnrepairedGap: ((gap: UnrepairedGap) => void) | undefined;
  /** Per held symbol (a gap being repaired): the frames that arrived meanwhile, in order. */
  readonly #held: HeldFrames;
  readonly #limits: RepairLimits;
  /** Per symbol index: time of the last applied trade (where an unrepairable gap starts). */
  #lastAppliedTime: number[] = [];
  #repairs = { repaired: 0, repairedTrades: 0, unrepaired: 0, catchUps: 0, fetchRetries: 0 };
  /** What the engine is applying right now: a stream trade, or one fetched over REST (names a revision's cause). */
  #applying: 'late' | 'repair' = 'late';
  readonly revisions: RevisionCounts = { late: 0, repair: 0, restart: 0 };
  /** Symbols asked to catch up while a repair held them. */
  readonly #catchUpAfter = new Set<number>();
  /** Symbols deactivated while a catch-up runs: disabled once it is applied. */
  readonly #disableAfter = new Set<number>();
  /**
   * Listings without a trade applied yet, held until their first trades come from REST, with the fetches that found
   * none while stream frames waited. Taking the stream's first trade as the start lost the exchange's first trades
   * whenever the stream dropped them (found by the soak: a listing's first kline stored one trade short, for good).
   */
  readonly #awaitingFirst = new Map<number, { attempts: number; firstFrameTime: number }>();

  constructor(options: PartitionWorkerOptions) {
    this.id = options.id;
    this.#clockFromTrades = options.clockFromTrades ?? false;
    this.#fetchTrades = options.fetchTrades;
    this.#onUnrepairedGap = options.onUnrepairedGap;
    this.#held = new HeldFrames(options.maxHeldBytes);
    this.#limits = options.repairLimits ?? DEFAULT_REPAIR_LIMITS;
    const onRebuildNeeded = options.onRebuildNeeded;
    const onFinalsReady = options.onFinalsReady;
    const engine = new KlineEngine(
      { intervals: options.intervals, graceMs: options.graceMs },
      {
        onFinal: (kline, amendment) => {
          if (this.#finals.length === 0) onFinalsReady?.();
          if (kline.revision === undefined) {
            this.#finals.push(kline);
            return;
          }
          const cause = amendment === true ? this.#applying : 'restart';
          this.revisions[cause]++;
          this.#finals.push({ ...kline, revisionCause: cause });
        },
        onRebuildNeeded: (symbol, interval, fromOpenTime, toOpenTime) => onRebuildNeeded?.({ symbol, interval, fromOpenTime, toOpenTime }),
      },
    );
    this.ingest = new FrameIngest(engine);
  }

  get engine(): KlineEngine {
    return this.ingest.engine;
  }

  /**
   * Makes a symbol Active: registers it and installs its latest stored klines so open klines continue where the
   * store left them. Returns the symbol's position (last aggregate id, −1 if unknown) for the subscription.
   *
   * With a known position (stored klines, or where its history ends) and a way to fetch trades, the symbol first
   * catches up to the exchange's latest trade: its intake and its time are held meanwhile, so nothing is finalized
   * before the trades it missed (a restart) have landed in their periods.
   */
  activate(symbol: string, scales: SymbolScales, initialData: readonly Kline[], startAfterId?: number): number {
    for (const kline of initialData) {
      if (kline.symbol !== symbol) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `initial data for ${symbol} holds a kline of ${kline.symbol}` });
    }
    const index = this.ingest.addSymbol(symbol, scales);
    this.#disableAfter.delete(index); // activated again before a deactivation's catch-up ended
    for (const kline of initialData) this.engine.installKline(kline);
    if (startAfterId !== undefined && this.engine.lastAggIdOf(index) < startAfterId) this.engine.acceptGap(index, startAfterId + 1);
    this.ingest.setEnabled(index, true);
    const position = this.engine.lastAggIdOf(index);
    if (this.#fetchTrades !== undefined && !this.#held.has(index)) {
      if (position >= 0) this.#repair(index, position + 1, LATEST_ID, this.#lastAppliedTime[index] ?? 0, []);
      else if (startAfterId === FROM_FIRST_TRADE) {
        this.#awaitingFirst.set(index, { attempts: 0, firstFrameTime: 0 });
        this.#repair(index, 0, LATEST_ID, 0, []);
      }
    }
    return position;
  }

  /** The symbol's last applied aggregate id (−1 when none, or when the symbol is unknown). */
  positionOf(symbol: string): number {
    const index = this.engine.symbolIndex(symbol);
    return index === undefined ? -1 : this.engine.lastAggIdOf(index);
  }

  /**
   * Stops the symbol's intake. Its last trades may have been lost on the stream just before (a delisting: no later
   * trade will ever reveal them), so with REST at hand it is first caught up to the exchange's latest trade and
   * disabled once that is applied (found by the soak: a delisted symbol's last trades were never fetched).
   */
  deactivate(symbol: string): void {
    const index = this.engine.symbolIndex(symbol);
    if (index === undefined || !this.ingest.isEnabled(index)) return;
    if (this.#fetchTrades === undefined) {
      this.ingest.setEnabled(index, false);
      return;
    }
    this.#disableAfter.add(index);
    if (this.#held.has(index)) this.#catchUpAfter.add(index);
    else this.#repair(index, this.engine.lastAggIdOf(index) + 1, LATEST_ID, this.#lastAppliedTime[index] ?? 0, []);
  }

  isActive(symbol: string): boolean {
    const index = this.engine.symbolIndex(symbol);
    return index !== undefined && this.ingest.isEnabled(index);
  }

  /** The per-trade path: one frame from the socket (or a recording). */
  ingestFrame(frame: Uint8Array): FrameOutcome {
    return this.#handle(frame, this.ingest.ingest(frame));
  }

  /** The per-trade path for a frame a router already parsed (in-process: parse once, not once per hop). */
  ingestParsed(frame: Uint8Array, trade: ParsedTrade): FrameOutcome {
    return this.#handle(frame, this.ingest.ingestParsed(frame, trade));
  }

  get repairStats(): GapRepairStats {
    return { ...this.#repairs, pending: this.#held.size, heldBytes: this.#held.bytes, heldDropped: this.#held.dropped };
  }

  /** True while the symbol's intake is held for a repair or a catch-up. */
  isRepairing(symbol: string): boolean {
    const index = this.engine.symbolIndex(symbol);
    return index !== undefined && this.#held.has(index);
  }

  #handle(frame: Uint8Array, first: FrameOutcome): FrameOutcome {
    const ingest = this.ingest;
    let outcome = first;
    if (outcome === FrameOutcome.Held) {
      const awaiting = this.#awaitingFirst.get(ingest.symbol);
      if (awaiting !== undefined && awaiting.firstFrameTime === 0) awaiting.firstFrameTime = ingest.trade.tradeTime;
      if (this.#held.has(ingest.symbol)) this.#held.add(ingest.symbol, frame);
      // A listing the exchange had no trade of when asked: this frame shows it has some now; ask for them from the first.
      else this.#repair(ingest.symbol, 0, LATEST_ID, 0, [Buffer.from(frame)]);
      return outcome;
    }
    if (outcome === FrameOutcome.Gap && this.#fetchTrades !== undefined) {
      this.#repair(ingest.symbol, this.engine.lastGap.fromId, this.engine.lastGap.toId, ingest.trade.tradeTime, [Buffer.from(frame)]);
      return outcome;
    }
    if (outcome === FrameOutcome.Gap) {
      // Repair (fetching the missing ids over REST) arrives with exchange I/O; until then the gap is accepted,
      // counted and remembered, so it is never silent.
      if (this.gaps.length >= MAX_REMEMBERED_GAPS) this.gaps.shift();
      this.gaps.push({ ...this.engine.lastGap });
      this.engine.acceptGap(ingest.symbol, ingest.trade.aggId);
      outcome = ingest.applyLast();
    }
    if (outcome === FrameOutcome.Applied) {
      const symbol = ingest.symbol;
      this.#lastAppliedTime[symbol] = ingest.trade.tradeTime;
      if (this.#lastTradeTime[symbol] === undefined || this.#lastTradeTime[symbol] === 0) this.#traded.push(symbol);
      this.#lastTradeTime[symbol] = ingest.trade.tradeTime;
    }
    if (this.#clockFromTrades && outcome !== FrameOutcome.Rejected) this.advanceTo(ingest.trade.tradeTime);
    return outcome;
  }

  /** Time: every symbol whose intake is not held finalizes what close + grace has passed (held ones wait). */
  advanceTo(now: number): void {
    this.engine.advanceTo(now);
  }

  /**
   * Fetches what the exchange has after the symbol's position — up to `toId`, or to its latest trade when `toId` is
   * not known — when no later stream trade will reveal the gap (a trailing gap: a symbol's last trades lost before it
   * went quiet, the end of a stream). Nothing found is not an error: the exchange had nothing more.
   */
  catchUp(symbol: string, toId: number = LATEST_ID): void {
    const index = this.engine.symbolIndex(symbol);
    if (index === undefined || this.#fetchTrades === undefined || !this.ingest.isEnabled(index)) return;
    const waiting = this.#held.waitingCount(index);
    if (waiting !== undefined) {
      // A repair is under way: catch up once it is done (it may end before the exchange's latest trade) — unless
      // frames wait behind it, whose ids will show any gap (a held symbol looks quiet: the soak's catch-up storm).
      if (waiting === 0) this.#catchUpAfter.add(index);
      return;
    }
    const last = this.engine.lastAggIdOf(index);
    if (last >= toId) return;
    this.#repair(index, last + 1, toId, this.#lastAppliedTime[index] ?? 0, []);
  }

  /**
   * Holds the symbol's intake and its time, fetches the missing ids, applies them in order, then replays what arrived
   * meanwhile (which may reveal the next gap and start the next repair). Ids the exchange no longer has are accepted
   * and reported as an unrepaired gap, so their klines get rebuilt from the exchange's klines. With `toId` = LATEST_ID
   * (a catch-up) whatever the exchange has is applied and nothing is missing. A symbol without a position (a listing)
   * starts at the first trade the exchange returns. `waiting`: frames already held for it.
   */
  #repair(symbol: number, fromId: number, toId: number, toTime: number, waiting: Buffer[]): void {
    const name = this.engine.symbolName(symbol);
    const catchUp = toId === LATEST_ID;
    if (catchUp) this.#repairs.catchUps++;
    const fetchTo = catchUp && fromId > 0 ? fromId + this.#limits.catchUpIds - 1 : toId;
    const tooWide = !catchUp && toId - fromId + 1 > this.#limits.repairIds;
    this.ingest.setHeld(symbol, true);
    this.engine.setTimeHeld(symbol, true);
    this.#held.hold(symbol, waiting);
    void (tooWide ? Promise.resolve([]) : fetchRetrying(() => this.#fetchTrades!(name, fromId, fetchTo), () => this.#repairs.fetchRetries++))
      .then((trades) => {
        let unrepaired = false;
        const missing = (upTo: number, nextTime: number): void => {
          const from = this.engine.lastAggIdOf(symbol) + 1;
          unrepaired = true;
          this.#onUnrepairedGap?.({ symbol: name, fromId: from, toId: upTo, fromTime: this.#lastAppliedTime[symbol] ?? nextTime, toTime: nextTime, ...(tooWide ? { tooWide } : {}) });
          this.engine.acceptGap(symbol, upTo + 1);
        };
        for (const trade of trades) {
          if (trade.aggId < fromId || trade.aggId > toId) continue;
          // A hole inside what the exchange returned: report exactly that range, keep everything it does have.
          const last = this.engine.lastAggIdOf(symbol);
          if (last >= 0 && trade.aggId > last + 1) missing(trade.aggId - 1, trade.tradeTime);
          if (this.#applyFetched(symbol, trade)) this.#repairs.repairedTrades++;
        }
        if (!catchUp && this.engine.lastAggIdOf(symbol) < toId) missing(toId, toTime);
        if (unrepaired) this.#repairs.unrepaired++;
        else if (!catchUp) this.#repairs.repaired++;
        // A bounded catch-up that came back full with no frame behind it: the exchange may have more, so it goes on.
        if (fetchTo < toId && this.engine.lastAggIdOf(symbol) >= fetchTo && this.#held.waitingCount(symbol) === 0) this.#catchUpAfter.add(symbol);
        const waiting = this.#held.release(symbol);
        if (this.#awaitingFirst.has(symbol) && this.#stillAwaitingFirst(symbol, waiting)) return;
        this.ingest.setHeld(symbol, false);
        this.engine.setTimeHeld(symbol, false);
        for (const held of waiting) this.ingestFrame(held);
        // A catch-up asked for meanwhile runs now, unless the replayed frames started the next repair (then after it).
        if (!this.#held.has(symbol) && this.#catchUpAfter.delete(symbol)) this.catchUp(name);
        // A deactivation waited for this catch-up: the symbol's intake stops now.
        if (!this.#held.has(symbol) && this.#disableAfter.delete(symbol)) this.ingest.setEnabled(symbol, false);
      });
  }

  /**
   * After a listing's fetch: true while it stays held for its first trade. With none at the exchange and no frame
   * waiting, the next frame asks again. With frames waiting (so the exchange has trades) it asks again at once, and
   * after FIRST_TRADE_ATTEMPTS empty answers takes the first waiting frame as the start, reporting the time before it
   * unrepaired (its klines are rebuilt from the exchange's) — never silent.
   */
  #stillAwaitingFirst(symbol: number, waiting: Buffer[]): boolean {
    const awaiting = this.#awaitingFirst.get(symbol)!;
    if (this.engine.lastAggIdOf(symbol) < 0 && !this.#disableAfter.has(symbol)) {
      if (waiting.length === 0) return true;
      if (++awaiting.attempts < FIRST_TRADE_ATTEMPTS) {
        this.#repair(symbol, 0, LATEST_ID, 0, waiting);
        return true;
      }
      this.#repairs.unrepaired++;
      const time = awaiting.firstFrameTime;
      this.#onUnrepairedGap?.({ symbol: this.engine.symbolName(symbol), fromId: 0, toId: -1, fromTime: time, toTime: time });
    }
    this.#awaitingFirst.delete(symbol);
    return false;
  }

  #applyFetched(symbol: number, trade: AggTrade): boolean {
    const price = parseDecimal(trade.price);
    const qty = parseDecimal(trade.qty);
    this.#applying = 'repair';
    const outcome = this.engine.applyTrade(symbol, trade.aggId, price.mantissa, price.decimals, qty.mantissa, qty.decimals, trade.firstTradeId, trade.lastTradeId, trade.tradeTime, trade.buyerIsMaker);
    this.#applying = 'late';
    if (outcome !== 0) return false;
    this.#lastAppliedTime[symbol] = trade.tradeTime;
    if (this.#lastTradeTime[symbol] === undefined || this.#lastTradeTime[symbol] === 0) this.#traded.push(symbol);
    this.#lastTradeTime[symbol] = trade.tradeTime;
    return true;
  }

  /** End of input (a replay's recording ended): every begun kline becomes final. */
  finish(): void {
    this.engine.finish();
  }

  takeDeltas(seq: number): DeltaBatch {
    const finals = this.#finals;
    this.#finals = [];
    const lastTradeTimes: Record<string, number> = {};
    for (const index of this.#traded) {
      lastTradeTimes[this.engine.symbolName(index)] = this.#lastTradeTime[index]!;
      this.#lastTradeTime[index] = 0;
    }
    this.#traded = [];
    return Object.freeze({ workerId: this.id, seq, finals, updates: this.engine.takeChanged(), lastTradeTimes });
  }

  /** Every open kline: the full snapshot a new consumer starts from. */
  openKlines(): Kline[] {
    return this.engine.openKlines();
  }
}
