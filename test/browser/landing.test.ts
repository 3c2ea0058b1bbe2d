/**
 * The landing page (`/`) in a real browser: `klagg demo` as a child process, the page in headless Chromium (Debian's,
 * via playwright-core). It says what runs (version, venue, intervals, database, health), lists every symbol with its
 * lifecycle state, links to the chart, inspector, API, health and metrics, refreshes itself, and loads nothing from
 * another host; a failed request or a console error fails the test. A screenshot lands in test-artifacts/landing.png.
 */
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from '../support/browser.ts';
import { startDemo } from '../support/demo.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

interface HomeHook {
  readonly refreshes: number;
  readonly symbols: number;
  readonly error: string;
}

t.test('the landing page shows what runs, the symbols and their states, and the ways in', async (t) => {
  const { base, symbol } = await startDemo(t, { prefix: 'klagg_landing', symbols: 12, rate: 60, history: 1 });
  const browser = await launchBrowser(t, { viewport: { width: 1280, height: 900 } });
  const page = browser.page;
  const requested: string[] = [];
  page.on('request', (request) => requested.push(request.url()));
  page.on('requestfailed', (request) => t.fail(`request failed: ${request.url()} (${request.failure()?.errorText})`));
  page.on('response', (response) => {
    if (response.status() >= 400) t.fail(`HTTP ${response.status()} for ${response.url()}`);
  });

  const response = await page.goto(`${base}/`, { waitUntil: 'load' });
  t.equal(response?.status(), 200, 'the page is served at /');
  const hook = (): Promise<HomeHook> => page.evaluate(() => (globalThis as unknown as { __klaggHome: HomeHook }).__klaggHome);
  await page.waitForFunction(() => ((globalThis as unknown as { __klaggHome?: HomeHook }).__klaggHome?.refreshes ?? 0) > 0, undefined, { timeout: 10_000 });

  t.equal(await page.title(), 'klagg demo · 12 symbols', 'the title says what runs');
  t.match(await page.locator('#version').textContent(), /^v\d+\.\d+\.\d+/, 'the version');
  t.equal(await page.locator('#mode').textContent(), 'demo');
  t.equal(await page.locator('#venue').textContent(), 'binance · usdm', 'venue and market');
  t.equal(await page.locator('#database').textContent(), 'PostgreSQL', 'the database kind');
  t.equal(await page.locator('#health').textContent(), 'healthy', 'health');
  t.ok((await page.locator('#intervals .chip').allTextContents()).includes('1m'), 'the intervals');
  t.match(await page.locator('#uptime').textContent(), /\d+ (s|min)/, 'the uptime');
  t.ok((await page.locator('#actors li').count()) > 3, 'the actors’ health');

  const tiles = page.locator('#symbols .symbol');
  t.equal(await tiles.count(), 12, 'every symbol, one tile each');
  t.equal(await page.locator('#symbols .dot.Active').count(), 12, 'each with its lifecycle state (all Active)');
  t.equal(await page.locator('#state-summary').textContent(), '12 Active', 'the states summed up');
  const tile = page.locator('#symbols .symbol', { hasText: symbol });
  t.equal(await tile.getAttribute('href'), `/chart?symbol=${symbol}&interval=1m`, 'a tile opens the symbol’s chart');

  for (const [selector, path] of [
    ['#link-chart', /^\/chart\?symbol=BTCUSDT&interval=1m$/],
    ['a[href="/inspector"]', /^\/inspector$/],
    ['#link-rest', /^\/fapi\/v1\/klines\?symbol=[A-Z0-9]+&interval=1m&limit=5$/],
    ['a[href="/health"]', /^\/health$/],
    ['a[href="/metrics"]', /^\/metrics$/],
    ['a[href="/api/symbols"]', /^\/api\/symbols$/],
  ] as const) {
    t.match(await page.locator(selector).getAttribute('href'), path, `a link to ${selector}`);
  }
  t.match(await page.locator('#stream-url').textContent(), /^ws:\/\/127\.0\.0\.1:\d+\/market\/stream\?streams=[a-z0-9]+@kline_1m$/, 'the stream URL to connect to');
  const rest = await page.request.get(`${base}${await page.locator('#link-rest').getAttribute('href')}`);
  t.equal((await rest.json() as unknown[]).length, 5, 'the REST example answers');

  const before = (await hook()).refreshes;
  await page.waitForFunction((n) => (globalThis as unknown as { __klaggHome: HomeHook }).__klaggHome.refreshes > n, before, { timeout: 10_000 });
  t.equal((await hook()).error, '', 'it refreshes itself without error');

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'landing.png'), fullPage: true });

  const foreign = requested.filter((url) => !LOCAL_HOSTS.has(new URL(url).host.replace(/:\d+$/, '')));
  t.same(foreign, [], 'no request left the local host');
  t.same(browser.errors, [], 'no script or console errors');
});
