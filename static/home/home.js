// klagg's landing page: what runs (/api/status), the symbols and their lifecycle states (/api/symbols) and every
// actor's health (/health), refreshed every 2 s. No framework, no CDN: plain DOM, text set with textContent only.
'use strict';

const REFRESH_MS = 2000;
/** Read by the browser test: refreshes done, symbols shown, the last error ('' when none). */
const hook = { refreshes: 0, symbols: 0, error: '' };
globalThis.__klaggHome = hook;

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function duration(ms) {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

function ago(time, now) {
  if (time === null || time === undefined) return 'no trade since the start';
  const ms = Math.max(0, now - time);
  return ms < 1000 ? 'traded just now' : `traded ${duration(ms)} ago`;
}

async function json(path) {
  const response = await fetch(path, { cache: 'no-store' });
  // /health answers 503 with its body when an actor failed: still worth showing.
  if (!response.ok && !(path === '/health' && response.status === 503)) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

let firstSymbol = '';
let firstInterval = '1m';

function renderStatus(status) {
  $('version').textContent = status.version ? `v${status.version}` : '';
  const mode = $('mode');
  mode.hidden = !status.mode;
  mode.textContent = status.mode ?? '';
  $('venue').textContent = `${status.venue} · ${status.market}`;
  $('uptime').textContent = status.uptimeMs === null ? '–' : duration(status.uptimeMs);
  $('database').textContent = status.database === 'pglite' ? 'PGlite (embedded)' : status.database === 'postgres' ? 'PostgreSQL' : (status.database ?? '–');
  const states = Object.entries(status.symbols.states).sort(([a], [b]) => a.localeCompare(b));
  $('symbol-count').textContent = String(status.symbols.total);
  $('state-summary').textContent = states.map(([state, n]) => `${n} ${state}`).join(' · ');
  const chips = $('intervals');
  if (chips.childElementCount !== status.intervals.length) {
    chips.replaceChildren(...status.intervals.map((interval) => el('span', 'chip', interval)));
  }
  firstInterval = status.intervals[0] ?? '1m';
  document.title = `klagg${status.mode ? ` ${status.mode}` : ''} · ${status.symbols.total} symbols`;
}

function renderLinks() {
  if (firstSymbol === '') return;
  const chart = `/chart?symbol=${firstSymbol}&interval=${firstInterval}`;
  $('link-chart').href = chart;
  $('chart-url').textContent = chart;
  const rest = `/fapi/v1/klines?symbol=${firstSymbol}&interval=${firstInterval}&limit=5`;
  $('link-rest').href = rest;
  $('rest-url').textContent = rest;
  const ws = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/market/stream?streams=${firstSymbol.toLowerCase()}@kline_${firstInterval}`;
  $('stream-url').textContent = ws;
}

function renderSymbols(symbols, now) {
  // By name: tiles that keep their place while the page refreshes.
  const sorted = [...symbols].sort((a, b) => a.symbol.localeCompare(b.symbol));
  // The examples name BTCUSDT when it is served (the usual first look), else the first symbol.
  if (firstSymbol === '' && sorted.length > 0) firstSymbol = sorted.some((s) => s.symbol === 'BTCUSDT') ? 'BTCUSDT' : sorted[0].symbol;
  $('symbols').replaceChildren(
    ...sorted.map((s) => {
      const tile = el('a', 'symbol');
      tile.href = `/chart?symbol=${encodeURIComponent(s.symbol)}&interval=${encodeURIComponent(firstInterval)}`;
      tile.title = s.lastError ? `${s.state}: ${s.lastError}` : `${s.state} on worker ${s.worker}`;
      tile.append(el('span', `dot ${s.state}`), el('span', 'name', s.symbol), el('span', 'meta', `${s.state} · ${ago(s.lastTradeTime, now)}`));
      return tile;
    }),
  );
  hook.symbols = sorted.length;
}

function renderHealth(health) {
  const pill = $('health');
  pill.className = `pill ${health.status}`;
  pill.textContent = health.status === 'ok' ? 'healthy' : health.status;
  $('actors').replaceChildren(
    ...health.actors.map((a) => {
      const item = el('li');
      item.append(el('span', `dot ${a.status}`), el('span', 'name', a.actor), el('span', 'detail', a.detail || a.status));
      return item;
    }),
  );
}

async function refresh() {
  try {
    const [status, symbols, health] = await Promise.all([json('/api/status'), json('/api/symbols'), json('/health')]);
    renderStatus(status);
    renderSymbols(symbols.symbols, status.time);
    renderLinks();
    renderHealth(health);
    hook.refreshes += 1;
    hook.error = '';
    $('error').hidden = true;
    $('refresh').textContent = `live · updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    hook.error = String(error && error.message ? error.message : error);
    $('error').hidden = false;
    $('error').textContent = `Cannot reach klagg: ${hook.error}`;
    $('refresh').textContent = 'offline';
  }
}

void refresh();
setInterval(() => void refresh(), REFRESH_MS);
