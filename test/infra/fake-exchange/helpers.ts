/** Test helpers for the fake exchange: a manual-clock exchange, recordings, aggTrade predicates, small REST helpers. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { FakeExchange, type MarketSource } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import { ManualScheduler } from '../../../src/infra/fake-exchange/scheduler.ts';
import { generateTrades } from '../../../src/domain/synthetic-market.ts';
import type { AggTrade } from '../../../src/domain/agg-trade.ts';
import { toAggTradeEvent } from '../../../src/domain/agg-trade.ts';
import { clientsOf, type Json, type WsClient } from '../../support/ws-client.ts';


/** The aggTrade payload of a message (raw or combined), or undefined. */
export function aggTradeOf(message: Json): Json | undefined {
  const data = message && typeof message === 'object' && 'stream' in message ? message.data : message;
  return data && typeof data === 'object' && data.e === 'aggTrade' ? data : undefined;
}

export const isAggTrade = (message: Json): boolean => aggTradeOf(message) !== undefined;

export async function getJson(url: string): Promise<{ status: number; body: Json; headers: Headers }> {
  const response = await fetch(url);
  const text = await response.text();
  return { status: response.status, body: text.length > 0 ? JSON.parse(text) : undefined, headers: response.headers };
}

/** Writes a recording of generated trades (one aggTrade frame per line) and returns its path and the trades. */
export function writeRecording(options: { seed: number; symbols: number; trades: number; startTime: number; rate?: number; receiveTimes?: boolean }): {
  path: string;
  trades: AggTrade[];
} {
  const trades = [...generateTrades({ seed: options.seed, symbols: options.symbols, trades: options.trades, startTime: options.startTime, meanRatePerSecond: options.rate ?? 50 })];
  const dir = mkdtempSync(join(tmpdir(), 'klagg-fake-'));
  const path = join(dir, 'recording.jsonl');
  const lines = trades.map((trade) => {
    const frame = JSON.stringify(toAggTradeEvent(trade));
    return options.receiveTimes ? `${trade.tradeTime + 3}\t${frame}` : frame;
  });
  writeFileSync(path, `${lines.join('\n')}\n`);
  return { path, trades };
}

/**
 * A fake exchange on a ManualScheduler (time moves only when the test says) with the clients a test opens, all closed
 * at teardown; `flush` round-trips a request so every frame sent before it has arrived.
 */
export async function startManualExchange(t: Test, source: MarketSource, options: { autoPublish: boolean; startTime: number }) {
  const scheduler = new ManualScheduler(options.startTime);
  const fx = await FakeExchange.start({ source, autoPublish: options.autoPublish, clock: scheduler });
  t.teardown(() => fx.close());
  const open = clientsOf(t, fx.wsUrl);
  const [A, B] = fx.market.symbols().map((s) => s.symbol) as [string, string];
  let requestId = 1;
  return {
    scheduler,
    fx,
    A,
    B,
    open: (path: string): Promise<WsClient> => open(path),
    flush: (client: WsClient) => client.request({ method: 'LIST_SUBSCRIPTIONS', id: requestId++ }),
  };
}
