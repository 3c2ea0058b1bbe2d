/**
 * The exchange's market streams over as many connections as the limits require: at most `maxStreamsPerConnection`
 * streams per connection (Binance: 1024), SUBSCRIBE messages paced under the per-connection message limit, the current
 * set restored after every reconnect, and each connection rotated make-before-break before the 24 h cut: a new
 * connection takes the same streams and the old one closes only once the new one delivers (the overlap's duplicates
 * are dropped by aggregate id downstream). Each connection is an XState actor.
 */
import { createActor, sendTo, type Actor, type InspectionEvent } from 'xstate';
import { streamConnectionMachine } from '../../machines/stream-connection.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { createExchangeSocket, type FrameHandler } from './exchange-socket.ts';

export interface StreamManagerOptions {
  /** e.g. `wss://fstream.binance.com` (market streams live under `/market/stream` since 2026-04-23). */
  readonly wsBaseUrl: string;
  readonly onFrame: FrameHandler;
  readonly clock: Clock;
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
}

export interface StreamManagerStats {
  readonly connections: number;
  readonly streams: number;
  readonly reconnects: number;
  readonly rotations: number;
  readonly frames: number;
  readonly replies: number;
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
}

export class StreamManager {
  readonly #options: Required<Omit<StreamManagerOptions, 'inspect' | 'random'>> & Pick<StreamManagerOptions, 'inspect'> & { random: () => number };
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
      ...options,
    };
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
    const connection: Connection = { id, actor: undefined as never, streams: new Set(streams), socketOpenedAt: null, framesSinceOpen: 0, replaces, retiring: false };
    const onFrame: FrameHandler = (frame, receivedAt) => {
      connection.framesSinceOpen++;
      this.#frames++;
      o.onFrame(frame, receivedAt);
    };
    const socket = createExchangeSocket({
      url: `${o.wsBaseUrl.replace(/\/$/, '')}/market/stream`,
      clock: o.clock,
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
    actor.subscribe((snapshot) => {
      const isOpen = snapshot.matches({ live: 'open' });
      if (isOpen && !wasOpen) {
        connection.socketOpenedAt = o.clock.now();
        connection.framesSinceOpen = 0;
      }
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
    const now = this.#options.clock.now();
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
