/**
 * The per-symbol trades the WebSocket side must not send: `skipIds` (the next n trades are skipped, later ones flow
 * again, so a gap in ids shows) and `withholdTail` (the next n trades are never sent, and the symbol then goes quiet,
 * so nothing later reveals the loss). Only the bookkeeping; Faults validates, counts and starts the quiet spell.
 */

/** A withheld trade: whether it was the tail's last (then the quiet spell of `quietMs` starts). */
export interface WithheldTrade {
  readonly last: boolean;
  readonly quietMs: number;
}

export class WithheldTrades {
  readonly #skips = new Map<string, number>();
  readonly #withholds = new Map<string, { remaining: number; quietMs: number }>();

  addSkips(symbol: string, count: number): void {
    this.#skips.set(symbol, (this.#skips.get(symbol) ?? 0) + count);
  }

  /** Adds to the symbol's pending tail; overlapping tails merge and keep the longer quiet spell. */
  addWithhold(symbol: string, count: number, quietMs: number): void {
    const pending = this.#withholds.get(symbol);
    if (pending === undefined) this.#withholds.set(symbol, { remaining: count, quietMs });
    else {
      pending.remaining += count;
      pending.quietMs = Math.max(pending.quietMs, quietMs);
    }
  }

  /** True when this trade of `symbol` is to be skipped (consumes one skip). */
  takeSkip(symbol: string): boolean {
    const left = this.#skips.get(symbol);
    if (left === undefined) return false;
    if (left <= 1) this.#skips.delete(symbol);
    else this.#skips.set(symbol, left - 1);
    return true;
  }

  /** Defined when this trade of `symbol` is withheld (consumes one withhold). */
  takeWithheld(symbol: string): WithheldTrade | undefined {
    const pending = this.#withholds.get(symbol);
    if (pending === undefined) return undefined;
    pending.remaining--;
    if (pending.remaining > 0) return { last: false, quietMs: pending.quietMs };
    this.#withholds.delete(symbol);
    return { last: true, quietMs: pending.quietMs };
  }

  clear(): void {
    this.#skips.clear();
    this.#withholds.clear();
  }

  /** Pending skips and, only when there are some, withholds, for stats. */
  pending(): { skips: Record<string, number>; withholds?: Record<string, number> } {
    return {
      skips: Object.fromEntries(this.#skips),
      ...(this.#withholds.size === 0 ? {} : { withholds: Object.fromEntries([...this.#withholds].map(([symbol, w]) => [symbol, w.remaining])) }),
    };
  }
}
