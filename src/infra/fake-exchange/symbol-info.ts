/**
 * One symbol as the fake exchange lists it in `/fapi/v1/exchangeInfo`: always a USDT-margined perpetual, with a
 * status that moves PENDING_TRADING → TRADING → SETTLING → CLOSE over a listing's life.
 */
import { formatScaled } from '../../domain/decimal.ts';

export type SymbolStatus = 'PENDING_TRADING' | 'TRADING' | 'SETTLING' | 'CLOSE';

/** `deliveryDate` Binance gives perpetuals: 2100-12-25 08:00 UTC. */
export const PERPETUAL_DELIVERY_DATE = 4_133_404_800_000;

export interface SymbolInfo {
  readonly symbol: string;
  readonly baseAsset: string;
  readonly quoteAsset: 'USDT';
  readonly contractType: 'PERPETUAL';
  /** e.g. "0.10"; its decimals are the symbol's price scale. */
  readonly tickSize: string;
  /** e.g. "0.001"; its decimals are the symbol's quantity scale. */
  readonly stepSize: string;
  readonly priceScale: number;
  readonly qtyScale: number;
  readonly status: SymbolStatus;
  readonly onboardDate: number;
  readonly deliveryDate: number;
}

/** A tick or step size with `scale` decimals: 2 → "0.01", 0 → "1". */
export function unitSize(scale: number): string {
  return formatScaled(1, scale);
}

export function baseAssetOf(symbol: string): string {
  return symbol.endsWith('USDT') && symbol.length > 4 ? symbol.slice(0, -4) : symbol;
}

export function decimalsOf(size: string): number {
  const dot = size.indexOf('.');
  return dot < 0 ? 0 : size.length - dot - 1;
}
