/** `klagg demo` as a user runs it: a child process; its URLs answer; its stream pushes klines; SIGTERM stops it with 0. */
import t from 'tap';
import { startDemo } from '../support/demo.ts';
import { WsClient } from '../support/ws-client.ts';

t.test('klagg demo serves live klines over the Binance-compatible REST route and stream, and stops cleanly', async (t) => {
  const demo = await startDemo(t, { prefix: 'klagg_demo', symbols: 6, rate: 60 });
  const urls = demo.urls;

  const symbols = (await (await fetch(urls['symbols']!)).json()) as { symbols: { symbol: string; state: string }[] };
  t.equal(symbols.symbols.length, 6, 'six symbols');
  t.ok(symbols.symbols.every((s) => s.state === 'Active'), 'all Active');
  t.equal((await fetch(urls['health']!)).status, 200, 'healthy');

  const client = await WsClient.open(urls['streams']!);
  // The first kline pushed, within 10 s.
  const event: { stream: string; data: { e: string; k: { i: string; o: string; x: boolean } } } = await client.next(() => true, 10_000);
  client.close();
  t.match(event.stream, /@kline_1m$/);
  t.equal(event.data.e, 'kline');
  t.match(event.data.k.o, /^\d+(\.\d+)?$/, 'prices as exact decimal strings');

  const rows = (await (await fetch(`${urls['rest']}&limit=5`)).json()) as unknown[][];
  t.ok(rows.length >= 1 && rows.every((row) => row.length === 12), 'Binance’s 12-field rows, the live kline included');
  const bad = await fetch(urls['rest']!.replace('interval=1m', 'interval=2m'));
  t.same([bad.status, await bad.json()], [400, { code: -1120, msg: 'Invalid interval.' }]);

  t.equal(await demo.stop(), 0, 'SIGTERM stops it cleanly');
});
