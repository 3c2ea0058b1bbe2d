/**
 * The exchange's number format for klines: prices (open, high, low, close) with the decimals of the symbol's tick
 * size, quantities (volume, takerBuyVolume) with those of its step size, quote volumes (quoteVolume,
 * takerBuyQuoteVolume) with both added — the scales the live engine prints with (`scaleOf`), so a kline reads the same
 * whether the engine, the backfiller, a repair or the store produced it.
 *
 * Exact by construction: values are re-rendered by string manipulation (zeros appended, or trailing zeros removed),
 * never through a float. A value with more significant decimals than its scale allows is never rounded: it keeps its
 * exact value with the fewest decimals that hold it (trailing zeros down to the scale are still removed), and the field
 * is reported in `overScale` by `formatKlineChecked` so the caller can count it. Text that is not a plain decimal
 * (exponents, `.5`, `5.`, `+5`, blanks, NaN) throws a DecimalError naming the field.
 */
import { DecimalError, MAX_SCALE, scaleOf } from './decimal.ts';
import type { SymbolScales } from './kline-engine.ts';
import type { Kline } from './kline.ts';

/** The decimal fields of a kline. */
export type KlineDecimalField = 'open' | 'high' | 'low' | 'close' | 'volume' | 'quoteVolume' | 'takerBuyVolume' | 'takerBuyQuoteVolume';

export const PRICE_FIELDS = ['open', 'high', 'low', 'close'] as const satisfies readonly KlineDecimalField[];
export const QTY_FIELDS = ['volume', 'takerBuyVolume'] as const satisfies readonly KlineDecimalField[];
export const QUOTE_FIELDS = ['quoteVolume', 'takerBuyQuoteVolume'] as const satisfies readonly KlineDecimalField[];

/** An optional minus, digits, optionally a point followed by digits. Nothing else. */
const PLAIN_DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** The largest scale a rendered field can have: a quote volume at MAX_SCALE + MAX_SCALE. */
const MAX_RENDER_SCALE = 2 * MAX_SCALE;

/**
 * `text` with exactly `scale` decimals when its value allows it: `("134090", 2)` → `"134090.00"`,
 * `("0.50000000", 2)` → `"0.50"`, `("0", 3)` → `"0.000"`, `("1.5", 0)` → `"1.5"` (kept exact: more decimals than the
 * scale). Leading zeros of the integer part are dropped (`"007"` → `"7"`), a minus sign is kept, except on zero
 * (`"-0.0"` → `"0.00"` at scale 2). Throws a DecimalError when `text` is not a plain decimal or `scale` is not an
 * integer from 0 to 36.
 */
export function formatDecimal(text: string, scale: number): string {
  checkScale(scale);
  const match = PLAIN_DECIMAL.exec(text);
  if (match === null) throw new DecimalError(`not a plain decimal: ${JSON.stringify(text)}`);
  const integer = match[2]!.replace(/^0+(?=\d)/, '');
  let fraction = match[3] ?? '';
  if (fraction.length < scale) fraction = fraction.padEnd(scale, '0');
  else if (fraction.length > scale) fraction = fraction.slice(0, scale) + fraction.slice(scale).replace(/0+$/, '');
  const zero = integer === '0' && !/[1-9]/.test(fraction);
  const sign = match[1] === '-' && !zero ? '-' : '';
  return fraction === '' ? `${sign}${integer}` : `${sign}${integer}.${fraction}`;
}

/** Decimals of a plain decimal string as written (`"1.50"` → 2, `"7"` → 0). */
export function decimalsOf(text: string): number {
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
}

export interface CheckedKline {
  /** The kline with every decimal field re-rendered (all other fields, known or not, passed through). */
  readonly kline: Kline;
  /** Fields kept at more decimals than their scale because cutting them would change the value (never rounded). */
  readonly overScale: readonly KlineDecimalField[];
}

/**
 * Re-renders every decimal field of `kline` at its scale (see `formatDecimal`) and reports the fields whose value
 * needs more decimals than the scale. Throws a DecimalError (message naming the field) on text that is not a plain
 * decimal, or on scales that are not integers from 0 to 18.
 */
export function formatKlineChecked(kline: Kline, scales: SymbolScales): CheckedKline {
  checkSymbolScale(scales.priceScale, 'priceScale');
  checkSymbolScale(scales.qtyScale, 'qtyScale');
  const overScale: KlineDecimalField[] = [];
  const render = (field: KlineDecimalField, scale: number): string => {
    let text: string;
    try {
      text = formatDecimal(kline[field], scale);
    } catch (error) {
      throw new DecimalError(`${kline.symbol} ${kline.interval} ${kline.openTime} ${field}: ${(error as Error).message}`);
    }
    if (decimalsOf(text) > scale) overScale.push(field);
    return text;
  };
  const price = scales.priceScale;
  const qty = scales.qtyScale;
  const quote = price + qty;
  const formatted: Kline = {
    ...kline,
    open: render('open', price),
    high: render('high', price),
    low: render('low', price),
    close: render('close', price),
    volume: render('volume', qty),
    quoteVolume: render('quoteVolume', quote),
    takerBuyVolume: render('takerBuyVolume', qty),
    takerBuyQuoteVolume: render('takerBuyQuoteVolume', quote),
  };
  return { kline: formatted, overScale };
}

/** `formatKlineChecked` without the report: the kline at the symbol's scales (over-scale values kept exact). */
export function formatKline(kline: Kline, scales: SymbolScales): Kline {
  return formatKlineChecked(kline, scales).kline;
}

/**
 * A formatter for klines of any symbol: each at its symbol's scales, or passed through unchanged when `scalesOf`
 * does not know the symbol. `onOverScale` hears of every kline that kept a field beyond its scale.
 */
export function klineFormatter(
  scalesOf: (symbol: string) => SymbolScales | undefined,
  onOverScale?: (kline: Kline, fields: readonly KlineDecimalField[]) => void,
): (kline: Kline) => Kline {
  return (kline) => {
    const scales = scalesOf(kline.symbol);
    if (scales === undefined) return kline;
    const checked = formatKlineChecked(kline, scales);
    if (checked.overScale.length > 0) onOverScale?.(checked.kline, checked.overScale);
    return checked.kline;
  };
}

/**
 * A symbol's scales from its exchangeInfo tick and step sizes, as the SymbolManager activates it with
 * (`"0.10"` → 2); undefined when either is missing or not a plain decimal.
 */
export function scalesFromSizes(sizes: { readonly tickSize?: string | undefined; readonly stepSize?: string | undefined } | undefined): SymbolScales | undefined {
  if (sizes?.tickSize === undefined || sizes.stepSize === undefined) return undefined;
  try {
    const scales = { priceScale: scaleOf(sizes.tickSize), qtyScale: scaleOf(sizes.stepSize) };
    return scales.priceScale <= MAX_SCALE && scales.qtyScale <= MAX_SCALE ? scales : undefined;
  } catch {
    return undefined;
  }
}

function checkScale(scale: number): void {
  if (!Number.isInteger(scale) || scale < 0 || scale > MAX_RENDER_SCALE) throw new DecimalError(`scale must be an integer from 0 to ${MAX_RENDER_SCALE}, got ${scale}`);
}

function checkSymbolScale(scale: number, name: string): void {
  if (!Number.isInteger(scale) || scale < 0 || scale > MAX_SCALE) throw new DecimalError(`${name} must be an integer from 0 to ${MAX_SCALE}, got ${scale}`);
}
