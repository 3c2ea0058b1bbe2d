/**
 * The chart page in a real browser: `klagg demo` as a child process, the page in headless Chromium (Debian's, via
 * playwright-core). Candles come from the REST history, a live update arrives over the stream, every request stays
 * on the local host (no CDN), and a screenshot lands in test-artifacts/chart.png. A missing Chromium fails the test.
 */
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from '../support/browser.ts';
import { startDemo } from '../support/demo.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

interface ChartHook {
  readonly candles: number;
  readonly lastClose: string;
  readonly updates: number;
  readonly error: string;
}

t.test('the chart page draws history, updates live and loads nothing from other hosts', async (t) => {
  const { base, symbol } = await startDemo(t, { prefix: 'klagg_chart', symbols: 3, rate: 60 });
  const browser = await launchBrowser(t, { viewport: { width: 1200, height: 700 } });
  const page = browser.page;
  const requested: string[] = [];
  page.on('request', (request) => requested.push(request.url()));
  page.on('websocket', (ws) => requested.push(ws.url()));

  const response = await page.goto(`${base}/chart?symbol=${symbol}&interval=1m`, { waitUntil: 'load' });
  t.equal(response?.status(), 200, 'the page is served');
  t.equal(await page.title(), `${symbol} 1m · klagg`, 'the script ran');

  const hook = (): Promise<ChartHook> => page.evaluate(() => (globalThis as unknown as { __klaggChart: ChartHook }).__klaggChart);
  await page.waitForFunction(() => ((globalThis as unknown as { __klaggChart?: ChartHook }).__klaggChart?.candles ?? 0) > 0, undefined, { timeout: 10_000 });
  t.ok(await page.locator('#chart canvas').count() > 0, 'the chart canvas exists');
  const drawn = await hook();
  t.ok(drawn.candles >= 1, `candles drawn (${drawn.candles})`);
  t.match(drawn.lastClose, /^\d+(\.\d+)?$/, 'last close kept as the exact decimal string');
  t.equal(drawn.error, '', 'no error shown');

  const before = drawn.updates;
  await page.waitForFunction((n) => ((globalThis as unknown as { __klaggChart: ChartHook }).__klaggChart.updates) > n, before, { timeout: 10_000 });
  const live = await hook();
  t.ok(live.updates > before, `a live update arrived (${live.updates})`);
  t.equal(await page.locator('#status').textContent(), 'live', 'the status says live');
  t.ok(await page.locator('#symbol option').count() >= 3, 'the symbol selector lists the served symbols');

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'chart.png') });

  const foreign = requested.filter((url) => !LOCAL_HOSTS.has(new URL(url).host.replace(/:\d+$/, '')));
  t.same(foreign, [], 'no request left the local host');
  t.ok(requested.some((url) => url.endsWith('/vendor/lightweight-charts.js')), 'lightweight-charts came from klagg');
  t.same(browser.errors, [], 'no script or console errors');
});
