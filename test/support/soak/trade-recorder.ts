/**
 * Every trade the fake exchange emits, recorded as it is published (`market.onTrade`, the one place every published
 * trade passes once, in publishing order): a combined-stream frame per line to a file — the input of the fault-free
 * oracle replay — and per symbol and 1m period the raw trades (Binance's kline `n` counts raw trades, an aggTrade
 * covers `l − f + 1` of them), to count lost trades against the stored 1m klines.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { toCombinedFrame, type AggTrade } from '../../../src/domain/agg-trade.ts';

const MINUTE = 60_000;
const PENDING_MAX = 50_000;

export class TradeRecorder {
  readonly path: string;
  /** aggTrades recorded. */
  trades = 0;
  /** Raw trades recorded (Σ l − f + 1). */
  rawTrades = 0;
  firstTime = Number.POSITIVE_INFINITY;
  lastTime = Number.NEGATIVE_INFINITY;
  /** symbol → 1m open time → raw trades. */
  readonly rawByMinute = new Map<string, Map<number, number>>();
  readonly #out: WriteStream;
  #pending: string[] = [];
  #timer: NodeJS.Timeout;

  constructor(path: string) {
    this.path = path;
    this.#out = createWriteStream(path);
    // Written in chunks every 100 ms: one write per trade at 20,000 trades/s would cost more than the frames.
    this.#timer = setInterval(() => this.#flush(), 100);
  }

  record(trade: AggTrade, eventTime: number): void {
    this.#pending.push(toCombinedFrame(trade, eventTime));
    // A burst published in one go (the 30-minute soak met one of millions) must not make a single string past V8's
    // limit (~512 MB): written in chunks of at most PENDING_MAX lines.
    if (this.#pending.length >= PENDING_MAX) this.#flush();
    this.trades++;
    const raw = trade.lastTradeId - trade.firstTradeId + 1;
    this.rawTrades += raw;
    this.firstTime = Math.min(this.firstTime, trade.tradeTime);
    this.lastTime = Math.max(this.lastTime, trade.tradeTime);
    let minutes = this.rawByMinute.get(trade.symbol);
    if (minutes === undefined) this.rawByMinute.set(trade.symbol, (minutes = new Map()));
    const minute = trade.tradeTime - (trade.tradeTime % MINUTE);
    minutes.set(minute, (minutes.get(minute) ?? 0) + raw);
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    this.#out.write(`${this.#pending.join('\n')}\n`);
    this.#pending = [];
  }

  /** Writes what is pending and closes the file. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#flush();
    await new Promise<void>((resolve, reject) => this.#out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }
}
