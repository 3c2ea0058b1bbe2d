/**
 * Live push: a WebSocket server speaking Binance's market-stream protocol for `<symbol>@kline_<interval>`, so existing
 * Binance stream clients can point at klagg unchanged.
 *
 * Routes (on the 'upgrade' of a given node:http Server): `/ws`, `/ws/<stream>[/<stream>…]` (raw payloads),
 * `/stream?streams=a/b` (combined wrapper `{"stream":…,"data":…}`), with or without a `/market`, `/public` or
 * `/private` prefix; a `/ws/…` segment without `@` is a connection id (ccxt's `/market/ws/0`). Other paths are left
 * to other upgrade listeners (answered 404 when there are none).
 *
 * Protocol: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY / GET_PROPERTY `combined`, with Binance's reply
 * and error shapes. A name that is not `<lower-case symbol>@kline_<interval>` of an interval klagg aggregates is
 * "Invalid request: invalid stream" (in a URL: 400); an unknown symbol is ACKed and stays silent, as on Binance
 * (KlineStreamRules has the whole rule and why).
 *
 * Delivery, per stream: an open kline's latest state at most every `throttleMs` (updates inside the window coalesce,
 * the last state wins; the first change after a quiet window goes out at once); a final (`x: true`) at once, once per
 * revision — a corrected final (a late trade, a repair) goes out again as a new `x: true` event with the corrected
 * values — and no open update of a kline after its final. Limits per connection: `maxStreamsPerConnection` streams,
 * `maxMessagesPerSecond` incoming messages (→ close 1008 "Too many requests"), `maxBufferedBytes` unsent bytes (→ close
 * 1008 "slow consumer: buffer exceeded" and dropped; nothing more is queued for it, so memory stays bounded),
 * `maxPayloadBytes` per incoming message (→ close 1009). Per client IP: `maxConnectionsPerIp` open connections and
 * `maxSubscriptionsPerIp` streams over them (→ upgrade refused 429; SUBSCRIBE: an error reply). `close()` says 1001 "going away" to every client.
 *
 * Fan-out: an event is serialized once (its `E` is the event's, the same for every subscriber) and each form, raw and
 * combined, framed once into bytes when a subscriber first needs it. Sends go in batches, each leaving in one socket
 * write per client (BinanceWsServer.batch): a published batch's finals, then its open updates; throttled updates wait
 * in cohorts — the streams last sent in the same batch, whose windows end together — and each cohort goes out as one
 * batch. The slow-consumer check reads the backlog from before the batch while it runs and the connection's whole
 * backlog once the batch is written.
 *
 * The connection handling (routes, refusals, the request protocol, limits, closing) is BinanceWsServer's, shared with
 * the fake exchange; what is klagg's own here is the kline delivery from published batches.
 */
import type { Server } from 'node:http';
import type { PublishedBatch } from '../../domain/messages.ts';
import type { Kline } from '../../domain/kline.ts';
import type { SymbolScales } from '../../domain/kline-engine.ts';
import { formatKlineChecked } from '../../domain/kline-format.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { BinanceWsServer, combinedFrame, PreparedMessage, type WsConnection } from '../binance-ws/binance-ws-server.ts';
import { klineStreamName, parseKlineStream, toKlineEvent } from '../binance-ws/kline-event.ts';
import type { StreamRoute } from '../binance-ws/stream-route.ts';
import { realWsTimers } from '../binance-ws/ws-timers.ts';
import type { DeliveryStats, KlineStreamStats } from './stream-stats.ts';
import { KlineStreamRules } from './kline-stream-rules.ts';
import type { IntervalName } from '../../domain/interval.ts';

export type { KlineStreamStats } from './stream-stats.ts';

export interface BatchSource {
  onBatch(listener: (batch: PublishedBatch) => void): () => void;
}

export interface KlineStreamServerOptions {
  readonly server: Server;
  readonly source: BatchSource;
  /** Event time `E` of the payloads. */
  readonly clock: Clock;
  readonly logger: Logger;
  /** The intervals klagg aggregates: a stream of another is refused, never silent. */
  readonly intervals: readonly IntervalName[];
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
  /** Open connections per client IP (IPv6: per /64); one more is refused with 429. 0: no limit. Default 300. */
  readonly maxConnectionsPerIp?: number;
  /** Subscriptions over all the connections of one client IP. 0: no limit. Default 10 240 (ten full connections). */
  readonly maxSubscriptionsPerIp?: number;
  /**
   * A symbol's scales (from its tick and step sizes): every kline is sent with its decimals at them, as Binance
   * formats it. Klines of a symbol it does not know (undefined), or all when absent, are sent as they come.
   */
  readonly scalesOf?: (symbol: string) => SymbolScales | undefined;
}

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
  /** Monotonic time (performance.now) of the last update sent: the end of the batch that wrote it. */
  lastUpdateAt: number;
  /** Waiting for its window to end, with the other streams whose window ends at the same moment. */
  cohort: Cohort | undefined;
}

/**
 * The streams whose throttle window ends at the same moment — those last sent in the same batch — wait on one timer
 * and go out in one batch: their clients get them in one socket write each, as they got the batch before.
 */
interface Cohort {
  readonly at: number;
  readonly states: Set<StreamState>;
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
    sendBatches: 0,
    finalsSent: 0,
    revisionsSent: 0,
    slowConsumersDropped: 0,
    slowConsumerBacklogMax: 0,
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
  /** Cohorts by the moment their window ends. */
  readonly #cohorts = new Map<number, Cohort>();
  /** Streams that sent an update in the running batch (their `lastUpdateAt` becomes its end). */
  readonly #updated: StreamState[] = [];
  readonly #unsubscribeSource: () => void;
  #closed = false;

  constructor(options: KlineStreamServerOptions) {
    this.#clock = options.clock;
    this.#log = options.logger.child({ component: 'stream-server' });
    this.#throttleMs = options.throttleMs ?? 250;
    this.#maxBuffered = options.maxBufferedBytes ?? 1 << 20;
    this.#isKnownSymbol = options.isKnownSymbol;
    this.#scalesOf = options.scalesOf;
    const rules = new KlineStreamRules(options.intervals);
    this.#ws = new BinanceWsServer({
      server: options.server,
      timers: realWsTimers,
      logger: this.#log,
      maxStreamsPerConnection: options.maxStreamsPerConnection ?? 1024,
      maxMessagesPerSecond: options.maxMessagesPerSecond ?? 10,
      maxPayloadBytes: options.maxPayloadBytes,
      maxConnectionsPerIp: options.maxConnectionsPerIp ?? 300,
      maxSubscriptionsPerIp: options.maxSubscriptionsPerIp ?? 10_240,
      closeGraceMs: options.closeGraceMs,
      handlers: {
        route: (url) => rules.route(url),
        isValidStream: (name) => rules.isServed(name),
        invalidStreamMessage: (name) => rules.refusalMessage(name),
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
      refusedConnectionsPerIp: ws.refusedConnectionsPerIp,
      refusedSubscriptionsPerIp: ws.refusedSubscriptionsPerIp,
      refusedStreamsPerConnection: ws.refusedStreamsPerConnection,
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
    for (const cohort of this.#cohorts.values()) clearTimeout(cohort.timer);
    this.#cohorts.clear();
    this.#streams.clear();
  }

  // ---- delivery --------------------------------------------------------------------------------------------------

  #onBatch(batch: PublishedBatch): void {
    if (this.#closed || this.#streams.size === 0) return;
    // The finals leave first (in one socket write per client), then the open updates (in another).
    if (batch.finals.length > 0) this.#send(() => this.#deliverFinals(batch.finals));
    if (batch.updates.length > 0) this.#send(() => this.#deliverUpdates(batch.updates));
  }

  /**
   * Runs `deliver` as one batch of writes (BinanceWsServer.batch): every message it sends to one client leaves in one
   * socket write when it returns. The streams it updated count their window from then.
   */
  #send(deliver: () => void): void {
    const sent = this.#stats.messagesSent;
    this.#ws.batch(deliver, this.#afterFlush);
    if (this.#stats.messagesSent > sent) this.#stats.sendBatches++;
    if (this.#updated.length === 0) return;
    const end = performance.now();
    for (const state of this.#updated) state.lastUpdateAt = end;
    this.#updated.length = 0;
  }

  #deliverFinals(batchFinals: readonly Kline[]): void {
    const finals = [...batchFinals].sort((a, b) => a.openTime - b.openTime);
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
      if (state.pending === undefined) this.#unschedule(state);
      this.#deliver(state, kline);
      this.#stats.finalsSent += this.#subscriberCount(state);
    }
  }

  #deliverUpdates(updates: readonly Kline[]): void {
    for (const kline of updates) {
      const state = this.#streams.get(klineStreamName(kline.symbol, kline.interval));
      if (state === undefined || kline.openTime <= state.lastFinalOpenTime) continue;
      if (kline.isFinal) continue; // finals travel in batch.finals
      if (state.pending !== undefined && kline.openTime < state.pending.openTime) continue;
      state.pending = kline;
      this.#schedule(state);
    }
  }

  /** Sends the pending update now if the window is over, or has it wait with its cohort for the window's end. */
  #schedule(state: StreamState): void {
    if (state.cohort !== undefined) return;
    const at = state.lastUpdateAt + this.#throttleMs;
    const wait = at - performance.now();
    if (wait <= 0) {
      this.#flush(state);
      return;
    }
    let cohort = this.#cohorts.get(at);
    if (cohort === undefined) {
      const created: Cohort = { at, states: new Set(), timer: undefined };
      created.timer = setTimeout(() => this.#flushCohort(created), wait);
      this.#cohorts.set(at, created);
      cohort = created;
    }
    cohort.states.add(state);
    state.cohort = cohort;
  }

  /** Its pending update is gone (a final overtook it, its last subscriber left): it no longer waits. */
  #unschedule(state: StreamState): void {
    const cohort = state.cohort;
    if (cohort === undefined) return;
    state.cohort = undefined;
    cohort.states.delete(state);
    if (cohort.states.size > 0) return;
    clearTimeout(cohort.timer);
    this.#cohorts.delete(cohort.at);
  }

  #flushCohort(cohort: Cohort): void {
    this.#cohorts.delete(cohort.at);
    for (const state of cohort.states) state.cohort = undefined;
    this.#send(() => {
      for (const state of cohort.states) this.#flush(state);
    });
  }

  #flush(state: StreamState): void {
    const kline = state.pending;
    state.pending = undefined;
    if (kline === undefined || this.#closed || kline.openTime <= state.lastFinalOpenTime) return;
    // Until the batch ends (see #send): a second update of the stream in the same batch waits for the window.
    state.lastUpdateAt = performance.now();
    this.#updated.push(state);
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
    this.#stats.slowConsumerBacklogMax = Math.max(this.#stats.slowConsumerBacklogMax, connection.ws.bufferedAmount);
    this.#log.warn({ peer: connection.peer, bufferedAmount: connection.ws.bufferedAmount, limit: this.#maxBuffered }, 'stream server: dropping a slow consumer');
    this.#ws.closeWith(connection, 1008, SLOW_CONSUMER_REASON);
  }

  // ---- subscriptions ---------------------------------------------------------------------------------------------

  #onSubscribe(stream: string): void {
    if (this.#streams.has(stream)) return;
    this.#streams.set(stream, { name: stream, lastFinalOpenTime: -Infinity, finalRevisions: new Map(), pending: undefined, lastUpdateAt: -Infinity, cohort: undefined });
    const parsed = parseKlineStream(stream);
    if (parsed !== undefined && this.#isKnownSymbol !== undefined && !this.#isKnownSymbol(parsed.symbol)) this.#stats.unknownSymbolSubscriptions++;
  }

  /** The last subscriber gone: the stream's delivery state goes too. */
  #onUnsubscribe(stream: string): void {
    if (this.#ws.subscribers(stream) !== undefined) return;
    const state = this.#streams.get(stream);
    if (state !== undefined) this.#unschedule(state);
    this.#streams.delete(stream);
  }
}
