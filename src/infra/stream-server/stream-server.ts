/**
 * Live push: a WebSocket server speaking Binance's market-stream protocol for `<symbol>@kline_<interval>`, so existing
 * Binance stream clients can point at klagg unchanged.
 *
 * Routes (on the 'upgrade' of a given node:http Server): `/market/ws`, `/market/ws/<stream>[/<stream>…]` (raw
 * payloads), `/market/stream?streams=a/b` (combined wrapper `{"stream":…,"data":…}`), and the same under `/ws…` and
 * `/stream…`. Other paths are left to other upgrade listeners (answered 404 when there are none).
 *
 * Protocol: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY / GET_PROPERTY `combined`, with Binance's reply
 * and error shapes. A name that is not `<lower-case symbol>@kline_<interval>` is "Invalid request: invalid stream"; an
 * unknown symbol is ACKed and stays silent, as on Binance.
 *
 * Delivery, per stream: an open kline's latest state at most every `throttleMs` (updates inside the window coalesce,
 * the last state wins; the first change after a quiet window goes out at once); a final (`x: true`) at once, once per
 * revision — a corrected final (a late trade, a repair) goes out again as a new `x: true` event with the corrected
 * values — and no open update of a kline after its final. Limits per connection: `maxStreamsPerConnection` streams,
 * `maxMessagesPerSecond` incoming messages (→ close 1008 "Too many requests"), `maxBufferedBytes` unsent bytes (→ close
 * 1008 "slow consumer: buffer exceeded" and dropped; nothing more is queued for it, so memory stays bounded),
 * `maxPayloadBytes` per incoming message (→ close 1009). `close()` says 1001 "going away" to every client.
 *
 * Fan-out: an event is serialized once (its `E` is the event's, the same for every subscriber) and each form, raw and
 * combined, encoded once into bytes when a subscriber first needs it; every message of one published batch to one
 * client leaves in one socket write (BinanceWsServer.batch). The slow-consumer check reads the backlog from before the
 * batch while it runs and the connection's whole backlog once the batch is flushed.
 *
 * The connection handling (routes, refusals, the request protocol, limits, closing) is BinanceWsServer's, shared with
 * the fake exchange; what is klagg's own here is the kline delivery from published batches.
 */
import type { Server } from 'node:http';
import type { PublishedBatch } from '../../domain/messages.ts';
import type { Kline } from '../../domain/kline.ts';
import type { SymbolScales } from '../../domain/kline-engine.ts';
import { formatKlineChecked } from '../../domain/kline-format.ts';
import { invalidStream, type BinanceError } from '../binance/binance-replies.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { BinanceWsServer, combinedFrame, PreparedMessage, type WsConnection } from '../binance-ws/binance-ws-server.ts';
import { klineStreamName, parseKlineStream, toKlineEvent } from '../binance-ws/kline-event.ts';
import { parseStreamRoute, type StreamRoute } from '../binance-ws/stream-route.ts';
import { realWsTimers } from '../binance-ws/ws-timers.ts';

export interface BatchSource {
  onBatch(listener: (batch: PublishedBatch) => void): () => void;
}

export interface KlineStreamServerOptions {
  readonly server: Server;
  readonly source: BatchSource;
  /** Event time `E` of the payloads. */
  readonly clock: Clock;
  readonly logger: Logger;
  /** Default 1024 (Binance USDⓈ-M). */
  readonly maxStreamsPerConnection?: number;
  /** Incoming messages (requests, pings, pongs) per second per connection; more closes it with 1008. Default 10. */
  readonly maxMessagesPerSecond?: number;
  /** Minimum spacing of open-kline updates per stream. Default 250 (Binance's kline stream). */
  readonly throttleMs?: number;
  /** Unsent bytes a connection may have queued before it is dropped as a slow consumer. Default 1 MiB. */
  readonly maxBufferedBytes?: number;
  /** Symbols klagg serves (upper-case). Unknown ones are still ACKed, silently, as on Binance; only counted. */
  readonly isKnownSymbol?: (symbol: string) => boolean;
  /** A peer that does not answer a close frame within this many ms is cut. Default 1000. */
  readonly closeGraceMs?: number;
  /** Largest incoming message (a request); bigger closes the connection with 1009. Default 64 KiB. */
  readonly maxPayloadBytes?: number;
  /**
   * A symbol's scales (from its tick and step sizes): every kline is sent with its decimals at them, as Binance
   * formats it. Klines of a symbol it does not know (undefined), or all when absent, are sent as they come.
   */
  readonly scalesOf?: (symbol: string) => SymbolScales | undefined;
}

export interface KlineStreamStats {
  /** Open connections. */
  connections: number;
  connectionsTotal: number;
  /** Stream subscriptions over all open connections. */
  subscriptions: number;
  /** Subscriptions (ever) to a symbol `isKnownSymbol` does not know. */
  unknownSymbolSubscriptions: number;
  /** Kline frames sent (a frame to n connections counts n). */
  messagesSent: number;
  /** Kline events serialized: once per event, whatever the number of its subscribers. */
  eventsSerialized: number;
  /** Payloads built from them: at most two per event (raw, combined), each only when a subscriber takes that form. */
  payloadsBuilt: number;
  finalsSent: number;
  /** Corrected finals (revision ≥ 1) sent, counted per subscriber. */
  revisionsSent: number;
  slowConsumersDropped: number;
  closedTooManyRequests: number;
  requests: number;
  requestErrors: number;
  /** Upgrades refused: bad path or stream in the URL, too many streams, server closed. */
  rejectedUpgrades: number;
  /** Kline fields sent with more decimals than the symbol's scale (kept exact, not rounded; see `scalesOf`). */
  overScaleFields: number;
  /** Closed (1009) for an incoming message over `maxPayloadBytes`. */
  closedMessageTooBig: number;
  /** Closes started by clients, and how many of them said 1001 "going away". */
  clientCloses: number;
  clientGoingAway: number;
}

/** The counters this server keeps itself (the connection counters are BinanceWsServer's). */
type DeliveryStats = Pick<
  KlineStreamStats,
  'unknownSymbolSubscriptions' | 'messagesSent' | 'eventsSerialized' | 'payloadsBuilt' | 'finalsSent' | 'revisionsSent' | 'slowConsumersDropped' | 'overScaleFields'
>;

/** A client connection; klagg keeps nothing of its own per connection. */
type Connection = WsConnection<undefined>;

/** Delivery state of one subscribed stream (exists while it has subscribers). */
interface StreamState {
  readonly name: string;
  /** Open time of the newest final sent; no open update at or before it is sent again. */
  lastFinalOpenTime: number;
  /**
   * Revision sent per open time of the recent finals: a final goes out once per revision — a correction (a higher
   * revision of a kline already final) is sent again as a new `x: true` event; the same revision never twice.
   */
  readonly finalRevisions: Map<number, number>;
  /** The latest open state not yet sent. */
  pending: Kline | undefined;
  /** Monotonic time (performance.now) of the last update sent. */
  lastUpdateAt: number;
  timer: NodeJS.Timeout | undefined;
}

/** Finals remembered per stream for revision checks (a revision concerns one of the last few periods). */
const MAX_REMEMBERED_FINALS = 16;

export const SLOW_CONSUMER_REASON = 'slow consumer: buffer exceeded';

export class KlineStreamServer {
  readonly #stats: DeliveryStats = {
    unknownSymbolSubscriptions: 0,
    messagesSent: 0,
    eventsSerialized: 0,
    payloadsBuilt: 0,
    finalsSent: 0,
    revisionsSent: 0,
    slowConsumersDropped: 0,
    overScaleFields: 0,
  };
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #throttleMs: number;
  readonly #maxBuffered: number;
  readonly #isKnownSymbol: ((symbol: string) => boolean) | undefined;
  readonly #scalesOf: ((symbol: string) => SymbolScales | undefined) | undefined;
  readonly #ws: BinanceWsServer<undefined, StreamRoute>;
  readonly #streams = new Map<string, StreamState>();
  readonly #unsubscribeSource: () => void;
  #closed = false;

  constructor(options: KlineStreamServerOptions) {
    this.#clock = options.clock;
    this.#log = options.logger.child({ component: 'stream-server' });
    this.#throttleMs = options.throttleMs ?? 250;
    this.#maxBuffered = options.maxBufferedBytes ?? 1 << 20;
    this.#isKnownSymbol = options.isKnownSymbol;
    this.#scalesOf = options.scalesOf;
    this.#ws = new BinanceWsServer({
      server: options.server,
      timers: realWsTimers,
      logger: this.#log,
      maxStreamsPerConnection: options.maxStreamsPerConnection ?? 1024,
      maxMessagesPerSecond: options.maxMessagesPerSecond ?? 10,
      maxPayloadBytes: options.maxPayloadBytes,
      closeGraceMs: options.closeGraceMs,
      handlers: {
        route: klineRoute,
        isValidStream: (name) => parseKlineStream(name) !== undefined,
        createData: () => undefined,
        onSubscribe: (_connection, stream) => this.#onSubscribe(stream),
        onUnsubscribe: (_connection, stream) => this.#onUnsubscribe(stream),
      },
    });
    this.#unsubscribeSource = options.source.onBatch((batch) => this.#onBatch(batch));
  }

  get stats(): KlineStreamStats {
    const ws = this.#ws.stats;
    return {
      ...this.#stats,
      connections: ws.connectionsOpen,
      connectionsTotal: ws.connectionsTotal,
      subscriptions: ws.subscriptions,
      closedTooManyRequests: ws.closedTooManyRequests,
      requests: ws.requests,
      requestErrors: ws.requestErrors,
      rejectedUpgrades: ws.rejectedUpgrades,
      closedMessageTooBig: ws.closedMessageTooBig,
      clientCloses: ws.clientCloses,
      clientGoingAway: ws.clientGoingAway,
    };
  }

  /** Stops delivery, detaches from the server, says 1001 "going away" to every client and waits for them to go. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#unsubscribeSource();
    }
    await this.#ws.close();
    for (const state of this.#streams.values()) if (state.timer !== undefined) clearTimeout(state.timer);
    this.#streams.clear();
  }

  // ---- delivery --------------------------------------------------------------------------------------------------

  #onBatch(batch: PublishedBatch): void {
    if (this.#closed || this.#streams.size === 0) return;
    // Every message of the batch to one client leaves in one socket write.
    this.#ws.batch(() => this.#deliverBatch(batch), this.#afterFlush);
  }

  #deliverBatch(batch: PublishedBatch): void {
    if (batch.finals.length > 0) {
      const finals = [...batch.finals].sort((a, b) => a.openTime - b.openTime);
      for (const kline of finals) {
        const state = this.#streams.get(klineStreamName(kline.symbol, kline.interval));
        if (state === undefined) continue;
        const revision = kline.revision ?? 0;
        const sent = state.finalRevisions.get(kline.openTime) ?? (kline.openTime <= state.lastFinalOpenTime ? 0 : -1);
        if (revision <= sent) continue;
        state.finalRevisions.set(kline.openTime, revision);
        if (state.finalRevisions.size > MAX_REMEMBERED_FINALS) state.finalRevisions.delete(state.finalRevisions.keys().next().value!);
        if (revision > 0) this.#stats.revisionsSent += this.#subscriberCount(state);
        if (kline.openTime > state.lastFinalOpenTime) state.lastFinalOpenTime = kline.openTime;
        if (state.pending !== undefined && state.pending.openTime <= kline.openTime) state.pending = undefined;
        if (state.pending === undefined && state.timer !== undefined) {
          clearTimeout(state.timer);
          state.timer = undefined;
        }
        this.#deliver(state, kline);
        this.#stats.finalsSent += this.#subscriberCount(state);
      }
    }
    for (const kline of batch.updates) {
      const state = this.#streams.get(klineStreamName(kline.symbol, kline.interval));
      if (state === undefined || kline.openTime <= state.lastFinalOpenTime) continue;
      if (kline.isFinal) continue; // finals travel in batch.finals
      if (state.pending !== undefined && kline.openTime < state.pending.openTime) continue;
      state.pending = kline;
      this.#schedule(state);
    }
  }

  /** Sends the pending update now if the window is over, or arms the timer for when it is. */
  #schedule(state: StreamState): void {
    if (state.timer !== undefined) return;
    const wait = state.lastUpdateAt + this.#throttleMs - performance.now();
    if (wait <= 0) {
      this.#flush(state);
      return;
    }
    state.timer = setTimeout(() => {
      state.timer = undefined;
      this.#ws.batch(() => this.#flush(state), this.#afterFlush);
    }, wait);
  }

  #flush(state: StreamState): void {
    const kline = state.pending;
    state.pending = undefined;
    if (kline === undefined || this.#closed || kline.openTime <= state.lastFinalOpenTime) return;
    state.lastUpdateAt = performance.now();
    this.#deliver(state, kline);
  }

  /** The kline at its symbol's scales (unchanged when they are unknown). */
  #format(kline: Kline): Kline {
    const scales = this.#scalesOf?.(kline.symbol);
    if (scales === undefined) return kline;
    const checked = formatKlineChecked(kline, scales);
    this.#stats.overScaleFields += checked.overScale.length;
    return checked.kline;
  }

  #subscriberCount(state: StreamState): number {
    return this.#ws.subscribers(state.name)?.size ?? 0;
  }

  /**
   * Sends one event to every subscriber of the stream. The event (and its time `E`) is serialized once, and each form
   * (raw, combined) encoded once into bytes when a subscriber first needs it: per connection, only the write is left.
   * A connection whose backlog is over `maxBufferedBytes` is dropped (within a batch, checked again when it is flushed).
   */
  #deliver(state: StreamState, kline: Kline): void {
    const subscribers = this.#ws.subscribers(state.name);
    if (subscribers === undefined || subscribers.size === 0) return;
    const text = JSON.stringify(toKlineEvent(this.#format(kline), this.#clock.now()));
    this.#stats.eventsSerialized++;
    let raw: PreparedMessage | undefined;
    let combined: PreparedMessage | undefined;
    for (const connection of subscribers) {
      if (!this.#ws.isOpen(connection)) continue;
      if (this.#ws.queuedBytes(connection) > this.#maxBuffered) {
        this.#dropSlow(connection);
        continue;
      }
      let message: PreparedMessage;
      if (connection.combined) message = combined ??= this.#prepare(combinedFrame(state.name, text));
      else message = raw ??= this.#prepare(text);
      this.#ws.sendPrepared(connection, message);
      this.#stats.messagesSent++;
      if (this.#ws.queuedBytes(connection) > this.#maxBuffered) this.#dropSlow(connection);
    }
  }

  #prepare(text: string): PreparedMessage {
    this.#stats.payloadsBuilt++;
    return new PreparedMessage(text);
  }

  /** After a batch: a connection whose socket did not take what the batch held back, past the limit, is slow. */
  readonly #afterFlush = (connection: Connection): void => {
    if (this.#ws.isOpen(connection) && connection.ws.bufferedAmount > this.#maxBuffered) this.#dropSlow(connection);
  };

  /** Its queue is not going to drain: closing releases its subscriptions (and their memory) at once. */
  #dropSlow(connection: Connection): void {
    if (connection.closing) return;
    this.#stats.slowConsumersDropped++;
    this.#log.warn({ bufferedAmount: connection.ws.bufferedAmount, limit: this.#maxBuffered }, 'stream server: dropping a slow consumer');
    this.#ws.closeWith(connection, 1008, SLOW_CONSUMER_REASON);
  }

  // ---- subscriptions ---------------------------------------------------------------------------------------------

  #onSubscribe(stream: string): void {
    if (this.#streams.has(stream)) return;
    this.#streams.set(stream, { name: stream, lastFinalOpenTime: -Infinity, finalRevisions: new Map(), pending: undefined, lastUpdateAt: -Infinity, timer: undefined });
    const parsed = parseKlineStream(stream);
    if (parsed !== undefined && this.#isKnownSymbol !== undefined && !this.#isKnownSymbol(parsed.symbol)) this.#stats.unknownSymbolSubscriptions++;
  }

  /** The last subscriber gone: the stream's delivery state goes too. */
  #onUnsubscribe(stream: string): void {
    if (this.#ws.subscribers(stream) !== undefined) return;
    const state = this.#streams.get(stream);
    if (state?.timer !== undefined) clearTimeout(state.timer);
    this.#streams.delete(stream);
  }
}

/**
 * The route of an upgrade request: `/market/ws[/<stream>…]`, `/market/stream?streams=…`, or the same under `/public`,
 * `/private` or no prefix. Undefined for any other path; refused when a stream in the URL is not a kline stream.
 */
export function klineRoute(url: URL): StreamRoute | BinanceError | undefined {
  // Binance splits its streams over /market, /public and /private (2026); clients such as the official connector
  // open all three. klagg serves only kline streams, so every prefix reaches the same routes.
  const route = parseStreamRoute(url, ['market', 'public', 'private']);
  if (route === 'not-ours') return undefined;
  if (route === 'malformed' || !route.streams.every((s) => parseKlineStream(s) !== undefined)) return invalidStream();
  return route;
}
