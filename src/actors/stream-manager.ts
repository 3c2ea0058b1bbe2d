/**
 * The exchange's market streams over as many connections as the limits require: at most `maxStreamsPerConnection`
 * streams per connection (Binance: 1024), SUBSCRIBE messages paced under the per-connection message limit, the current
 * set restored after every reconnect, and each connection rotated make-before-break before the 24 h cut: a new
 * connection takes the same streams and the old one closes only once the new one delivers (the overlap's duplicates
 * are dropped by aggregate id downstream). Each connection is an XState actor.
 *
 * Lag: for every aggTrade frame, receive time (the clock's, as the socket stamped it) minus the trade's time `T`, per
 * connection and overall over a recent window (LagTracker), and since the start in fixed buckets for Prometheus.
 * The receive time includes this process's own delays (a busy event loop reads frames late) — which is what a
 * finalization watermark has to allow for.
 */
import { createActor, sendTo, type Actor, type InspectionEvent } from 'xstate';
import { LagHistogram, LagTracker, type LagHistogramSnapshot, type LagSummary } from '../domain/lag-tracker.ts';
import { streamConnectionMachine } from '../machines/stream-connection.ts';
import type { Clock } from '../infra/clock.ts';
import type { Logger } from '../infra/logger.ts';
import type { createExchangeSocket, FrameHandler } from '../infra/exchange-stream/exchange-socket.ts';
import { aggTradeTime } from '../domain/agg-trade-time.ts';

/** Bucket bounds (ms) of the lag histogram since the start (the stream lags up to a few seconds at times). */
export const LAG_BUCKETS_MS: readonly number[] = [10, 25, 50, 100, 250, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000];

export interface StreamManagerOptions {
  /** e.g. `wss://fstream.binance.com` (market streams live under `/market/stream` since 2026-04-23). */
  readonly wsBaseUrl: string;
  /** Makes the socket actor a connection machine runs (`createExchangeSocket`; the composition root passes it). */
  readonly connect: typeof createExchangeSocket;
  readonly onFrame: FrameHandler;
  /** The exchange's time: receive stamps, lag. */
  readonly clock: Clock;
  /** Real elapsed ms for silence and rotation (a replay's exchange clock may run at any speed); default the clock. */
  readonly elapsed?: () => number;
  readonly logger: Logger;
  readonly maxStreamsPerConnection?: number;
  readonly maxMessagesPerSecond?: number;
  readonly paramsPerMessage?: number;
  readonly silenceMs?: number;
  /** Rotate a connection after this long (Binance cuts at 24 h; rotate before). */
  readonly rotateAfterMs?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly connectTimeoutMs?: number;
  readonly random?: () => number;
  readonly inspect?: (event: InspectionEvent) => void;
  /** The lag statistics' window (default 60 000 ms). */
  readonly lagWindowMs?: number;
  /**
   * A connection is open again after it was lost: frames of its streams may be missing (and with them a symbol's last
   * trades, which no later trade reveals if the symbol stays quiet). Called with the streams it carries.
   */
  readonly onReconnected?: (streams: readonly string[]) => void;
}

export interface StreamManagerStats {
  readonly connections: number;
  readonly streams: number;
  readonly reconnects: number;
  readonly rotations: number;
  readonly frames: number;
  readonly replies: number;
}

export interface ConnectionLag {
  readonly id: string;
  readonly streams: number;
  readonly lag: LagSummary;
}

export interface StreamLagStats {
  /** Every aggTrade frame of every connection in the window (retired connections' samples included). */
  readonly overall: LagSummary;
  /** Per live connection (a rotation's new connection starts empty). */
  readonly connections: readonly ConnectionLag[];
}

interface Connection {
  readonly id: string;
  readonly actor: Actor<typeof streamConnectionMachine>;
  readonly streams: Set<string>;
  socketOpenedAt: number | null;
  framesSinceOpen: number;
  /** The connection this one replaces (make-before-break): closed once this one delivers. */
  replaces: Connection | null;
  retiring: boolean;
  readonly lag: LagTracker;
}

export class StreamManager {
  readonly #options: Required<Omit<StreamManagerOptions, 'inspect' | 'random' | 'onReconnected'>> & Pick<StreamManagerOptions, 'inspect' | 'onReconnected'> & { random: () => number };
  readonly #lag: LagTracker;
  readonly #lagHistogram = new LagHistogram(LAG_BUCKETS_MS);
  readonly #connections = new Set<Connection>();
  readonly #streamConnection = new Map<string, Connection>();
  readonly #timer: NodeJS.Timeout;
  #nextId = 1;
  #reconnects = 0;
  #rotations = 0;
  #frames = 0;
  #replies = 0;

  constructor(options: StreamManagerOptions) {
    this.#options = {
      maxStreamsPerConnection: 1024,
      maxMessagesPerSecond: 4,
      paramsPerMessage: 200,
      silenceMs: 30_000,
      rotateAfterMs: 23 * 3_600_000,
      initialBackoffMs: 500,
      maxBackoffMs: 30_000,
      connectTimeoutMs: 10_000,
      random: Math.random,
      lagWindowMs: 60_000,
      ...options,
      elapsed: options.elapsed ?? (() => options.clock.now()),
    };
    this.#lag = new LagTracker({ windowMs: this.#options.lagWindowMs });
    this.#timer = setInterval(() => this.#maintain(), Math.max(20, Math.min(1000, Math.floor(this.#options.rotateAfterMs / 20))));
  }

  get stats(): StreamManagerStats {
    return {
      connections: [...this.#connections].filter((c) => !c.retiring).length,
      streams: this.#streamConnection.size,
      reconnects: this.#reconnects,
      rotations: this.#rotations,
      frames: this.#frames,
      replies: this.#replies,
    };
  }

  /** The streams each live connection carries (for tests and the inspector). */
  get assignment(): readonly (readonly string[])[] {
    return [...this.#connections].filter((c) => !c.retiring).map((c) => [...c.streams]);
  }

  /** Lag (receive − trade time, ms) over the recent window: overall and per live connection. */
  lagStats(): StreamLagStats {
    const now = this.#options.clock.now();
    return {
      overall: this.#lag.summary(now),
      connections: [...this.#connections].filter((c) => !c.retiring).map((c) => ({ id: c.id, streams: c.streams.size, lag: c.lag.summary(now) })),
    };
  }

  /** The overall p99 lag over the window (ms): how long after a period's close its trades are still arriving. 0 without samples. */
  watermarkLagMs(): number {
    return this.#lag.quantile(this.#options.clock.now(), 0.99);
  }

  /** Every lag sample since the start, in the LAG_BUCKETS_MS buckets (for a Prometheus histogram). */
  lagHistogram(): LagHistogramSnapshot {
    return this.#lagHistogram.snapshot();
  }

  subscribe(streams: readonly string[]): void {
    const fresh = streams.filter((stream) => !this.#streamConnection.has(stream));
    let start = 0;
    while (start < fresh.length) {
      const connection = this.#withRoom() ?? this.#open([]);
      const take = fresh.slice(start, start + (this.#options.maxStreamsPerConnection - connection.streams.size));
      for (const stream of take) {
        connection.streams.add(stream);
        this.#streamConnection.set(stream, connection);
      }
      connection.actor.send({ type: 'SUBSCRIBE', streams: take });
      start += take.length;
    }
  }

  unsubscribe(streams: readonly string[]): void {
    const byConnection = new Map<Connection, string[]>();
    for (const stream of streams) {
      const connection = this.#streamConnection.get(stream);
      if (!connection) continue;
      this.#streamConnection.delete(stream);
      connection.streams.delete(stream);
      byConnection.set(connection, [...(byConnection.get(connection) ?? []), stream]);
    }
    for (const [connection, removed] of byConnection) connection.actor.send({ type: 'UNSUBSCRIBE', streams: removed });
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    for (const connection of this.#connections) connection.actor.send({ type: 'STOP' });
    this.#connections.clear();
  }

  #withRoom(): Connection | undefined {
    for (const connection of this.#connections) {
      if (!connection.retiring && connection.replaces === null && connection.streams.size < this.#options.maxStreamsPerConnection) return connection;
    }
    return undefined;
  }

  #open(streams: readonly string[], replaces: Connection | null = null): Connection {
    const o = this.#options;
    const id = `stream-${this.#nextId++}`;
    const connection: Connection = {
      id,
      actor: undefined as never,
      streams: new Set(streams),
      socketOpenedAt: null,
      framesSinceOpen: 0,
      replaces,
      retiring: false,
      lag: new LagTracker({ windowMs: o.lagWindowMs }),
    };
    const overall = this.#lag;
    const histogram = this.#lagHistogram;
    const onFrame: FrameHandler = (frame, receivedAt) => {
      connection.framesSinceOpen++;
      this.#frames++;
      const tradeTime = aggTradeTime(frame);
      if (tradeTime >= 0) {
        const lag = receivedAt - tradeTime;
        connection.lag.record(receivedAt, lag);
        overall.record(receivedAt, lag);
        histogram.record(lag);
      }
      o.onFrame(frame, receivedAt);
    };
    const socket = o.connect({
      url: `${o.wsBaseUrl.replace(/\/$/, '')}/market/stream`,
      clock: o.clock,
      elapsed: o.elapsed,
      onFrame,
      onReply: () => void this.#replies++,
      maxMessagesPerSecond: o.maxMessagesPerSecond,
      paramsPerMessage: o.paramsPerMessage,
      silenceMs: o.silenceMs,
      connectTimeoutMs: o.connectTimeoutMs,
    });
    const machine = streamConnectionMachine.provide({
      actors: { socket },
      // Jitter spreads reconnects of many connections (and many clients) apart.
      delays: { backoff: ({ context }) => Math.round(context.backoffMs * (0.5 + o.random() / 2)) },
      actions: {
        subscribeAll: sendTo('socket', ({ context }) => ({ type: 'SUBSCRIBE_ALL' as const, streams: context.streams })),
        forwardSubscribe: sendTo('socket', ({ event }) => ({ type: 'SUBSCRIBE' as const, streams: (event as { streams: readonly string[] }).streams })),
        forwardUnsubscribe: sendTo('socket', ({ event }) => ({ type: 'UNSUBSCRIBE' as const, streams: (event as { streams: readonly string[] }).streams })),
      },
    });
    const actor = createActor(machine, {
      id,
      input: { id, streams, initialBackoffMs: o.initialBackoffMs, maxBackoffMs: o.maxBackoffMs, connectTimeoutMs: o.connectTimeoutMs },
      inspect: o.inspect,
    });
    (connection as { actor: Actor<typeof streamConnectionMachine> }).actor = actor as unknown as Actor<typeof streamConnectionMachine>;
    let wasOpen = false;
    let lost = false;
    actor.subscribe((snapshot) => {
      const isOpen = snapshot.matches({ live: 'open' });
      if (isOpen && !wasOpen) {
        connection.socketOpenedAt = o.elapsed();
        connection.framesSinceOpen = 0;
        if (lost) o.onReconnected?.([...connection.streams]);
        lost = false;
      }
      if (!isOpen && wasOpen) lost = true;
      if (!isOpen && wasOpen && !connection.retiring && snapshot.value === 'reconnecting') {
        this.#reconnects++;
        o.logger.warn({ connection: id, reason: snapshot.context.lastCloseReason, streams: connection.streams.size }, 'stream connection lost; reconnecting');
      }
      wasOpen = isOpen;
    });
    this.#connections.add(connection);
    actor.start();
    return connection;
  }

  /** Rotation before the connection-age limit, and completing make-before-break swaps. */
  #maintain(): void {
    const now = this.#options.elapsed();
    for (const connection of [...this.#connections]) {
      if (connection.retiring) continue;
      const old = connection.replaces;
      if (old !== null && connection.socketOpenedAt !== null && connection.framesSinceOpen > 0) {
        // The new connection delivers: hand its streams over and close the old one.
        for (const stream of connection.streams) this.#streamConnection.set(stream, connection);
        old.retiring = true;
        old.actor.send({ type: 'STOP' });
        this.#connections.delete(old);
        connection.replaces = null;
        this.#rotations++;
        this.#options.logger.info({ old: old.id, new: connection.id, streams: connection.streams.size }, 'stream connection rotated');
        continue;
      }
      const due = connection.socketOpenedAt !== null && now - connection.socketOpenedAt >= this.#options.rotateAfterMs;
      const alreadyReplacing = [...this.#connections].some((c) => c.replaces === connection);
      if (due && !alreadyReplacing && connection.replaces === null) this.#open([...connection.streams], connection);
    }
  }
}
