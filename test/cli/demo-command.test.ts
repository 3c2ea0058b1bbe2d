/**
 * `klagg demo` as a user runs it: a child process with a day of market history. The start backfills that history
 * (klagg's stored past equals the fake exchange's REST klines, every field), then prints the banner — once, after the
 * backfill's log lines; its URLs answer; its stream pushes klines; SIGTERM stops it with 0.
 */
import t from 'tap';
import { startDemo } from '../support/demo.ts';
import { WsClient } from '../support/ws-client.ts';

type Row = [number, string, string, string, string, string, number, string, number, string, string, string];

async function rows(url: string): Promise<Row[]> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Row[];
}

t.test('klagg demo backfills its market’s history, prints the banner once, last, and serves live klines', async (t) => {
  const demo = await startDemo(t, { prefix: 'klagg_demo', symbols: 6, rate: 60, history: 1, env: { KLAGG_LOG_LEVEL: 'info' } });
  const { urls, base, symbol } = demo;

  // The banner: printed once, after the start-up backfill (whose per-symbol lines are no longer at info).
  const atBanner = demo.output();
  t.equal(atBanner.match(/Ctrl\+C stops it\./g)?.length, 1, 'one banner');
  const bannerAt = atBanner.indexOf('demo is running —');
  const finishedAt = atBanner.indexOf('"msg":"backfill finished"');
  t.ok(finishedAt >= 0 && finishedAt < bannerAt, 'the backfill finished before the banner', { output: atBanner.split('\n').filter((line) => !line.startsWith('{') || /backfill|"level":[456]0/.test(line)) });
  t.notMatch(atBanner, /"msg":"symbol backfilled"/, 'no log line per symbol at info');
  t.match(atBanner, /6 generated symbols · 1 day of history/, 'the banner says what runs');
  for (const key of ['home', 'chart', 'inspector', 'rest', 'streams', 'symbols', 'health', 'metrics', 'exchange']) t.ok(urls[key], `the banner has the ${key} URL`);

  const symbols = (await (await fetch(urls['symbols']!)).json()) as { symbols: { symbol: string; state: string }[] };
  t.equal(symbols.symbols.length, 6, 'six symbols');
  t.ok(symbols.symbols.every((s) => s.state === 'Active'), 'all Active');
  t.equal((await fetch(urls['health']!)).status, 200, 'healthy');
  const status = (await (await fetch(`${base}/api/status`)).json()) as { mode: string; intervals: string[]; symbols: { total: number; states: Record<string, number> } };
  t.equal(status.mode, 'demo');
  t.same(status.symbols, { total: 6, states: { Active: 6 } }, '/api/status counts the symbols by state');
  const home = await fetch(urls['home']!);
  t.equal(home.status, 200, 'the landing page is served at /');
  t.match(home.headers.get('content-type'), /text\/html/);

  // History: the past the start backfilled is the exchange's, kline for kline, for every interval served.
  const exchange = urls['exchange']!;
  const now = Date.now();
  for (const interval of status.intervals) {
    const query = `symbol=${symbol}&interval=${interval}&limit=1500`;
    const [ours, theirs] = await Promise.all([rows(`${base}/fapi/v1/klines?${query}`), rows(`${exchange}/fapi/v1/klines?${query}`)]);
    // Closed before the first request: the open period (and one that closed meanwhile) is live on both sides.
    const closed = (list: Row[]): Row[] => list.filter((row) => row[6] < now);
    // A day of history: every interval up to 1d has closed periods in it (1w and 1M may well not).
    if (interval.endsWith('m') || interval.endsWith('h') || interval === '1d') t.ok(closed(theirs).length > 0, `${interval}: the exchange has history`);
    // klagg keeps `depth` (1000) periods of an interval: for 1m less than the day the exchange has.
    const from = ours[0]?.[0] ?? Number.POSITIVE_INFINITY;
    const overlap = closed(theirs).filter((row) => row[0] >= from);
    t.ok(closed(ours).length >= Math.min(1000, closed(theirs).length), `${interval}: klagg has the exchange’s history, up to its depth (${closed(ours).length} klines)`);
    t.same(closed(ours), overlap, `${interval}: klagg’s past klines equal the exchange’s, every field`);
  }
  const minutes = (await rows(`${base}/fapi/v1/klines?symbol=${symbol}&interval=1m&limit=1500`)).length;
  t.ok(minutes >= 1000, `the chart opens on a full 1m history (${minutes} klines)`);

  const client = await WsClient.open(urls['streams']!);
  // The first kline pushed, within 10 s.
  const event: { stream: string; data: { e: string; k: { i: string; o: string; x: boolean } } } = await client.next(() => true, 10_000);
  client.close();
  t.match(event.stream, /@kline_1m$/);
  t.equal(event.data.e, 'kline');
  t.match(event.data.k.o, /^\d+(\.\d+)?$/, 'prices as exact decimal strings');

  const latest = await rows(urls['rest']!);
  t.ok(latest.length === 5 && latest.every((row) => row.length === 12), 'Binance’s 12-field rows, the live kline included');
  const bad = await fetch(urls['rest']!.replace('interval=1m', 'interval=2m'));
  t.same([bad.status, await bad.json()], [400, { code: -1120, msg: 'Invalid interval.' }]);

  t.equal(demo.output().match(/Ctrl\+C stops it\./g)?.length, 1, 'still one banner');
  t.equal(await demo.stop(), 0, 'SIGTERM stops it cleanly');
});
