/**
 * The soak's exchange faults: every kind of `exchange.faults` in turn (as the chaos run's rotation, src/app/chaos.ts),
 * with sizes for a market running on the wall clock at 20,000 trades/s, and the time faults placed across period ends:
 * a stall, a lag past the grace, a delay of every symbol and a withheld last few trades, each spanning a minute
 * boundary (the period closes while its last trades are held back: they come late, as revisions, or by REST).
 * Each fault is registered with the recovery tracker with its end and the symbols it touches.
 */
import { SeededRandom } from '../../../src/domain/seeded-random.ts';
import type { FakeExchange, FaultSpec, FaultType } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import type { FaultRecord, RecoveryTracker } from './recovery-tracker.ts';

const ROTATION = ['dropConnections', 'skipIds', 'lag', 'rest429', 'duplicate', 'delay', 'stall', 'rest5xx', 'withholdTail', 'skipIds', 'slowRest', 'rest418', 'dropConnections'] as const satisfies readonly FaultType[];
/** The time faults placed across a minute's end, in turn. */
const ACROSS_MINUTE = ['stall', 'lag', 'delay', 'withholdTail'] as const;

export class FaultRotation {
  readonly #exchange: FakeExchange;
  readonly #tracker: RecoveryTracker;
  readonly #random: SeededRandom;
  /** The symbols faults may pick and "all symbols" means (trading, not about to be delisted). */
  readonly #symbols: () => readonly string[];
  #turn = 0;
  #acrossTurn = 0;
  /** Faults injected, by report kind. */
  readonly injected: Record<string, number> = {};

  constructor(exchange: FakeExchange, tracker: RecoveryTracker, symbols: () => readonly string[], seed: number) {
    this.#exchange = exchange;
    this.#tracker = tracker;
    this.#symbols = symbols;
    this.#random = new SeededRandom(seed);
  }

  /** The next fault of the rotation. */
  next(): void {
    const type = ROTATION[this.#turn++ % ROTATION.length]!;
    const symbol = this.#pick();
    const now = Date.now();
    const spec: FaultSpec =
      type === 'dropConnections' ? (this.#turn % 2 === 0 ? { type } : { type, symbol })
      : type === 'stall' ? { type, ms: 1_500 }
      : type === 'lag' ? { type, ms: 200 + this.#random.int(600), durationMs: 2_000 }
      : type === 'delay' ? { type, symbol, ms: 300 + this.#random.int(1_200) }
      : type === 'skipIds' ? { type, symbol, count: 1 + this.#random.int(40) }
      : type === 'duplicate' ? { type, symbol, count: 1 + this.#random.int(40) }
      : type === 'withholdTail' ? { type, symbol, count: 1 + this.#random.int(5), quietMs: 3_000 }
      : type === 'rest5xx' ? { type, count: 2, status: 503 }
      : type === 'slowRest' ? { type, ms: 500, count: 3 }
      : { type, count: 1 };
    this.#inject(type, spec, now, this.#endOf(spec, now), 'symbol' in spec && spec.symbol !== undefined ? [spec.symbol] : this.#symbols());
  }

  /**
   * A time fault across the minute boundary at `boundary` (call it a second or two before): its window opens before
   * the period's end and closes after it.
   */
  acrossMinute(boundary: number): void {
    const type = ACROSS_MINUTE[this.#acrossTurn++ % ACROSS_MINUTE.length]!;
    const now = Date.now();
    const before = Math.max(0, boundary - now);
    const symbol = this.#pick();
    const spec: FaultSpec =
      type === 'stall' ? { type, ms: before + 1_500 }
      : type === 'lag' ? { type, ms: 1_500, durationMs: before + 1_000 } // 1.5 s late: past the 1 s grace
      : type === 'delay' ? { type, ms: before + 2_000 }
      : { type, symbol, count: 3, quietMs: 2_000 + before };
    this.#inject(`${type}@minute`, spec, now, this.#endOf(spec, now), type === 'withholdTail' ? [symbol] : this.#symbols());
  }

  #inject(kind: string, spec: FaultSpec, now: number, endedAt: () => number | undefined, symbols: readonly string[]): void {
    this.#exchange.faults.inject(spec);
    this.injected[kind] = (this.injected[kind] ?? 0) + 1;
    const record: FaultRecord = { kind, injectedAt: now, symbols, endedAt };
    this.#tracker.add(record);
  }

  /** When the fault is over: its window closed, or the trades it keeps off the stream published. */
  #endOf(spec: FaultSpec, now: number): () => number | undefined {
    const faults = this.#exchange.faults;
    const at = (time: number) => () => time;
    // The first moment a check saw the trades it holds back all published.
    const once = (done: () => boolean): (() => number | undefined) => {
      let end: number | undefined;
      return () => (end ??= done() ? Date.now() : undefined);
    };
    switch (spec.type) {
      case 'stall':
        return at(now + spec.ms);
      case 'lag':
        return at(now + spec.durationMs + spec.ms);
      case 'delay':
        return at(now + spec.ms);
      case 'skipIds':
        return once(() => faults.pending().skips[spec.symbol] === undefined);
      case 'withholdTail':
        return once(() => faults.pending().withholds?.[spec.symbol] === undefined);
      default:
        return at(now);
    }
  }

  #pick(): string {
    const symbols = this.#symbols();
    return symbols[this.#random.int(symbols.length)]!;
  }
}
