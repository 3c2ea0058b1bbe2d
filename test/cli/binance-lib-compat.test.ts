/**
 * tiagosiebler's `binance` 3.6 pointed at klagg with its documented options only: `USDMClient({ baseUrl })` for the
 * REST klines, `WebsocketClient({ wsUrl })` for the kline stream (it opens `<wsUrl>/market/stream` for USDⓈ-M
 * market data and SUBSCRIBEs there). Open updates and then a final arrive, and the final equals klagg's REST row.
 */
import t from 'tap';
import { USDMClient, WebsocketClient } from 'binance';
import { startServedKlagg } from '../support/served-klagg.ts';

interface KlineEvent {
  readonly e: string;
  readonly s: string;
  readonly k: { t: number; i: string; x: boolean; o: string; h: string; l: string; c: string; v: string; n: number; q: string; V: string; Q: string };
}

const silent = { trace: () => {}, info: () => {}, error: () => {} };

t.test('binance (tiagosiebler): USDMClient klines and WebsocketClient kline stream from klagg', async (t) => {
  const klagg = await startServedKlagg(t, { prefix: 'klagg_binance_lib', intervals: ['1m', '5m', '1h'] });
  const rest = new USDMClient({ baseUrl: klagg.base, disableTimeSync: true });
  const ws = new WebsocketClient({ wsUrl: klagg.wsBase, beautify: false }, silent);
  t.teardown(() => ws.closeAll(false));

  const events: KlineEvent[] = [];
  let wake: (() => void) | undefined;
  ws.on('message', (data) => {
    const event = data as unknown as KlineEvent;
    if (event.e === 'kline') events.push(event);
    wake?.();
  });
  const until = async (found: () => KlineEvent | undefined, what: string): Promise<KlineEvent> => {
    const deadline = Date.now() + 40_000;
    for (;;) {
      const hit = found();
      if (hit !== undefined) return hit;
      if (Date.now() > deadline) throw new Error(`no ${what} within 40 s (${events.length} kline events)`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 500);
      });
    }
  };
  await ws.subscribeKlines(klagg.symbol, '1m', 'usdm');

  const update = await until(() => events.find((e) => !e.k.x), 'open update');
  t.equal(update.s, klagg.symbol);
  t.equal(update.k.i, '1m');
  const final = await until(() => events.find((e) => e.k.x && e.k.t === klagg.firstFinalOpenTime), 'final of the minute that ended');
  t.ok(events.indexOf(final) > events.indexOf(update), 'updates first, then the final');

  const rows = await rest.getKlines({ symbol: klagg.symbol, interval: '1m', startTime: klagg.firstFinalOpenTime, limit: 1 });
  t.equal(rows.length, 1);
  const k = final.k;
  t.same(rows[0]!.slice(0, 11), [k.t, k.o, k.h, k.l, k.c, k.v, k.t + 59_999, k.q, k.n, k.V, k.Q], 'the final event equals klagg’s REST row, field for field');

  // Lower-case symbols are for stream names only: REST answers as Binance does.
  await t.rejects(rest.getKlines({ symbol: klagg.symbol.toLowerCase(), interval: '1m' }), { code: -1121, message: 'Invalid symbol.' });
});
