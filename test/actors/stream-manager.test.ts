/**
 * The WebSocket manager against the fake exchange over loopback: connection limits, paced subscriptions, resubscribe
 * after a reconnect, silence detection, make-before-break rotation before the connection-age cut, pings.
 */
import t, { type Test } from 'tap';
import { AggTradeParser } from '../../src/domain/agg-trade-parser.ts';
import { systemClock } from '../../src/infra/clock.ts';
import { StreamManager, type StreamManagerOptions } from '../../src/actors/stream-manager.ts';
import { FakeExchange, type FakeExchangeOptions } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { createRootLogger } from '../../src/infra/logger.ts';
import { createExchangeSocket } from '../../src/infra/exchange-stream/exchange-socket.ts';

const logger = createRootLogger({ level: 'silent' });

/** Collects the aggregate ids seen per symbol, so gaps and duplicates can be counted exactly. */
class Seen {
  readonly ids = new Map<string, number[]>();
  readonly #parser = new AggTradeParser();
  frames = 0;
  /** Symbols seen since `mark()`. */
  since = new Set<string>();
  mark(): void {
    this.since = new Set();
  }
  onFrame = (frame: Buffer): void => {
    this.frames++;
    if (!this.#parser.parse(frame)) return;
    const t = this.#parser.trade;
    const symbol = frame.subarray(t.symbolStart, t.symbolEnd).toString('latin1');
    this.since.add(symbol);
    const list = this.ids.get(symbol) ?? [];
    list.push(t.aggId);
    this.ids.set(symbol, list);
  };
  /** Ids missing between the first and last seen of each symbol. */
  missing(): number {
    let missing = 0;
    for (const list of this.ids.values()) {
      const unique = [...new Set(list)].sort((a, b) => a - b);
      missing += unique.at(-1)! - unique[0]! + 1 - unique.length;
    }
    return missing;
  }
}

async function setup(t: Test, exchangeOptions: Partial<FakeExchangeOptions>, managerOptions: Partial<StreamManagerOptions>, symbols = 30) {
  const exchange = await FakeExchange.start({ source: { kind: 'generated', symbols, rate: 400, seed: 3, quietPeriods: false }, ...exchangeOptions });
  const seen = new Seen();
  const manager = new StreamManager({ wsBaseUrl: exchange.wsUrl, clock: systemClock, logger, onFrame: seen.onFrame, ...managerOptions, connect: createExchangeSocket });
  t.teardown(async () => {
    await manager.stop();
    await exchange.close();
  });
  const names = exchange.market.symbols().map((s) => s.symbol);
  return { exchange, manager, seen, names, streams: names.map((n) => `${n.toLowerCase()}@aggTrade`) };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await wait(20);
  }
}

t.test('streams are spread over connections within the per-connection limit; subscriptions are paced', async (t) => {
  const { exchange, manager, seen, streams } = await setup(t, { maxStreamsPerConnection: 12 }, { maxStreamsPerConnection: 12, maxMessagesPerSecond: 5, paramsPerMessage: 5 });
  manager.subscribe(streams);
  t.same(manager.assignment.map((a) => a.length), [12, 12, 6], '30 streams over 3 connections of at most 12');
  await until(() => seen.ids.size >= 25 && exchange.stats().ws.requests >= 8);
  const ws = exchange.stats().ws;
  t.equal(ws.closedTooManyRequests, 0, 'never more than the exchange’s message limit');
  t.equal(ws.requestErrors, 0, 'no subscription was refused (none past the 12-stream limit)');
  t.equal(ws.requests, 8, 'subscriptions went as 8 paced messages of at most 5 streams (5+5+2 per 12-stream connection, 5+1 for the last)');
});

t.test('a client that ignores the message limit is cut with 1008 (the limit the pacing keeps under)', async (t) => {
  const { exchange, manager, streams } = await setup(t, {}, { maxMessagesPerSecond: 50, paramsPerMessage: 1 });
  manager.subscribe(streams);
  await until(() => exchange.stats().ws.closedTooManyRequests > 0, 5_000);
  t.ok(exchange.stats().ws.closedTooManyRequests > 0);
});

t.test('after a connection is dropped without a close frame, it reconnects and resubscribes everything', async (t) => {
  const { exchange, manager, seen, streams } = await setup(t, {}, { silenceMs: 400, initialBackoffMs: 20 });
  manager.subscribe(streams);
  await until(() => seen.ids.size >= 10);
  exchange.faults.dropConnections();
  await until(() => manager.stats.reconnects >= 1);
  // Every symbol arrives again after the reconnect: the whole set was resubscribed.
  seen.mark();
  await until(() => seen.since.size === 30);
  t.ok(manager.stats.reconnects >= 1, `reconnected (${manager.stats.reconnects})`);
  t.equal(seen.since.size, 30, 'all 30 symbols deliver again after the reconnect');
  t.equal(manager.stats.streams, 30, 'the current set is still assigned');
});

t.test('a stalled connection is detected by its silence and replaced', async (t) => {
  const { exchange, manager, seen, streams } = await setup(t, {}, { silenceMs: 300, initialBackoffMs: 20 });
  manager.subscribe(streams);
  await until(() => seen.frames > 50);
  exchange.faults.stall({ ms: 5_000 });
  await until(() => manager.stats.reconnects >= 1, 3_000);
  const before = seen.frames;
  await until(() => seen.frames > before + 50, 3_000);
  t.ok(manager.stats.reconnects >= 1, 'silence detected within a second, long before the stall ended');
});

t.test('connections rotate make-before-break before the exchange cuts them: no gap', async (t) => {
  const { exchange, manager, seen, streams } = await setup(t, { maxConnectionAgeMs: 2_500 }, { rotateAfterMs: 1_000, silenceMs: 5_000 }, 10);
  manager.subscribe(streams);
  await until(() => manager.stats.rotations >= 3, 10_000);
  await wait(300);
  t.equal(exchange.stats().ws.closedMaxAge, 0, 'no connection lived to the exchange’s age cut');
  t.equal(manager.stats.reconnects, 0, 'rotation is not a reconnect');
  t.equal(seen.missing(), 0, 'no trade was missed across the rotations');
  t.equal(manager.stats.connections, 1, 'one connection carries the streams after each swap');
});

t.test('server pings are answered: the connection outlives many ping intervals', async (t) => {
  const { exchange, manager, seen, streams } = await setup(t, { pingIntervalMs: 200, pongTimeoutMs: 600 }, {}, 5);
  manager.subscribe(streams);
  await wait(2_000);
  const ws = exchange.stats().ws;
  t.ok(ws.pingsSent >= 8, `pings sent: ${ws.pingsSent}`);
  t.equal(ws.closedPongTimeout, 0, 'never closed for a missing pong');
  t.equal(manager.stats.reconnects, 0);
  t.ok(seen.frames > 0);
});
