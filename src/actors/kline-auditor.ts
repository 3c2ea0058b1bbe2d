/**
 * The audit: every closed kline the exchange reports in a time window, compared with the stored one, field by field
 * and exactly (decimals as decimals, never as floats). What it finds is handed over one difference at a time, so a
 * caller can stream a report of any size; the summary counts them.
 *
 * The window: the periods that lie wholly inside [since, until) — the first opening at or after `since` (a `since`
 * inside a period skips that period, as Binance's startTime does), the last closing before `until`. When the REST
 * client can tell the exchange's time, `until` is capped at it, so the exchange's open period is never audited
 * (and a local clock running ahead cannot make it look closed).
 *
 * Each kline in the window gives at most one difference:
 * - `missing`: the exchange has it, the store has not;
 * - `extra`: the store has it, the exchange has not (for example a row before the symbol's first trade);
 * - `notFinal`: the store has it, but not final (with whatever fields also differ);
 * - `differs`: the store has it final, and at least one compared field differs.
 */
import type { BinanceRestClient } from '../infra/binance/rest-client.ts';
import type { RestKline } from '../domain/exchange-api.ts';
import type { KlineStore } from '../infra/db/kline-store.ts';
import { fixedLengthMs, openTimeOf, type IntervalName } from '../domain/interval.ts';
import type { Kline } from '../domain/kline.ts';

/** The fields an audit compares: every field of Binance's REST kline row. */
export const AUDITED_FIELDS = [
  'open',
  'high',
  'low',
  'close',
  'volume',
  'quoteVolume',
  'tradeCount',
  'takerBuyVolume',
  'takerBuyQuoteVolume',
  'closeTime',
] as const;

export type AuditedField = (typeof AUDITED_FIELDS)[number];

const DECIMAL_FIELDS: ReadonlySet<AuditedField> = new Set(['open', 'high', 'low', 'close', 'volume', 'quoteVolume', 'takerBuyVolume', 'takerBuyQuoteVolume']);

/** The compared values of one kline, as the exchange or the store holds them (decimals as their exact text). */
export type AuditedValues = { readonly [F in AuditedField]: F extends 'tradeCount' | 'closeTime' ? number : string };

export interface FieldDifference {
  readonly field: AuditedField;
  readonly exchange: string | number;
  readonly stored: string | number;
}

interface DifferenceKey {
  readonly venue: string;
  readonly market: string;
  readonly symbol: string;
  readonly interval: IntervalName;
  readonly openTime: number;
}

export type KlineDifference =
  | (DifferenceKey & { readonly kind: 'missing'; readonly exchange: AuditedValues })
  | (DifferenceKey & { readonly kind: 'extra'; readonly stored: AuditedValues & { readonly isFinal: boolean } })
  | (DifferenceKey & { readonly kind: 'differs'; readonly fields: readonly FieldDifference[] })
  | (DifferenceKey & { readonly kind: 'notFinal'; readonly fields: readonly FieldDifference[] });

export type KlineDifferenceKind = KlineDifference['kind'];

export interface AuditSummary {
  /** Symbols audited. */
  readonly symbols: number;
  /** Intervals audited (per symbol). */
  readonly intervals: number;
  /** Klines examined: the exchange's closed klines in the window plus the stored ones it does not have. */
  readonly compared: number;
  readonly missing: number;
  readonly extra: number;
  readonly differs: number;
  readonly notFinal: number;
  /** No difference of any kind. */
  readonly ok: boolean;
  /** The window actually audited, [since, until), after capping `until` at the exchange's time. */
  readonly since: number;
  readonly until: number;
}

export interface AuditOptions {
  /** `time` is optional: when present, `until` is capped at the exchange's time. */
  readonly rest: Pick<BinanceRestClient, 'klinesRange'> & Partial<Pick<BinanceRestClient, 'time'>>;
  readonly store: KlineStore;
  readonly venue: string;
  readonly market: string;
  readonly symbols: readonly string[];
  readonly intervals: readonly IntervalName[];
  /** ms since the epoch, inclusive. */
  readonly since: number;
  /** ms since the epoch, exclusive. */
  readonly until: number;
  /** Called once per difference, in symbol, interval, openTime order; a returned promise is awaited (back-pressure). */
  readonly onDifference: (difference: KlineDifference) => void | Promise<void>;
  /** Periods fetched from each side at once (fixed-length intervals). Default 5,000. */
  readonly chunkPeriods?: number;
}

const DEFAULT_CHUNK_PERIODS = 5_000;
/** Rows per read of the store; a chunk with more rows (misaligned rows) is read in several. */
const STORE_PAGE = 5_000;

export async function auditKlines(options: AuditOptions): Promise<AuditSummary> {
  const { rest, store, venue, market, symbols, intervals, since, onDifference } = options;
  if (!Number.isSafeInteger(since) || since < 0) throw new RangeError(`since must be a non-negative integer (ms), got ${since}`);
  if (!Number.isSafeInteger(options.until) || options.until < 0) throw new RangeError(`until must be a non-negative integer (ms), got ${options.until}`);
  const chunkPeriods = options.chunkPeriods ?? DEFAULT_CHUNK_PERIODS;
  if (!Number.isInteger(chunkPeriods) || chunkPeriods < 1) throw new RangeError(`chunkPeriods must be a positive integer, got ${chunkPeriods}`);

  const until = rest.time !== undefined ? Math.min(options.until, await rest.time()) : options.until;
  const counts = { compared: 0, missing: 0, extra: 0, differs: 0, notFinal: 0 };

  for (const symbol of symbols) {
    for (const interval of intervals) {
      // Open times of the periods wholly inside [since, until): ≥ since, and before the period holding `until`.
      const last = openTimeOf(interval, until) - 1;
      if (last < since) continue;
      for (const [from, to] of chunks(interval, since, last, chunkPeriods)) {
        const exchange = await rest.klinesRange(symbol, interval, from, to);
        const stored = await storedRange(store, venue, market, symbol, interval, from, to);
        const key = (openTime: number): DifferenceKey => ({ venue, market, symbol, interval, openTime });
        const storedByOpen = new Map(stored.map((kline) => [kline.openTime, kline]));
        const exchangeOpens = new Set<number>();
        const differences: KlineDifference[] = [];

        for (const theirs of exchange) {
          if (theirs.openTime < from || theirs.openTime > to || exchangeOpens.has(theirs.openTime)) continue;
          exchangeOpens.add(theirs.openTime);
          counts.compared++;
          const ours = storedByOpen.get(theirs.openTime);
          if (ours === undefined) {
            differences.push({ ...key(theirs.openTime), kind: 'missing', exchange: auditedValues(theirs) });
            continue;
          }
          const fields = compareKline(theirs, ours);
          if (!ours.isFinal) differences.push({ ...key(theirs.openTime), kind: 'notFinal', fields });
          else if (fields.length > 0) differences.push({ ...key(theirs.openTime), kind: 'differs', fields });
        }
        for (const ours of stored) {
          if (exchangeOpens.has(ours.openTime)) continue;
          counts.compared++;
          differences.push({ ...key(ours.openTime), kind: 'extra', stored: { ...auditedValues(ours), isFinal: ours.isFinal } });
        }

        differences.sort((a, b) => a.openTime - b.openTime);
        for (const difference of differences) {
          counts[difference.kind]++;
          await onDifference(difference);
        }
      }
    }
  }
  const ok = counts.missing + counts.extra + counts.differs + counts.notFinal === 0;
  return { symbols: symbols.length, intervals: intervals.length, ...counts, ok, since, until };
}

/** The fields of `exchange` and `stored` that differ (decimals compared by value, exactly). */
export function compareKline(exchange: RestKline | Kline, stored: RestKline | Kline): FieldDifference[] {
  const differences: FieldDifference[] = [];
  for (const field of AUDITED_FIELDS) {
    const theirs = exchange[field];
    const ours = stored[field];
    const same = DECIMAL_FIELDS.has(field) ? sameDecimal(String(theirs), String(ours)) : theirs === ours;
    if (!same) differences.push({ field, exchange: theirs, stored: ours });
  }
  return differences;
}

/**
 * Whether two decimal texts denote the same number: `1482.0` equals `1482.00000000` and `01.50` equals `1.5`, while
 * `0.1` and `0.10000001` differ. String work only. A text that is not a plain decimal equals only itself.
 */
export function sameDecimal(a: string, b: string): boolean {
  if (a === b) return true;
  const x = canonicalDecimal(a);
  const y = canonicalDecimal(b);
  return x !== undefined && x === y;
}

/** `-0012.3400` → `-12.34`, `0.000` → `0`; undefined when `text` is not a plain decimal (`1e5`, `NaN`, ``). */
export function canonicalDecimal(text: string): string | undefined {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (match === null) return undefined;
  const [, sign = '', wholeDigits = '', fractionDigits = ''] = match;
  if (wholeDigits === '' && fractionDigits === '') return undefined;
  const whole = wholeDigits.replace(/^0+/, '') || '0';
  const fraction = fractionDigits.replace(/0+$/, '');
  const magnitude = fraction === '' ? whole : `${whole}.${fraction}`;
  return magnitude === '0' || sign !== '-' ? magnitude : `-${magnitude}`;
}

function auditedValues(kline: RestKline | Kline): AuditedValues {
  return {
    open: kline.open,
    high: kline.high,
    low: kline.low,
    close: kline.close,
    volume: kline.volume,
    quoteVolume: kline.quoteVolume,
    tradeCount: kline.tradeCount,
    takerBuyVolume: kline.takerBuyVolume,
    takerBuyQuoteVolume: kline.takerBuyQuoteVolume,
    closeTime: kline.closeTime,
  };
}

/** Splits the open-time range [first, last] into inclusive pieces of at most `periods` periods. */
function* chunks(interval: IntervalName, first: number, last: number, periods: number): Generator<[number, number]> {
  const length = fixedLengthMs(interval);
  if (length === undefined) {
    yield [first, last]; // 1M: a dozen periods a year, one piece
    return;
  }
  const span = length * periods;
  for (let from = first; from <= last; from += span) yield [from, Math.min(last, from + span - 1)];
}

/** Every stored kline with from ≤ openTime ≤ to, ascending, however many there are. */
async function storedRange(store: KlineStore, venue: string, market: string, symbol: string, interval: IntervalName, from: number, to: number): Promise<Kline[]> {
  const result: Kline[] = [];
  for (let startTime = from; startTime <= to; ) {
    const page = await store.range(venue, market, symbol, interval, { startTime, endTime: to, limit: STORE_PAGE });
    result.push(...page);
    if (page.length < STORE_PAGE) break;
    startTime = page[page.length - 1]!.openTime + 1;
  }
  return result;
}
