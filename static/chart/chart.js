// klagg's chart page: history from the Binance-compatible REST route, live updates from the kline stream.
// Everything is served by klagg itself; lightweight-charts comes from /vendor/lightweight-charts.js (global LightweightCharts).
(function () {
  'use strict';
  const INTERVALS = ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M'];
  const params = new URLSearchParams(location.search);
  const symbol = (params.get('symbol') || 'BTCUSDT').toUpperCase();
  const interval = params.get('interval') || '1m';

  /** Test hook: how many candles are drawn, the last close and how many live updates arrived. */
  const state = { candles: 0, lastClose: '', updates: 0, error: '' };
  window.__klaggChart = state;

  const statusEl = document.getElementById('status');
  const lastEl = document.getElementById('last');
  const symbolEl = document.getElementById('symbol');
  const intervalEl = document.getElementById('interval');
  function status(text, isError) {
    statusEl.textContent = text;
    statusEl.className = isError ? 'error' : '';
    if (isError) state.error = text;
  }

  function go(nextSymbol, nextInterval) {
    const query = new URLSearchParams({ symbol: nextSymbol, interval: nextInterval });
    location.search = query.toString();
  }

  // Selectors: the interval list is Binance's; the symbols are the ones klagg serves.
  for (const name of INTERVALS.includes(interval) ? INTERVALS : [interval, ...INTERVALS]) {
    intervalEl.add(new Option(name, name, false, name === interval));
  }
  symbolEl.add(new Option(symbol, symbol, true, true));
  intervalEl.addEventListener('change', () => go(symbol, intervalEl.value));
  symbolEl.addEventListener('change', () => go(symbolEl.value, interval));
  fetch('/api/symbols')
    .then((r) => (r.ok ? r.json() : { symbols: [] }))
    .then((body) => {
      const names = body.symbols.map((s) => s.symbol).filter((s) => s !== symbol);
      for (const name of names) symbolEl.add(new Option(name, name));
    })
    .catch(() => {});

  const LC = window.LightweightCharts;
  const container = document.getElementById('chart');
  const chart = LC.createChart(container, {
    autoSize: true,
    layout: { background: { color: '#131722' }, textColor: '#d1d4dc', attributionLogo: false },
    grid: { vertLines: { color: '#1e222d' }, horzLines: { color: '#1e222d' } },
    timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 6, barSpacing: 10 },
  });
  const candles = chart.addSeries(LC.CandlestickSeries, {
    upColor: '#26a69a', downColor: '#ef5350', borderVisible: false, wickUpColor: '#26a69a', wickDownColor: '#ef5350',
  });
  const volume = chart.addSeries(LC.HistogramSeries, { priceFormat: { type: 'volume' }, priceScaleId: 'volume' });
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  candles.priceScale().applyOptions({ scaleMargins: { top: 0.1, bottom: 0.25 } });

  // Prices arrive as exact decimal strings; the chart draws numbers, the hook keeps the string.
  function toBars(openTime, o, h, l, c, v) {
    const time = Math.floor(openTime / 1000);
    const up = Number(c) >= Number(o);
    return [
      { time, open: Number(o), high: Number(h), low: Number(l), close: Number(c) },
      { time, value: Number(v), color: up ? 'rgba(38,166,154,0.5)' : 'rgba(239,83,80,0.5)' },
    ];
  }

  let lastTime = -Infinity;
  const times = new Set();
  function showLast(close) {
    state.lastClose = close;
    lastEl.textContent = `${symbol} ${interval} ${close}`;
  }

  async function loadHistory() {
    const url = `/fapi/v1/klines?symbol=${encodeURIComponent(symbol)}&interval=${encodeURIComponent(interval)}&limit=500`;
    const response = await fetch(url);
    const body = await response.json();
    if (!response.ok) throw new Error(body && body.msg ? body.msg : `HTTP ${response.status}`);
    const c = [];
    const v = [];
    for (const row of body) {
      const [candle, bar] = toBars(row[0], row[1], row[2], row[3], row[4], row[5]);
      c.push(candle);
      v.push(bar);
      times.add(candle.time);
    }
    candles.setData(c);
    volume.setData(v);
    if (body.length > 0) {
      lastTime = c[c.length - 1].time;
      showLast(body[body.length - 1][4]);
    }
    state.candles = times.size;
  }

  let socket;
  let retry = 500;
  function subscribe() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(`${scheme}//${location.host}/market/stream?streams=${symbol.toLowerCase()}@kline_${interval}`);
    socket.onopen = () => {
      retry = 500;
      status('live');
    };
    socket.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      const k = event && event.data && event.data.e === 'kline' ? event.data.k : undefined;
      if (!k) return;
      const [candle, bar] = toBars(k.t, k.o, k.h, k.l, k.c, k.v);
      if (candle.time < lastTime) return; // lightweight-charts only updates the last bar or appends
      candles.update(candle);
      volume.update(bar);
      lastTime = candle.time;
      times.add(candle.time);
      state.candles = times.size;
      state.updates += 1;
      showLast(k.c);
    };
    socket.onclose = () => {
      status('reconnecting…');
      setTimeout(subscribe, retry);
      retry = Math.min(retry * 2, 10_000);
    };
  }

  document.title = `${symbol} ${interval} · klagg`;
  loadHistory()
    .then(() => {
      status('connecting…');
      subscribe();
    })
    .catch((error) => status(`could not load ${symbol} ${interval}: ${error.message}`, true));
})();
