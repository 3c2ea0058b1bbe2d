/**
 * The symbols a cluster serves, in KV (`<venue>.<market>.<symbol>` → the exchange's description): ingest writes what
 * it publishes trades for; stream servers read it to answer exchangeInfo and to format klines at the symbol's scales.
 */
import type { KV } from '@nats-io/kv';
import type { ServedSymbol } from '../http/context.ts';

/** A symbol as exchangeInfo describes it (what the stream servers serve). */
export type SymbolDescription = ServedSymbol;

export class SymbolDirectory {
  readonly #kv: KV;
  readonly #known = new Map<string, SymbolDescription>();
  #watch: { stop(): void } | null = null;

  constructor(kv: KV) {
    this.#kv = kv;
  }

  async put(venue: string, market: string, description: SymbolDescription): Promise<void> {
    await this.#kv.put(`${venue}.${market}.${description.symbol}`, Buffer.from(JSON.stringify(description)));
  }

  /** Follows the directory (current values, then changes) into memory. */
  async follow(venue: string, market: string): Promise<void> {
    const iterator = await this.#kv.watch({ key: `${venue}.${market}.>` });
    this.#watch = { stop: () => iterator.stop() };
    let resolveInitial: () => void = () => undefined;
    const initial = new Promise<void>((resolve) => (resolveInitial = resolve));
    void (async () => {
      for await (const entry of iterator) {
        if (entry.operation === 'PUT') {
          try {
            const description = JSON.parse(Buffer.from(entry.value).toString('utf8')) as SymbolDescription;
            this.#known.set(description.symbol, description);
          } catch {
            // Not ours to read: skip.
          }
        } else this.#known.delete(entry.key.slice(entry.key.lastIndexOf('.') + 1));
        if (entry.delta === 0) resolveInitial();
      }
    })().catch(() => undefined);
    // An empty directory sends nothing to say so: don't wait for ever.
    await Promise.race([initial, new Promise((resolve) => setTimeout(resolve, 1000))]);
  }

  get(symbol: string): SymbolDescription | undefined {
    return this.#known.get(symbol);
  }

  list(): SymbolDescription[] {
    return [...this.#known.values()].sort((a, b) => a.symbol.localeCompare(b.symbol));
  }

  close(): void {
    this.#watch?.stop();
  }
}

/** The size string of a scale: 8 → "0.00000001", 0 → "1" (Binance's tickSize / stepSize shape). */
export function sizeOfScale(scale: number): string {
  return scale === 0 ? '1' : `0.${'0'.repeat(scale - 1)}1`;
}
