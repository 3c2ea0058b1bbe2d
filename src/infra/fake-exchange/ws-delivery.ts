/**
 * How the fake exchange's market-data frames reach a connection: not at all while it is silent (a legacy or public
 * route), stalled (the `stall` fault) or closing; otherwise at once, or — while the `lag` fault runs, or behind frames
 * still waiting — through the connection's outbox, late but in order, nothing lost.
 */
import { WebSocket } from 'ws';
import type { WsConnection } from '../binance-ws/binance-ws-server.ts';
import type { Faults } from './faults.ts';
import type { Scheduler, Timer } from './scheduler.ts';

export type RouteFamily = 'market' | 'legacy' | 'public';

interface OutboxFrame {
  readonly due: number;
  readonly text: string;
}

/** The fake's own state of a connection. */
export interface FakeConnectionData {
  readonly family: RouteFamily;
  /** Gets no market data (legacy / public route). */
  readonly silent: boolean;
  stalledUntil: number;
  /** Market-data frames waiting to be sent (lag), in order; `outboxHead` is the first unsent one. */
  outbox: OutboxFrame[];
  outboxHead: number;
  flushTimer: Timer | undefined;
}

export type FakeConnection = WsConnection<FakeConnectionData>;

export function newConnectionData(family: RouteFamily, silent: boolean): FakeConnectionData {
  return { family, silent, stalledUntil: 0, outbox: [], outboxHead: 0, flushTimer: undefined };
}

export class WsDelivery {
  /** Market-data frames sent (aggTrade, kline events and miniTicker arrays). */
  framesSent = 0;
  readonly #scheduler: Scheduler;
  readonly #faults: Faults;
  /** The running lag: frames made before `until` are delivered `ms` late. */
  #lag: { readonly ms: number; readonly until: number } | undefined;

  constructor(scheduler: Scheduler, faults: Faults) {
    this.#scheduler = scheduler;
    this.#faults = faults;
  }

  /** Frames made from now for `durationMs` go out `ms` late. */
  lag(ms: number, durationMs: number): void {
    this.#lag = { ms, until: this.#scheduler.now() + durationMs };
  }

  /** Whether market data made now goes to this connection at all (stalled, silent and closed ones get none). */
  receives(connection: FakeConnection, now: number): boolean {
    return !connection.data.silent && connection.data.stalledUntil <= now && connection.ws.readyState === WebSocket.OPEN && !connection.closing;
  }

  /** Sends a market-data frame now, or queues it behind earlier ones / for the running lag. */
  send(connection: FakeConnection, text: string, now: number): void {
    const data = connection.data;
    const lag = this.#lag !== undefined && now < this.#lag.until ? this.#lag.ms : 0;
    const queued = data.outbox.length - data.outboxHead;
    if (lag === 0 && queued === 0) {
      connection.ws.send(text);
      this.framesSent++;
      return;
    }
    const due = Math.max(now + lag, queued > 0 ? data.outbox[data.outbox.length - 1]!.due : Number.NEGATIVE_INFINITY);
    data.outbox.push({ due, text });
    this.#faults.noteLagged();
    if (data.flushTimer === undefined) this.#scheduleFlush(connection, now);
  }

  /** The connection is going: nothing queued for it will be sent. */
  stop(connection: FakeConnection): void {
    connection.data.flushTimer?.cancel();
    connection.data.flushTimer = undefined;
  }

  #scheduleFlush(connection: FakeConnection, now: number): void {
    const next = connection.data.outbox[connection.data.outboxHead];
    if (next === undefined) return;
    connection.data.flushTimer = this.#scheduler.setTimer(Math.max(0, next.due - now), () => {
      connection.data.flushTimer = undefined;
      this.#flush(connection);
    });
  }

  #flush(connection: FakeConnection): void {
    if (connection.closing) return;
    const data = connection.data;
    const now = this.#scheduler.now();
    const open = connection.ws.readyState === WebSocket.OPEN;
    while (data.outboxHead < data.outbox.length && data.outbox[data.outboxHead]!.due <= now) {
      const frame = data.outbox[data.outboxHead++]!;
      if (!open) continue;
      connection.ws.send(frame.text);
      this.framesSent++;
    }
    if (data.outboxHead === data.outbox.length) {
      data.outbox = [];
      data.outboxHead = 0;
    } else if (data.outboxHead > 1024 && data.outboxHead * 2 > data.outbox.length) {
      data.outbox = data.outbox.slice(data.outboxHead);
      data.outboxHead = 0;
    }
    this.#scheduleFlush(connection, now);
  }
}
