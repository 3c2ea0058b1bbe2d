/**
 * The decimal representation, chosen by measurement: accumulating volume and quote volume (Σq, Σp·q) over seven
 * intervals per trade with the two-limb doubles klagg uses, with BigInt, and with plain doubles (inexact: the floor).
 */
import { addWide, addWideProduct, formatWide } from '../src/domain/decimal.ts';
import { SeededRandom } from '../src/domain/seeded-random.ts';
import { median, type BenchReport } from './report.ts';

const INTERVALS = 7;

function inputs(count: number): { prices: Float64Array; qtys: Float64Array; pricesBig: bigint[]; qtysBig: bigint[] } {
  const random = new SeededRandom(7);
  const prices = new Float64Array(count);
  const qtys = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    prices[i] = 6_700_000 + random.int(100_000); // 67000.00 … at scale 2
    qtys[i] = 1 + random.int(20_000); // 0.001 … 20.000 at scale 3
  }
  return { prices, qtys, pricesBig: Array.from(prices, BigInt), qtysBig: Array.from(qtys, BigInt) };
}

export function benchDecimals(count: number, runs: number, report: BenchReport): void {
  const data = inputs(count);
  const wide = (): [number, string] => {
    const cells = new Float64Array(INTERVALS * 4);
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const p = data.prices[i]!;
      const q = data.qtys[i]!;
      for (let k = 0; k < INTERVALS; k++) {
        addWide(cells, k * 4, q);
        addWideProduct(cells, k * 4 + 2, p, q);
      }
    }
    return [performance.now() - started, formatWide(cells[2]!, cells[3]!, 5)];
  };
  const big = (): [number, string] => {
    const sums: bigint[] = new Array<bigint>(INTERVALS * 2).fill(0n);
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const p = data.pricesBig[i]!;
      const q = data.qtysBig[i]!;
      for (let k = 0; k < INTERVALS; k++) {
        sums[k * 2] = sums[k * 2]! + q;
        sums[k * 2 + 1] = sums[k * 2 + 1]! + p * q;
      }
    }
    const quote = sums[1]!.toString();
    return [performance.now() - started, `${quote.slice(0, -5)}.${quote.slice(-5)}`];
  };
  const float = (): [number, string] => {
    const sums = new Float64Array(INTERVALS * 2);
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const p = data.prices[i]! / 100;
      const q = data.qtys[i]! / 1000;
      for (let k = 0; k < INTERVALS; k++) {
        sums[k * 2]! += q;
        sums[k * 2 + 1]! += p * q;
      }
    }
    return [performance.now() - started, String(sums[1])];
  };
  const results = { wide: [] as number[], bigint: [] as number[], float: [] as number[] };
  let exact = '';
  let fromBig = '';
  let fromFloat = '';
  for (let run = 0; run <= runs; run++) {
    const [w, ws] = wide();
    const [b, bs] = big();
    const [f, fs] = float();
    if (run === 0) continue; // warm-up
    results.wide.push(w);
    results.bigint.push(b);
    results.float.push(f);
    [exact, fromBig, fromFloat] = [ws, bs, fs];
  }
  if (exact !== fromBig) throw new Error(`two-limb sum ${exact} differs from BigInt sum ${fromBig}`);
  const perTrade = (ms: number) => ((ms * 1e6) / count).toFixed(0);
  report.line(
    `decimals (Σq and Σp·q over ${INTERVALS} intervals, ns/trade): two-limb ${perTrade(median(results.wide))}, ` +
      `BigInt ${perTrade(median(results.bigint))}, float ${perTrade(median(results.float))} (float is inexact: ${fromFloat} vs exact ${exact})`,
  );
  report.record('decimals', { trades: count, msWide: median(results.wide), msBigInt: median(results.bigint), msFloat: median(results.float), exactQuote: exact, floatQuote: fromFloat });
}
