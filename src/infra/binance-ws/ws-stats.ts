/** What a BinanceWsServer counts: its connections, requests, and every limit it enforced. */

export interface BinanceWsStats {
  connectionsOpen: number;
  connectionsTotal: number;
  /** Stream subscriptions over all open connections. */
  subscriptions: number;
  /**
   * Upgrades refused: not a stream route, the server's route refusal, too many streams, shutting down, a per-IP
   * limit.
   */
  rejectedUpgrades: number;
  requests: number;
  requestErrors: number;
  closedTooManyRequests: number;
  /** Closed (1009) for an incoming message over `maxPayloadBytes`. */
  closedMessageTooBig: number;
  /** Upgrades refused (429) because the client's IP had `maxConnectionsPerIp` connections open. */
  refusedConnectionsPerIp: number;
  /** Upgrades (429) and SUBSCRIBEs (error reply) refused for going past `maxSubscriptionsPerIp`. */
  refusedSubscriptionsPerIp: number;
  /** Upgrades (400) and SUBSCRIBEs (error reply) refused for going past `maxStreamsPerConnection`. */
  refusedStreamsPerConnection: number;
  pingsSent: number;
  pongsReceived: number;
  closedPongTimeout: number;
  closedMaxAge: number;
  /** Closes the client started with a close frame, and how many of them said 1001 "going away". */
  clientCloses: number;
  clientGoingAway: number;
  /** Sockets that ended without a close frame from either side (1006). */
  clientVanished: number;
}

export function newWsStats(): BinanceWsStats {
  return {
    connectionsOpen: 0,
    connectionsTotal: 0,
    subscriptions: 0,
    rejectedUpgrades: 0,
    requests: 0,
    requestErrors: 0,
    closedTooManyRequests: 0,
    closedMessageTooBig: 0,
    refusedConnectionsPerIp: 0,
    refusedSubscriptionsPerIp: 0,
    refusedStreamsPerConnection: 0,
    pingsSent: 0,
    pongsReceived: 0,
    closedPongTimeout: 0,
    closedMaxAge: 0,
    clientCloses: 0,
    clientGoingAway: 0,
    clientVanished: 0,
  };
}
