// The legend over the chart: one kline's OHLCV, its change (close − open, and in % of the open, as Binance's chart
// shows a candle's change), volume, quote volume and trades — every value klagg's exact string, never re-formatted —
// and badges for an open kline and a revised one. Each value sits in an element with `data-field` (read by the tests).

import { difference, percentChange } from './decimal.js';

const pad = (n) => String(n).padStart(2, '0');

/** 2026-12-05 14:03 UTC (seconds when the interval has them; the date alone from 1d up). */
export function formatTime(ms, interval) {
  const d = new Date(ms);
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  if (/^[0-9]+[dwM]$/.test(interval)) return date;
  return `${date} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

function field(name, label, value, className) {
  const wrap = document.createElement('span');
  wrap.className = 'item';
  if (label) {
    const key = document.createElement('span');
    key.className = 'key';
    key.textContent = label;
    wrap.append(key);
  }
  const text = document.createElement('span');
  text.className = `value${className ? ` ${className}` : ''}`;
  text.dataset.field = name;
  text.textContent = value;
  wrap.append(text);
  return wrap;
}

function badge(text, kind, title) {
  const b = document.createElement('span');
  b.className = `badge ${kind}`;
  b.dataset.badge = kind;
  b.textContent = text;
  if (title) b.title = title;
  return b;
}

/**
 * @param {HTMLElement} element
 * @returns {{ show(kline: object|undefined, context: {symbol: string, interval: string, baseAsset?: string, quoteAsset?: string, hovering: boolean}): void }}
 */
export function createLegend(element) {
  return {
    show(kline, context) {
      element.replaceChildren();
      element.dataset.hovering = String(context.hovering);
      const title = document.createElement('div');
      title.className = 'row title';
      const name = document.createElement('span');
      name.className = 'symbol';
      name.textContent = context.symbol;
      const interval = document.createElement('span');
      interval.className = 'interval';
      interval.textContent = context.interval;
      title.append(name, interval);
      element.append(title);
      if (kline === undefined) {
        title.append(field('time', '', 'no klines yet', 'muted'));
        return;
      }
      element.dataset.openTime = String(kline.openTime);
      title.append(field('time', '', formatTime(kline.openTime, context.interval), 'muted'));
      if (!kline.final) title.append(badge('open', 'open', 'the period is still in progress: values change until it closes'));
      if (kline.revision > 0) {
        const cause = kline.revisionCause ? ` (${kline.revisionCause})` : '';
        title.append(badge(`revised r${kline.revision}${cause}`, 'revised', 'klagg corrected this kline after it was final (a late trade or a repair); these are the corrected values'));
      }

      const direction = difference(kline.close, kline.open);
      const tone = direction.startsWith('-') ? 'down' : direction.startsWith('+') ? 'up' : 'flat';
      const prices = document.createElement('div');
      prices.className = 'row';
      prices.append(
        field('open', 'O', kline.open, tone),
        field('high', 'H', kline.high, tone),
        field('low', 'L', kline.low, tone),
        field('close', 'C', kline.close, tone),
      );
      const change = percentChange(kline.open, kline.close);
      prices.append(field('change', '', direction, tone), field('changePercent', '', change === '' ? '' : `${change}%`, tone));
      element.append(prices);

      const volumes = document.createElement('div');
      volumes.className = 'row';
      volumes.append(
        field('volume', 'Vol', kline.volume),
        field('baseAsset', '', context.baseAsset ?? '', 'unit'),
        field('quoteVolume', '', kline.quoteVolume),
        field('quoteAsset', '', context.quoteAsset ?? '', 'unit'),
        field('tradeCount', 'Trades', String(kline.tradeCount)),
      );
      element.append(volumes);
    },
  };
}
