/**
 * What `klagg demo` prints on stdout once its start is complete (history backfilled, every face serving): what runs
 * and where to look, one labelled URL a line. Printed once, last, so it is what a terminal shows when the start is
 * over. Tests read the URLs back from it (`parseBannerUrls`): the labels are part of its contract.
 */

export interface DemoUrls {
  readonly home: string;
  readonly chart: string;
  readonly inspector: string;
  /** A Binance-compatible REST example (the most active symbol's last 1m klines). */
  readonly rest: string;
  /** A Binance-compatible stream example. */
  readonly streams: string;
  readonly symbols: string;
  readonly health: string;
  readonly metrics: string;
  /** The local fake exchange the demo aggregates (its REST and WebSocket base). */
  readonly exchange: string;
}

export interface DemoBannerFacts {
  readonly version: string;
  readonly symbols: number;
  readonly historyDays: number;
  readonly intervals: readonly string[];
  /** `pglite:./data` or a redacted postgres:// URL. */
  readonly database: string;
  /** Wall time of the start, ms. */
  readonly startMs: number;
  /** The audit command that compares this demo's store with its exchange (only when the database can be shared). */
  readonly audit?: string;
}

/** The banner's groups of labelled URLs, in order. */
const GROUPS: readonly { readonly title: string; readonly entries: readonly (readonly [keyof DemoUrls, string])[] }[] = [
  { title: 'In a browser', entries: [['home', 'Home'], ['chart', 'Chart'], ['inspector', 'Inspector']] },
  { title: 'Binance-compatible API (point a Binance client at it)', entries: [['rest', 'REST'], ['streams', 'Streams']] },
  { title: 'klagg’s own', entries: [['symbols', 'Symbols'], ['health', 'Health'], ['metrics', 'Metrics']] },
  { title: 'The local fake Binance it aggregates', entries: [['exchange', 'Exchange']] },
];
const LABELS = GROUPS.flatMap((group) => group.entries);

const WIDTH = 11;

/** The banner's text; `color` adds ANSI bold/cyan/dim for a terminal. */
export function demoBanner(urls: DemoUrls, facts: DemoBannerFacts, color: boolean): string {
  const bold = (text: string): string => (color ? `\u001b[1m${text}\u001b[22m` : text);
  const cyan = (text: string): string => (color ? `\u001b[36m${text}\u001b[39m` : text);
  const dim = (text: string): string => (color ? `\u001b[2m${text}\u001b[22m` : text);
  const history = facts.historyDays > 0 ? `${facts.historyDays} ${facts.historyDays === 1 ? 'day' : 'days'} of history` : 'no history';
  const lines = [
    '',
    `  ${bold(`klagg ${facts.version} demo is running`)} ${dim(`— started in ${(facts.startMs / 1000).toFixed(1)} s`)}`,
    `  ${facts.symbols} generated symbols · ${history} · intervals ${facts.intervals.join(' ')}`,
    `  ${dim(`database ${facts.database}`)}`,
    ...GROUPS.flatMap((group) => ['', `  ${dim(group.title)}`, ...group.entries.map(([key, label]) => `    ${label.padEnd(WIDTH)}${cyan(urls[key])}`)]),
    ...(facts.audit === undefined ? [] : ['', `  ${dim('Audit the stored klines against the exchange’s (from another terminal)')}`, `    ${facts.audit}`]),
    '',
    `  ${bold('Ctrl+C')} stops it.`,
    '',
  ];
  return `${lines.join('\n')}\n`;
}

/** The URLs of a banner (plain text), by their keys; the keys whose line is missing are absent. */
export function parseBannerUrls(text: string): Partial<Record<keyof DemoUrls, string>> {
  const urls: Partial<Record<keyof DemoUrls, string>> = {};
  for (const [key, label] of LABELS) {
    const match = new RegExp(`^ +${label} +((?:https?|wss?)://\\S+)`, 'm').exec(text);
    if (match !== null) urls[key] = match[1]!;
  }
  return urls;
}
