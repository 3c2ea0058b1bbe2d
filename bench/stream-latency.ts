/**
 * Trade → stream latency: the fake exchange publishes a generated market at a given rate, the service aggregates it
 * and pushes kline events to many WebSocket clients. For every kline event a client receives, the latency runs from the
 * moment the exchange published the event's last trade (k.L) to the moment the client had the message. Pushes are
 * throttled to one per stream per 250 ms (as Binance does), which sets the floor.
 */
import WebSocket from 'ws';
import { KlaggService, systemOptionsFrom } from '../src/app/klagg-service.ts';
import { systemClock } from '../src/infra/clock.ts';
import { defaultConfig } from '../src/infra/config/schema.ts';
import { KlineStore } from '../src/infra/db/kline-store.ts';
import { openDatabase } from '../src/infra/db/open-database.ts';
import { FakeExchange } from '../src/infra/fake-exchange/fake-exchange.ts';
import { createRootLogger } from '../src/infra/logger.ts';
import { startServing } from '../src/app/serving.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import type { BenchReport } from './report.ts';

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export async function benchStreamLatency(options: { symbols: number; rate: number; clients: number; seconds: number }, report: BenchReport): Promise<void> {
  const logger = createRootLogger({ level: 'silent' });
  const exchange = await FakeExchange.start({ source: { kind: 'generated', symbols: options.symbols, rate: options.rate, seed: 6, quietPeriods: false } });
  const published = new Map<string, number>();
  exchange.market.onTrade((trade) => published.set(`${trade.symbol}:${trade.lastTradeId}`, performance.now()));
  const database = await createTestDatabase('klagg_bench_latency');
  const handle = await openDatabase({ url: database.url });
  const store = new KlineStore(handle.db);
  const config = defaultConfig();
  const service = new KlaggService({
    venue: 'binance',
    market: 'usdm',
    intervals: ['1m', '5m', '1h'],
    restBaseUrl: exchange.restUrl,
    wsBaseUrl: exchange.wsUrl,
    store,
    clock: systemClock,
    logger,
    system: systemOptionsFrom(config),
  });
  try {
    await service.start();
    const serving = await startServing({ service, store, venue: 'binance', market: 'usdm', host: '127.0.0.1', port: 0, clock: systemClock, logger });
    const streams = service.symbols.map((s) => `${s.toLowerCase()}@kline_1m`).join('/');
    const latencies: number[] = [];
    let messages = 0;
    const sockets = await Promise.all(
      Array.from({ length: options.clients }, () => new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`${serving.url.replace(/^http/, 'ws')}/market/stream?streams=${streams}`);
        ws.on('message', (data: Buffer) => {
          const at = performance.now();
          messages++;
          const { data: event } = JSON.parse(data.toString()) as { data: { s: string; k: { L: number } } };
          const sent = published.get(`${event.s}:${event.k.L}`);
          if (sent !== undefined) latencies.push(at - sent);
        });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      })),
    );
    const start = performance.now();
    const cpu = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, options.seconds * 1000));
    const used = process.cpuUsage(cpu);
    const seconds = (performance.now() - start) / 1000;
    for (const ws of sockets) ws.close();
    await serving.close();
    latencies.sort((a, b) => a - b);
    const line =
      `trade → stream latency (${options.rate} trades/s over ${options.symbols} symbols, ${options.clients} clients on every 1m stream, ${seconds.toFixed(0)} s): ` +
      `p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms (${latencies.length} events, ${Math.round(messages / seconds)} messages/s pushed, ` +
      `process CPU ${((100 * (used.user + used.system)) / 1e6 / seconds).toFixed(0)}% of a core incl. the fake exchange)`;
    report.line(line);
    report.record('streamLatency', { ...options, p50: percentile(latencies, 50), p99: percentile(latencies, 99), events: latencies.length, messagesPerSecond: messages / seconds });
  } finally {
    await service.stop('bench');
    await exchange.close();
    await handle.close();
    await database.drop();
  }
}
