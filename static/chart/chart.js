// klagg's chart page: candles and volume from klagg's own `/api/klines` (the `/fapi/v1/klines` selection, plus each
// kline's final flag and revision), older pages loaded as the view scrolls left, live updates from the kline stream.
// The symbol list and price steps come from `/fapi/v1/exchangeInfo`, the intervals from `/api/intervals`. The URL
// (`?symbol=&interval=`) always names what is shown. Everything is served by klagg itself; lightweight-charts v5 is
// the global `LightweightCharts` of /vendor/lightweight-charts.js.
import { createLegend, formatTime } from './legend.js';
import { createLiveStream } from './live-stream.js';
import { createSymbolPicker } from './symbol-picker.js';

const LC = window.LightweightCharts;
/** Klines per request (the first page and each older one). */
const PAGE = 500;
/** Older klines are fetched once fewer than this many bars are left of the view. */
const OLDER_MARGIN = 50;
/** After a failed older page, wait this long before asking again. */
const OLDER_RETRY_MS = 5_000;
/** A revised kline's number is asked for this many more times (0.5 s apart, doubling to 4 s) until the store has it. */
const REVISION_RETRIES = 10;
const REVISION_RETRY_MS = 500;
const COLORS = { up: '#26a69a', down: '#ef5350', upVolume: 'rgba(38,166,154,0.5)', downVolume: 'rgba(239,83,80,0.5)', revised: '#f0b90b' };

const $ = (id) => document.getElementById(id);
const toTime = (ms) => Math.floor(ms / 1000);
const legend = createLegend($('legend'));
const statusEl = $('status');
const noteEl = $('note');

// ---- the chart: candles in pane 0, volume as a histogram in pane 1 on its own price scale ----
const container = $('chart');
const chart = LC.createChart(container, {
  autoSize: true,
  layout: {
    background: { type: 'solid', color: '#131722' },
    textColor: '#b2b5be',
    fontSize: window.innerWidth >= 1600 ? 13 : 12,
    fontFamily: 'ui-sans-serif, system-ui, sans-serif',
    attributionLogo: false,
    panes: { separatorColor: '#2a2e39', separatorHoverColor: 'rgba(120,123,134,0.25)', enableResize: true },
  },
  grid: { vertLines: { color: '#1b1f2b' }, horzLines: { color: '#1b1f2b' } },
  crosshair: { mode: LC.CrosshairMode.Normal },
  rightPriceScale: { borderColor: '#2a2e39', minimumWidth: 84 },
  timeScale: { borderColor: '#2a2e39', timeVisible: true, secondsVisible: false, rightOffset: 8, barSpacing: 9, minBarSpacing: 1 },
});
const candles = chart.addSeries(LC.CandlestickSeries, {
  upColor: COLORS.up, downColor: COLORS.down, borderVisible: false, wickUpColor: COLORS.up, wickDownColor: COLORS.down,
}, 0);
// Room at the top of the price pane for the legend, which sits over it.
candles.priceScale().applyOptions({ scaleMargins: { top: 0.2, bottom: 0.06 } });
const volume = chart.addSeries(LC.HistogramSeries, { priceFormat: { type: 'volume' }, priceLineVisible: false, title: 'Vol' }, 1);
volume.priceScale().applyOptions({ scaleMargins: { top: 0.22, bottom: 0 } });
chart.panes()[0].setStretchFactor(4);
chart.panes()[1].setStretchFactor(1);
const markers = LC.createSeriesMarkers(candles, []);

const candleOf = (k) => ({ time: toTime(k.openTime), open: Number(k.open), high: Number(k.high), low: Number(k.low), close: Number(k.close) });
const volumeOf = (k) => ({ time: toTime(k.openTime), value: Number(k.volume), color: Number(k.close) >= Number(k.open) ? COLORS.upVolume : COLORS.downVolume });
/** A stream event's kline in `/api/klines`' shape; the stream carries no revision, so a known one is kept. */
const fromStream = (k, known) => ({
  openTime: k.t, closeTime: k.T, open: k.o, high: k.h, low: k.l, close: k.c, volume: k.v, quoteVolume: k.q, tradeCount: k.n,
  takerBuyVolume: k.V, takerBuyQuoteVolume: k.Q, final: k.x, revision: known ? known.revision : 0, ...(known && known.revisionCause ? { revisionCause: known.revisionCause } : {}),
});

// ---- what is shown ----
const view = { symbol: '', interval: '', generation: 0 };
/** Ascending by openTime; `byTime` indexes it by the chart's time (seconds). */
let klines = [];
const byTime = new Map();
let loading = true;
/** Stream events that arrived while the first page was loading, applied once it is drawn. */
let pending = [];
let older = { inFlight: false, exhausted: false, requests: 0, retryAt: 0 };
let hoveredTime;
const stats = { updates: 0, error: '', status: 'loading', revisionsPending: 0 };
const served = { symbols: new Map(), intervals: [] };

async function fetchKlines(params) {
  const response = await fetch(`/api/klines?${new URLSearchParams(params)}`);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.msg || body.message || `HTTP ${response.status}`);
  return body.klines;
}

function showError(message) {
  stats.error = message;
  noteEl.textContent = message;
  noteEl.className = 'error';
}

function showNote() {
  if (stats.error) return;
  noteEl.className = '';
  if (loading) noteEl.textContent = 'loading…';
  else if (older.inFlight) noteEl.textContent = `${klines.length.toLocaleString('en')} candles · loading older…`;
  else if (klines.length === 0) noteEl.textContent = 'no klines yet';
  else noteEl.textContent = `${klines.length.toLocaleString('en')} candles since ${formatTime(klines[0].openTime, view.interval)}${older.exhausted ? ' · all history' : ''}`;
}

function setStatus(state) {
  stats.status = state;
  statusEl.dataset.state = state;
  statusEl.querySelector('.text').textContent = state === 'connecting' ? 'connecting…' : state === 'reconnecting' ? 'reconnecting…' : state;
}

function showLegend() {
  const kline = hoveredTime !== undefined ? byTime.get(hoveredTime) : klines[klines.length - 1];
  const asset = served.symbols.get(view.symbol) || {};
  legend.show(kline, { symbol: view.symbol, interval: view.interval, baseAsset: asset.baseAsset, quoteAsset: asset.quoteAsset, hovering: hoveredTime !== undefined });
}

function drawMarkers() {
  markers.setMarkers(
    klines.filter((k) => k.revision > 0).map((k) => ({ time: toTime(k.openTime), position: 'aboveBar', shape: 'circle', color: COLORS.revised, text: `r${k.revision}`, size: 0.6 })),
  );
}

function drawAll() {
  candles.setData(klines.map(candleOf));
  volume.setData(klines.map(volumeOf));
  drawMarkers();
  showLegend();
  showNote();
}

/** Puts a kline in place of the shown one of its time, or appends it (lightweight-charts cannot insert in between). */
function put(kline) {
  const time = toTime(kline.openTime);
  const known = byTime.get(time);
  const last = klines[klines.length - 1];
  if (!known && last && kline.openTime < last.openTime) return;
  byTime.set(time, kline);
  if (known) klines[klines.lastIndexOf(known)] = kline;
  else klines.push(kline);
  const historical = last !== undefined && kline.openTime < last.openTime;
  candles.update(candleOf(kline), historical);
  volume.update(volumeOf(kline), historical);
  if (kline.revision > 0 || (known && known.revision > 0)) drawMarkers();
  if (hoveredTime === undefined || hoveredTime === time) showLegend();
}

/**
 * A final sent again is a correction, but the stream does not say its revision: klagg's route does, once the store
 * has it (its writer flushes about every second), so it is asked again, backing off, while it still has less.
 */
function refetchRevised(openTime, atLeast, attempt = 0) {
  const generation = view.generation;
  if (attempt === 0) stats.revisionsPending += 1;
  const settle = () => {
    if (generation === view.generation) stats.revisionsPending -= 1;
  };
  fetchKlines({ symbol: view.symbol, interval: view.interval, startTime: openTime, endTime: openTime, limit: 1 })
    .then(([kline]) => {
      if (generation !== view.generation) return;
      if (kline && kline.openTime === openTime && kline.final && kline.revision >= atLeast) {
        put(kline);
        settle();
      } else if (attempt < REVISION_RETRIES) setTimeout(() => refetchRevised(openTime, atLeast, attempt + 1), Math.min(REVISION_RETRY_MS * 2 ** attempt, 4_000));
      else settle();
    })
    .catch((error) => {
      settle();
      showError(`could not read the revised kline: ${error.message}`);
    });
}

function applyLive(k) {
  if (loading) return void pending.push(k);
  const known = byTime.get(toTime(k.t));
  const kline = fromStream(k, known);
  // An open update that lost the race with its own final: the final stands.
  if (known && known.final && !kline.final) return;
  stats.updates += 1;
  const corrected = known && known.final && kline.final;
  // Marked at once as at least one revision more; the exact number follows from klagg's route.
  if (corrected) {
    kline.revision = known.revision + 1;
    delete kline.revisionCause;
  }
  put(kline);
  if (corrected) refetchRevised(kline.openTime, kline.revision);
}

function loadOlder() {
  if (loading || older.inFlight || older.exhausted || klines.length === 0 || performance.now() < older.retryAt) return;
  const generation = view.generation;
  const first = klines[0].openTime;
  older.inFlight = true;
  older.requests += 1;
  showNote();
  fetchKlines({ symbol: view.symbol, interval: view.interval, endTime: first - 1, limit: PAGE })
    .then((rows) => {
      if (generation !== view.generation) return;
      // Fewer than asked for: the store has nothing older.
      if (rows.length < PAGE) older.exhausted = true;
      const fresh = rows.filter((k) => k.openTime < first && !byTime.has(toTime(k.openTime)));
      for (const k of fresh) byTime.set(toTime(k.openTime), k);
      if (fresh.length > 0) {
        klines = fresh.concat(klines);
        drawAll();
      }
    })
    .catch((error) => {
      if (generation !== view.generation) return;
      older.retryAt = performance.now() + OLDER_RETRY_MS;
      noteEl.textContent = `could not load older klines: ${error.message}`;
    })
    .finally(() => {
      if (generation !== view.generation) return;
      older.inFlight = false;
      showNote();
      // The view may still reach past the oldest kline (a wide zoom): keep going.
      loadOlderIfNear(chart.timeScale().getVisibleLogicalRange());
    });
}

function loadOlderIfNear(range) {
  if (range && range.from < OLDER_MARGIN) loadOlder();
}

chart.timeScale().subscribeVisibleLogicalRangeChange(loadOlderIfNear);
chart.subscribeCrosshairMove((param) => {
  const time = param.point && param.time !== undefined && byTime.has(param.time) ? param.time : undefined;
  if (time === hoveredTime) return;
  hoveredTime = time;
  showLegend();
});

// ---- the controls ----
const stream = createLiveStream({ onKline: applyLive, onState: setStatus });
const picker = createSymbolPicker({ input: $('symbol'), list: $('symbol-list'), onPick: (symbol) => navigate(symbol, view.interval) });
const intervalsEl = $('intervals');

function drawIntervals() {
  intervalsEl.replaceChildren();
  for (const name of served.intervals) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = name;
    button.dataset.interval = name;
    button.setAttribute('aria-pressed', String(name === view.interval));
    button.addEventListener('click', () => navigate(view.symbol, name));
    intervalsEl.append(button);
  }
}

function urlFor(symbol, interval) {
  return `${location.pathname}?${new URLSearchParams({ symbol, interval })}`;
}

function navigate(symbol, interval) {
  if (symbol === view.symbol && interval === view.interval) return;
  history.pushState(null, '', urlFor(symbol, interval));
  show(symbol, interval);
}

/** Shows a symbol and interval: the first page, then the stream (events that come first wait for the page). */
async function show(symbol, interval) {
  const generation = ++view.generation;
  Object.assign(view, { symbol, interval });
  klines = [];
  byTime.clear();
  pending = [];
  loading = true;
  older = { inFlight: false, exhausted: false, requests: 0, retryAt: 0 };
  hoveredTime = undefined;
  stats.error = '';
  stats.updates = 0;
  stats.revisionsPending = 0;
  document.title = `${symbol} ${interval} · klagg`;
  picker.setCurrent(symbol);
  drawIntervals();
  const tick = served.symbols.get(symbol)?.tickSize;
  if (tick) candles.applyOptions({ priceFormat: { type: 'price', minMove: Number(tick), precision: decimalsOf(tick) } });
  drawAll();
  stream.follow(`${symbol.toLowerCase()}@kline_${interval}`);
  try {
    const rows = await fetchKlines({ symbol, interval, limit: PAGE });
    if (generation !== view.generation) return;
    klines = rows;
    for (const k of rows) byTime.set(toTime(k.openTime), k);
    older.exhausted = rows.length < PAGE;
    loading = false;
    drawAll();
    chart.timeScale().scrollToRealTime();
    const waiting = pending;
    pending = [];
    for (const k of waiting) applyLive(k);
  } catch (error) {
    if (generation !== view.generation) return;
    loading = false;
    showError(`could not load ${symbol} ${interval}: ${error.message}`);
  }
}

function decimalsOf(step) {
  const fraction = step.includes('.') ? step.split('.')[1].replace(/0+$/, '') : '';
  return fraction.length;
}

window.addEventListener('popstate', () => {
  const params = new URLSearchParams(location.search);
  show(params.get('symbol') || view.symbol, params.get('interval') || view.interval);
});

// ---- start: what klagg serves, then what the URL asks for (or the first symbol, 1m) ----
async function start() {
  setStatus('loading');
  const [exchange, intervals] = await Promise.all([
    fetch('/fapi/v1/exchangeInfo').then((r) => r.json()),
    fetch('/api/intervals').then((r) => r.json()),
  ]);
  for (const s of exchange.symbols) served.symbols.set(s.symbol, { baseAsset: s.baseAsset, quoteAsset: s.quoteAsset, tickSize: s.filters.find((f) => f.filterType === 'PRICE_FILTER')?.tickSize });
  served.intervals = intervals.intervals;
  picker.setSymbols(exchange.symbols);
  const params = new URLSearchParams(location.search);
  const symbol = (params.get('symbol') || exchange.symbols[0]?.symbol || 'BTCUSDT').toUpperCase();
  const wanted = params.get('interval');
  const interval = wanted && served.intervals.includes(wanted) ? wanted : served.intervals.includes('1m') ? '1m' : served.intervals[0];
  history.replaceState(null, '', urlFor(symbol, interval));
  await show(symbol, interval);
}

/** Test hook: what is drawn, and where a kline is on the page (to point the mouse at it). */
window.__klaggChart = {
  snapshot: () => ({
    symbol: view.symbol,
    interval: view.interval,
    candles: klines.length,
    firstOpenTime: klines[0]?.openTime ?? null,
    lastOpenTime: klines[klines.length - 1]?.openTime ?? null,
    lastClose: klines[klines.length - 1]?.close ?? '',
    updates: stats.updates,
    status: stats.status,
    error: stats.error,
    loading,
    olderRequests: older.requests,
    olderInFlight: older.inFlight,
    historyExhausted: older.exhausted,
    revisionsPending: stats.revisionsPending,
    revised: klines.filter((k) => k.revision > 0).map((k) => k.openTime),
    markers: markers.markers().map((m) => ({ time: m.time, text: m.text })),
    panes: chart.panes().length,
    candlesPane: candles.getPane().paneIndex(),
    volumePane: volume.getPane().paneIndex(),
    volumeRange: volume.priceScale().getVisibleRange(),
    priceRange: candles.priceScale().getVisibleRange(),
  }),
  klineAt: (openTime) => byTime.get(toTime(openTime)) ?? null,
  pointOf: (openTime) => {
    const kline = byTime.get(toTime(openTime));
    const x = chart.timeScale().timeToCoordinate(toTime(openTime));
    const y = kline ? candles.priceToCoordinate((Number(kline.high) + Number(kline.low)) / 2) : null;
    const pane = candles.getPane().getHTMLElement();
    if (x === null || y === null || !pane) return null;
    const box = pane.getBoundingClientRect();
    return { x: container.getBoundingClientRect().left + x, y: box.top + y };
  },
};

start().catch((error) => showError(`could not start: ${error.message}`));
