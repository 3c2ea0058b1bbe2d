/**
 * The StreamManager's lag measure (receive time − trade time T of every aggTrade frame): against a tiny WebSocket
 * server that sends frames with chosen T under a clock the test controls (exact figures), and against the fake
 * exchange with a receive clock 1.5 s ahead of it.
 */
import t, { type Test } from 'tap';
import { WebSocketServer, type WebSocket } from 'ws';
import { ManualClock, systemClock, type Clock } from '../../src/infra/clock.ts';
import { StreamManager } from '../../src/actors/stream-manager.ts';
import { FakeExchange } from '../../src/infra/fake-exchange/fake-exchange.ts';
import type { StreamMetricsSource } from '../../src/infra/http/metrics.ts';
import { createRootLogger } from '../../src/infra/logger.ts';
import { createExchangeSocket } from '../../src/infra/exchange-stream/exchange-socket.ts';

const logger = createRootLogger({ level: 'silent' });
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await wait(10);
  }
}

/** A WebSocket server that answers SUBSCRIBE and lets the test push frames to every client. */
async function tinyExchange(t: Test) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const clients = new Set<WebSocket>();
  let subscriptions = 0;
  server.on('connection', (ws) => {
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    ws.on('message', (data) => {
      const request = JSON.parse(String(data)) as { method: string; id: number };
      if (request.method === 'SUBSCRIBE') subscriptions++;
      ws.send(JSON.stringify({ result: null, id: request.id }));
    });
  });
  t.teardown(() => {
    for (const ws of clients) ws.terminate();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  if (typeof address === 'string' || address === null) throw new Error('no port');
  return {
    url: `ws://127.0.0.1:${address.port}`,
    get subscriptions() {
      return subscriptions;
    },
    get clients() {
      return clients.size;
    },
    send(frame: string): void {
      for (const ws of clients) ws.send(frame);
    },
  };
}

const aggTrade = (symbol: string, aggId: number, tradeTime: number): string =>
  `{"stream":"${symbol.toLowerCase()}@aggTrade","data":{"e":"aggTrade","E":${tradeTime + 3},"a":${aggId},"s":"${symbol}","p":"1.5","q":"2","nq":"2","f":${aggId},"l":${aggId},"T":${tradeTime},"m":false}}`;
const kline = (symbol: string, closeTime: number): string =>
  `{"stream":"${symbol.toLowerCase()}@kline_1m","data":{"e":"kline","E":${closeTime},"s":"${symbol}","k":{"t":${closeTime - 59_999},"T":${closeTime},"s":"${symbol}","i":"1m"}}}`;

async function setup(t: Test, clock: Clock) {
  const exchange = await tinyExchange(t);
  let frames = 0;
  const manager = new StreamManager({ connect: createExchangeSocket, wsBaseUrl: exchange.url, clock, logger, onFrame: () => void frames++, maxMessagesPerSecond: 50, silenceMs: 60_000 });
  t.teardown(() => manager.stop());
  manager.subscribe(['btcusdt@aggTrade', 'ethusdt@aggTrade']);
  await until(() => exchange.subscriptions >= 1);
  return {
    exchange,
    manager,
    get frames() {
      return frames;
    },
  };
}

t.test('frames whose T is 1500 ms before the receive clock: p99 = 1500', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const s = await setup(t, clock);
  t.same(s.manager.lagStats().overall, { p50: 0, p99: 0, max: 0, samples: 0 }, 'no samples yet');
  t.equal(s.manager.watermarkLagMs(), 0, 'watermark 0 without samples');
  for (let i = 0; i < 200; i++) s.exchange.send(aggTrade(i % 2 ? 'BTCUSDT' : 'ETHUSDT', i + 1, clock.now() - 1500));
  await until(() => s.frames >= 200);
  const stats = s.manager.lagStats();
  t.same(stats.overall, { p50: 1500, p99: 1500, max: 1500, samples: 200 });
  t.equal(stats.connections.length, 1);
  t.same(stats.connections[0], { id: 'stream-1', streams: 2, lag: { p50: 1500, p99: 1500, max: 1500, samples: 200 } });
  t.equal(s.manager.watermarkLagMs(), 1500);
  t.same(s.manager.lagHistogram().counts, [0, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0, 0, 0], 'all in the ≤ 1.5 s bucket');
});

t.test('a mixed set: the right p99; kline, ticker and reply frames do not count; the window moves on', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const s = await setup(t, clock);
  // 95 frames 80 ms late, 4 at 2.5 s, 1 at 6 s: the 99th of 100 is 2500.
  const lags = [...Array<number>(95).fill(80), 2500, 2500, 2500, 2500, 6000];
  lags.forEach((lag, i) => {
    s.exchange.send(aggTrade('BTCUSDT', i + 1, clock.now() - lag));
    s.exchange.send(kline('BTCUSDT', clock.now() - 10_000)); // a T 10 s back: would dominate if counted
  });
  s.exchange.send('{"stream":"!miniTicker@arr","data":[{"e":"24hrMiniTicker","E":1,"s":"BTCUSDT","c":"1"}]}');
  await until(() => s.frames >= 201);
  t.same(s.manager.lagStats().overall, { p50: 80, p99: 2500, max: 6000, samples: 100 }, 'only the 100 aggTrade frames count');
  t.equal(s.manager.watermarkLagMs(), 2500);
  // 30 s on, 100 more at 80 ms: rank 198 of 200 is still one of the four at 2.5 s.
  clock.advance(30_000);
  for (let i = 0; i < 100; i++) s.exchange.send(aggTrade('ETHUSDT', 1000 + i, clock.now() - 80));
  await until(() => s.frames >= 301);
  t.same(s.manager.lagStats().overall, { p50: 80, p99: 2500, max: 6000, samples: 200 }, 'rank 198 of 200 is the 4th-largest: 2500');
  // A minute after the slow ones, they have left the window.
  clock.advance(31_000);
  t.same(s.manager.lagStats().overall, { p50: 80, p99: 80, max: 80, samples: 100 }, 'the slow frames have left the 60 s window');
  clock.advance(60_000);
  t.equal(s.manager.watermarkLagMs(), 0, 'nothing in the window: 0');
  t.equal(s.manager.lagHistogram().count, 200, 'the histogram since the start keeps every sample');
});

t.test('against the fake exchange, with the receive clock 1.5 s ahead of the exchange’s', async (t) => {
  const exchange = await FakeExchange.start({ source: { kind: 'generated', symbols: 5, rate: 400, seed: 3, quietPeriods: false } });
  const ahead: Clock = { now: () => systemClock.now() + 1500 };
  const manager = new StreamManager({ connect: createExchangeSocket, wsBaseUrl: exchange.wsUrl, clock: ahead, logger, onFrame: () => {} });
  t.teardown(async () => {
    await manager.stop();
    await exchange.close();
  });
  manager.subscribe(exchange.market.symbols().map((s) => `${s.symbol.toLowerCase()}@aggTrade`));
  await until(() => manager.lagStats().overall.samples >= 200);
  const { overall, connections } = manager.lagStats();
  // The fake publishes a trade once its time has come: the lag is 1.5 s plus the fake's scheduling and loopback.
  t.ok(overall.p50 >= 1500 && overall.p50 < 1800, `p50 ${overall.p50} ≈ 1500`);
  t.ok(overall.p99 >= 1500 && overall.p99 < 2500, `p99 ${overall.p99} ≈ 1500`);
  t.equal(connections.length, 1);
  t.ok(connections[0]!.lag.samples > 0);
  t.equal(manager.watermarkLagMs(), manager.lagStats().overall.p99);
  const source: StreamMetricsSource = manager; // what /metrics reads
  t.ok(source.lagHistogram().count >= 200);
});
