/**
 * The inspector in a real browser at 1,280 px: `klagg demo` as a child process with an admin token, /inspector in
 * headless Chromium. Each machine is a state chart (SVG, arrows labelled with the machine's own events); the selected
 * symbol's state is highlighted and follows an admin deactivation live; the actor panel shows its context and last
 * events; the filter narrows actors and events; finished flushes collapse into a counter, so the list stays the same
 * length while they pile up; the page never scrolls sideways. Any console error or failed request fails the test.
 * Screenshots: test-artifacts/inspector.png (overview with a chart), test-artifacts/inspector-actor.png (actor panel).
 */
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { GraphState, MachineGraph } from '../../src/infra/inspector/inspector-hub.ts';
import { launchBrowser } from '../support/browser.ts';
import { startDemo } from '../support/demo.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const TOKEN = 'inspector-test-admin-token-0123456789';

async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const eventsOf = (state: GraphState): string[] => [...state.transitions.map((x) => x.event), ...state.states.flatMap(eventsOf)];

/** The chart shown: its machine, state ids, arrows (with a path each) and the events on their labels. */
const chartOf = (page: Page) =>
  page.$eval('#chart svg.state-chart', (svg) => ({
    machine: svg.getAttribute('data-machine'),
    states: [...svg.querySelectorAll('g.state')].map((g) => g.getAttribute('data-state-id')),
    arrows: [...svg.querySelectorAll('g.transition')].filter((g) => g.querySelector('path')?.getAttribute('d')?.startsWith('M')).length,
    labelled: [...svg.querySelectorAll('g.edge-label tspan.event')].map((s) => s.textContent ?? ''),
    current: [...svg.querySelectorAll('g.state.current')].map((g) => g.getAttribute('data-state-id')),
    initialMarkers: svg.querySelectorAll('circle.initial-marker').length,
    finals: svg.querySelectorAll('g.state.final').length,
  }));

t.test('the inspector: state charts, a live actor panel, a filter on both lists, finished actors collapsed, 1,280 px wide', async (t) => {
  const { base, symbol } = await startDemo(t, { prefix: 'klagg_inspector', symbols: 5, rate: 200, env: { KLAGG_ADMIN_TOKEN: TOKEN } });
  const { page } = await launchBrowser(t, { viewport: { width: 1280, height: 900 } });
  let over = false;
  t.teardown(() => void (over = true));
  const foreign: string[] = [];
  page.on('request', (request) => {
    const host = new URL(request.url()).hostname;
    if (host !== '127.0.0.1' && host !== 'localhost') foreign.push(request.url());
  });
  page.on('requestfailed', (request) => {
    // The event stream is cut when the demo stops at teardown.
    if (!over && !t.ended) t.fail(`request failed: ${request.url()} (${request.failure()?.errorText})`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) t.fail(`request answered ${response.status()}: ${response.url()}`);
  });
  const machines = ((await (await fetch(`${base}/inspector/machines`)).json()) as { machines: MachineGraph[] }).machines;
  await page.goto(`${base}/inspector`);
  await page.waitForSelector('#chart svg.state-chart');

  await t.test('every machine with states is a chart with labelled arrows naming its own events', async (t) => {
    for (const graph of machines.filter((m) => !m.stateless)) {
      await page.click(`#machines button[data-machine="${graph.id}"]`);
      await page.waitForSelector(`#chart svg.state-chart[data-machine="${graph.id}"]`);
      const chart = await chartOf(page);
      const events = new Set(eventsOf(graph.root));
      t.ok(chart.arrows > 0 && chart.labelled.length > 0, `${graph.id}: ${chart.arrows} arrows, ${chart.labelled.length} labels`);
      t.same(chart.labelled.filter((label) => !events.has(label)), [], `${graph.id}: every label is an event of the machine`);
      t.ok(chart.initialMarkers > 0, `${graph.id}: initial states marked`);
    }
    await page.click('#machines button[data-machine="symbol"]');
    await page.waitForSelector('#chart svg.state-chart[data-machine="symbol"]');
    const symbolChart = await chartOf(page);
    for (const state of ['symbol.Pending', 'symbol.Activating', 'symbol.Active', 'symbol.Failed']) t.ok(symbolChart.states.includes(state), `the lifecycle chart shows ${state}`);
    for (const event of ['ACTIVATE', 'ACTIVATED', 'DEACTIVATE', 'FORCE_ACTIVATE']) t.ok(symbolChart.labelled.includes(event), `an arrow is labelled ${event}`);
    await page.click('#machines button[data-machine="streamConnection"]');
    await page.waitForSelector('#chart svg.state-chart[data-machine="streamConnection"]');
    t.equal((await chartOf(page)).finals, 1, 'the connection\'s final state (stopped) is drawn as one');
    await page.click('#machines button[data-machine="worker"]');
    await page.waitForSelector('#chart .no-chart table.handled');
    const handled = await page.$$eval('#chart table.handled tbody tr', (rows) => rows.map((r) => r.getAttribute('data-event')));
    t.ok(handled.includes('PULL_DELTAS') && handled.includes('ACTIVATE_SYMBOL'), 'the stateless worker machine is shown as the events it handles, not an empty chart');
  });

  await t.test('finished flushes collapse into a counter: the list does not grow while they pile up', async (t) => {
    const flushes = () => page.$eval('#actors tbody', (body) => {
      const row = [...body.querySelectorAll('tr.finished-group')].find((r) => r.textContent?.includes('flush'));
      return Number(/(\d+) finished/.exec(row?.textContent ?? '')?.[1] ?? 0);
    });
    const rows = () => page.$$eval('#actors tbody tr', (list) => list.length);
    await until('a first finished flush', async () => (await flushes()) >= 1);
    const first = await flushes();
    const before = await rows();
    await until('5 more finished flushes', async () => (await flushes()) >= first + 5, 60_000);
    t.ok((await flushes()) >= first + 5, `${await flushes()} finished flushes counted`);
    t.ok((await rows()) <= before, `the actor list stayed at ${before} rows (now ${await rows()})`);
    const flushGroup = '#actors tr.finished-group[data-group$="|flush"]';
    const shownFinished = () => page.$$eval('#actors tbody tr.stopped[data-machine="promise"]', (list) => list.length);
    await page.click(flushGroup);
    await until('the group opened', async () => (await shownFinished()) > 0);
    const opened = await shownFinished();
    t.ok(opened >= 1 && opened <= 3, `opened, the counter shows the last few (${opened})`);
    await page.click(flushGroup);
    await until('the group folded', async () => (await shownFinished()) === 0);
    t.equal(await shownFinished(), 0, 'and folds them away again');
    await page.click('#machines button[data-machine="dbWriter"]');
    await page.waitForSelector('#chart svg.state-chart[data-machine="dbWriter"]');
    await page.waitForSelector('#chart svg g.state.occupied');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'inspector.png'), fullPage: true });
  });

  await t.test('the filter narrows both lists', async (t) => {
    const allEvents = await page.$$eval('#events li', (list) => list.length);
    await page.fill('#filter', symbol);
    await until('the filter applied', async () => (await page.$$eval('#actors tbody tr', (rows) => rows.length)) <= 3);
    const actors = await page.$$eval('#actors tbody tr', (rows) => rows.map((r) => r.textContent ?? ''));
    t.ok(actors.length >= 1, `${actors.length} actor row(s)`);
    t.same(actors.filter((text) => !text.toUpperCase().includes(symbol)), [], `every actor row names ${symbol}`);
    const events = await page.$$eval('#events li', (list) => list.map((li) => li.textContent ?? ''));
    t.ok(events.length >= 1 && events.length < allEvents, `the events narrowed from ${allEvents} to ${events.length}`);
    t.same(events.filter((text) => !text.toUpperCase().includes(symbol)), [], `every event is ${symbol}'s`);
  });

  await t.test('selecting the symbol: its chart, its state highlighted live, its context and last events', async (t) => {
    await page.click('#actors tbody tr[data-machine="symbol"]');
    await page.waitForSelector('#chart svg.state-chart[data-machine="symbol"]');
    await until('Active highlighted', async () => (await chartOf(page)).current.includes('symbol.Active'));
    t.same((await chartOf(page)).current, ['symbol.Active'], 'the selected actor\'s state is the highlighted one');
    await page.waitForSelector('#actor-panel pre.json');
    t.match(await page.$eval('#actor-panel pre.json', (pre) => pre.textContent ?? ''), new RegExp(`"symbol": "${symbol}"`), 'the panel shows its context');
    t.match(await page.$eval('#actor-panel .actor-events', (box) => box.textContent ?? ''), /ACTIVATED\s*→ Active/, 'and its last events, with the states they led to');

    const response = await fetch(`${base}/admin/symbols/${symbol}/deactivate`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    t.equal(response.status, 200, 'the admin deactivation was accepted');
    await until('Pending highlighted', async () => (await chartOf(page)).current.includes('symbol.Pending'));
    t.same((await chartOf(page)).current, ['symbol.Pending'], 'the highlight moved live from Active to Pending');
    const taken = await page.$$eval('#chart svg g.transition.taken', (list) => list.map((g) => `${g.getAttribute('data-source')} → ${g.getAttribute('data-target')}`));
    t.same(taken, ['symbol.Active → symbol.Pending'], 'the arrow just taken, and only it, is marked');
    await until('the panel updated', async () => /DEACTIVATE\s*→ Pending/.test(await page.$eval('#actor-panel .actor-events', (box) => box.textContent ?? '')));
    t.match(await page.$eval('#events', (list) => list.textContent ?? ''), /DEACTIVATE/, 'and the recent events show it');
    await page.screenshot({ path: join(ARTIFACTS, 'inspector-actor.png'), fullPage: true });
  });

  await t.test('the page fits 1,280 px: no sideways scrolling, no panel or column past the edge', async (t) => {
    await page.fill('#filter', '');
    const layout = await page.$eval('html', (root) => ({
      scroll: root.scrollWidth,
      width: root.clientWidth,
      panels: [...root.querySelectorAll('main > section')].map((s) => Math.round(s.getBoundingClientRect().right)),
      headers: [...root.querySelectorAll('#actors th')].map((th) => Math.round(th.getBoundingClientRect().right)),
      actorsRight: Math.round(root.querySelector('#actors-panel')!.getBoundingClientRect().right),
    }));
    t.ok(layout.scroll <= layout.width, `no horizontal overflow (${layout.scroll} ≤ ${layout.width})`);
    t.ok(layout.panels.every((right) => right <= layout.width), `every panel inside the page (${layout.panels.join(', ')})`);
    t.ok(layout.headers.every((right) => right <= layout.actorsRight), 'every column of the actor list inside its panel');
  });

  t.same(foreign, [], 'nothing loaded from another host');
});
