/** What the kline stream server counts (its own delivery counters and the connection counters of its WebSocket base). */

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
  /** Batches that sent (a published batch's finals, its open updates, a cohort of throttled ones): one socket write per client each. */
  sendBatches: number;
  finalsSent: number;
  /** Corrected finals (revision ≥ 1) sent, counted per subscriber. */
  revisionsSent: number;
  slowConsumersDropped: number;
  /**
   * The largest backlog (unsent bytes, `ws.bufferedAmount`) a slow consumer had when it was dropped: what one slow
   * reader can cost, at most `maxBufferedBytes` plus one batch.
   */
  slowConsumerBacklogMax: number;
  closedTooManyRequests: number;
  requests: number;
  requestErrors: number;
  /** Upgrades refused: bad path or stream in the URL, too many streams, server closed. */
  rejectedUpgrades: number;
  /** Kline fields sent with more decimals than the symbol's scale (kept exact, not rounded; see `scalesOf`). */
  overScaleFields: number;
  /** Closed (1009) for an incoming message over `maxPayloadBytes`. */
  closedMessageTooBig: number;
  /** Upgrades refused (429): the client's IP had `maxConnectionsPerIp` connections open. */
  refusedConnectionsPerIp: number;
  /** Upgrades (429) and SUBSCRIBEs refused for going past `maxSubscriptionsPerIp`. */
  refusedSubscriptionsPerIp: number;
  /** Upgrades (400) and SUBSCRIBEs refused for going past `maxStreamsPerConnection`. */
  refusedStreamsPerConnection: number;
  /** Closes started by clients, and how many of them said 1001 "going away". */
  clientCloses: number;
  clientGoingAway: number;
}

/** The counters this server keeps itself (the connection counters are BinanceWsServer's). */
export type DeliveryStats = Pick<
  KlineStreamStats,
  'unknownSymbolSubscriptions' | 'messagesSent' | 'eventsSerialized' | 'payloadsBuilt' | 'sendBatches' | 'finalsSent' | 'revisionsSent' | 'slowConsumersDropped' | 'slowConsumerBacklogMax' | 'overScaleFields'
>;
