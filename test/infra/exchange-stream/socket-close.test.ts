/** klagg's exchange connections leave with a close frame 1001 "going away" (not a cut socket), seen by the exchange. */
import t from 'tap';
import { systemClock } from '../../../src/infra/clock.ts';
import { createExchangeSocket } from '../../../src/infra/exchange-stream/exchange-socket.ts';
import { StreamManager } from '../../../src/actors/stream-manager.ts';
import { FakeExchange } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import { createRootLogger } from '../../../src/infra/logger.ts';

const logger = createRootLogger({ level: 'silent' });

async function until(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

t.test('stop(): every connection closes with 1001, none is cut', async (t) => {
  const exchange = await FakeExchange.start({ source: { kind: 'generated', symbols: 4, rate: 200, seed: 5, quietPeriods: false } });
  t.teardown(() => exchange.close());
  let frames = 0;
  const manager = new StreamManager({ connect: createExchangeSocket, wsBaseUrl: exchange.wsUrl, clock: systemClock, logger, onFrame: () => frames++, maxStreamsPerConnection: 2 });
  const streams = exchange.market.symbols().map((s) => `${s.symbol.toLowerCase()}@aggTrade`);
  manager.subscribe(streams);
  await until(() => exchange.stats().ws.connectionsOpen === 2 && frames > 0, 'two connections delivering');
  await manager.stop();
  await until(() => exchange.stats().ws.connectionsOpen === 0, 'the connections to close');
  const ws = exchange.stats().ws;
  t.equal(ws.clientGoingAway, 2, 'the exchange saw 1001 on both connections');
  t.equal(ws.clientCloses, 2);
  t.equal(ws.clientVanished, 0, 'no socket ended without a close frame');
});
