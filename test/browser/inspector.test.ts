/**
 * The inspector in a real browser: `klagg demo` as a child process with an admin token, /inspector in headless
 * Chromium. It draws the machines' state charts, shows each symbol's lifecycle live, and an admin deactivation shows
 * up as a state change. Screenshot in test-artifacts/inspector.png.
 */
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from '../support/browser.ts';
import { startDemo } from '../support/demo.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const TOKEN = 'inspector-test-admin-token-0123456789';

t.test('the inspector draws the state charts and shows a state change after an admin action', async (t) => {
  const { base, symbol } = await startDemo(t, { prefix: 'klagg_inspector', symbols: 3, rate: 30, env: { KLAGG_ADMIN_TOKEN: TOKEN } });
  const { page } = await launchBrowser(t, { viewport: { width: 1400, height: 900 } });
  const foreign: string[] = [];
  page.on('request', (request) => {
    const host = new URL(request.url()).hostname;
    if (host !== '127.0.0.1' && host !== 'localhost') foreign.push(request.url());
  });
  await page.goto(`${base}/inspector`);
  await page.waitForSelector('#charts .machine[data-machine="symbol"]');
  const states = await page.$$eval('#charts .machine[data-machine="symbol"] [data-state-id]', (boxes) => boxes.map((b) => b.getAttribute('data-state-id')));
  for (const state of ['symbol.Pending', 'symbol.Activating', 'symbol.Active', 'symbol.Failed']) t.ok(states.includes(state), `the lifecycle chart shows ${state}`);

  await page.fill('#filter', symbol);
  const stateOf = () =>
    page.$$eval('#actors tbody tr', (rows, name) => {
      const row = rows.find((r) => r.children[0]?.textContent?.includes(name as string) && r.children[1]?.textContent === 'symbol');
      return row?.children[2]?.textContent ?? '';
    }, symbol);
  for (let i = 0; i < 100 && !(await stateOf()).startsWith('Active'); i++) await page.waitForTimeout(100);
  t.match(await stateOf(), /^Active/, `${symbol} shows Active`);

  const response = await fetch(`${base}/admin/symbols/${symbol}/deactivate`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(response.status, 200, 'the admin deactivation was accepted');
  for (let i = 0; i < 100 && !(await stateOf()).startsWith('Pending'); i++) await page.waitForTimeout(100);
  t.match(await stateOf(), /^Pending/, 'the admin action shows up live as Active → Pending');
  const events = await page.$eval('#events', (list) => list.textContent ?? '');
  t.match(events, /DEACTIVATE/, 'and in the recent events');
  t.same(foreign, [], 'nothing loaded from another host');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'inspector.png'), fullPage: true });
});
