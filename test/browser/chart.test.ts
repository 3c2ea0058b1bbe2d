/**
 * The chart page in a real browser: `klagg demo` as a child process, the page in headless Chromium (Debian's, via
 * playwright-core). Candles come from the REST history, a live update arrives over the stream, every request stays
 * on the local host (no CDN), and a screenshot lands in test-artifacts/chart.png. A missing Chromium fails the test.
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { startDemo } from '../support/demo.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const CHROMIUM = process.env['KLAGG_CHROMIUM'] ?? '/usr/bin/chromium';
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

interface ChartHook {
  readonly candles: number;
  readonly lastClose: string;
  readonly updates: number;
  readonly error: string;
}

t.test('the chart page draws history, updates live and loads nothing from other hosts', async (t) => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set KLAGG_CHROMIUM)`);
  }

  const { base, symbol } = await startDemo(t, { prefix: 'klagg_chart', symbols: 3, rate: 60 });
  const profile = mkdtempSync(join(tmpdir(), 'klagg-chromium-'));
  let browser: BrowserContext | undefined;
  t.teardown(async () => {
    await browser?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  });

  // A persistent context on a fresh directory is playwright's way to pass --user-data-dir.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: { width: 1200, height: 700 },
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  const requested: string[] = [];
  const pageErrors: string[] = [];
  page.on('request', (request) => requested.push(request.url()));
  page.on('websocket', (ws) => requested.push(ws.url()));
  page.on('pageerror', (error) => pageErrors.push(String(error)));

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
  t.same(pageErrors, [], 'no script errors');
});
