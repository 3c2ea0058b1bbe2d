/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium (or KLAGG_CHROMIUM) driven by playwright-core,
 * on a fresh profile directory, with everything that would reach the internet on its own turned off. An error in the
 * page's console or an uncaught script error fails the test. A missing Chromium fails the test too (never a skip).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Test } from 'tap';

const CHROMIUM = process.env['KLAGG_CHROMIUM'] ?? '/usr/bin/chromium';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface TestBrowser {
  readonly context: BrowserContext;
  readonly page: Page;
  /** The console errors and uncaught script errors of the page so far (each has also failed the test). */
  readonly errors: readonly string[];
}

/** Launches Chromium with one page; closed, and its profile deleted, at the test's teardown. */
export async function launchBrowser(t: Test, options: { viewport: { width: number; height: number } }): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set KLAGG_CHROMIUM)`);
  const profile = mkdtempSync(join(tmpdir(), 'klagg-chromium-'));
  let context: BrowserContext | undefined;
  let closing = false;
  t.teardown(async () => {
    closing = true;
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  });
  // A persistent context on a fresh directory is playwright's way to pass --user-data-dir.
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, viewport: options.viewport, timeout: 30_000, args: FLAGS });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  const report = (error: string): void => {
    // Once the test is over (its servers stopping, the browser closing) a broken connection is expected, not a fault.
    if (closing || t.ended) return;
    errors.push(error);
    t.fail(`the page reported an error: ${error}`);
  };
  page.on('console', (message) => {
    if (message.type() === 'error') report(`console: ${message.text()}${message.location().url ? ` (${message.location().url})` : ''}`);
  });
  page.on('pageerror', (error) => report(`script: ${String(error)}`));
  return { context, page, errors };
}
