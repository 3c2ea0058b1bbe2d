/**
 * The symbols a fake-exchange Market lists, in listing order, each with its published trades, rolling ticker and
 * trading span, and the timeline of status changes (listings, delistings) applied as market time reaches them.
 * Kept apart from the Market so publishing (which trade goes out when) and listing (which symbols exist, in which
 * status) read separately.
 */
import type { StatusEvent } from './generated-source.ts';
import type { SymbolInfo, SymbolStatus } from './symbol-info.ts';
import { RollingTicker } from './ticker.ts';
import { TradeLog } from './trade-log.ts';

/** Market-time span [from, until) in which a symbol's trades are published. */
export interface TradingSpan {
  readonly from: number;
  readonly until: number;
}

export interface SymbolBook {
  info: SymbolInfo;
  readonly trades: TradeLog;
  readonly ticker: RollingTicker;
  /** Market-time span in which its trades are published; klines stop at `until`. */
  readonly from: number;
  readonly until: number;
}

export type StatusChange = (event: StatusEvent, info: SymbolInfo, previous: SymbolStatus | undefined) => void;

export class ListedSymbols {
  readonly #books = new Map<string, SymbolBook>();
  /** Symbols in listing order, as exchangeInfo shows them. */
  readonly #listed: SymbolBook[] = [];
  /** Sorted by `at`. */
  readonly #events: readonly StatusEvent[];
  readonly #spans: ReadonlyMap<string, TradingSpan>;
  readonly #onListed: (info: SymbolInfo) => void;
  readonly #onChange: StatusChange;
  #nextEvent = 0;

  /** `onListed` runs once per symbol as it is listed; `onChange` for every status event applied. */
  constructor(events: readonly StatusEvent[], spans: ReadonlyMap<string, TradingSpan>, onListed: (info: SymbolInfo) => void, onChange: StatusChange) {
    this.#events = events;
    this.#spans = spans;
    this.#onListed = onListed;
    this.#onChange = onChange;
  }

  /** Lists the symbol (no-op when listed). */
  list(info: SymbolInfo): void {
    if (this.#books.has(info.symbol)) return;
    const trades = new TradeLog(info.symbol);
    const span = this.#spans.get(info.symbol) ?? { from: Number.NEGATIVE_INFINITY, until: Number.POSITIVE_INFINITY };
    const book: SymbolBook = { info, trades, ticker: new RollingTicker(info.symbol, trades, info.priceScale, info.qtyScale), from: span.from, until: span.until };
    this.#books.set(info.symbol, book);
    this.#listed.push(book);
    this.#onListed(info);
  }

  book(symbol: string): SymbolBook | undefined {
    return this.#books.get(symbol);
  }

  /** The symbol's trading span as planned (undefined: it never trades). */
  span(symbol: string): TradingSpan | undefined {
    return this.#spans.get(symbol);
  }

  /** Every listed symbol, in listing order, with its current status (apply the due events first). */
  infos(): SymbolInfo[] {
    return this.#listed.map((book) => book.info);
  }

  /** Market time of the next status event not applied yet. */
  nextEventAt(): number | undefined {
    return this.#events[this.#nextEvent]?.at;
  }

  /** Applies, in order, every status event due by `upTo` (re-entrant: a change handler may apply more). */
  apply(upTo: number): void {
    for (let event = this.#events[this.#nextEvent]; event !== undefined && event.at <= upTo; event = this.#events[this.#nextEvent]) {
      this.#nextEvent++;
      let book = this.#books.get(event.symbol);
      const previous = book?.info.status;
      if (book === undefined) {
        if (event.info === undefined) continue;
        this.list(event.info);
        book = this.#books.get(event.symbol)!;
      } else {
        book.info = { ...book.info, status: event.status, deliveryDate: event.deliveryDate ?? book.info.deliveryDate };
      }
      this.#onChange(event, book.info, previous);
    }
  }
}
