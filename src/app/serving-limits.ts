/**
 * The limits of klagg's public face — the HTTP server, the kline streams, the admin routes — as the configuration
 * sets them (`server.*`, `streamServer.*`, `admin.*`; docs/configuration.md, "Limits"), for `run`, `demo` and `serve`.
 */
import type { KlaggConfig } from '../infra/config/schema.ts';
import type { AdminAccessOptions } from '../infra/http/admin-access.ts';
import type { HttpServerOptions } from '../infra/http/http-server.ts';
import type { KlineStreamServerOptions } from '../infra/stream-server/stream-server.ts';

export interface ServingLimits {
  readonly http?: Pick<HttpServerOptions, 'maxUrlLength' | 'bodyLimit' | 'maxHeaderBytes' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'maxConnectionsPerIp'>;
  readonly streams?: Pick<KlineStreamServerOptions, 'maxConnectionsPerIp' | 'maxSubscriptionsPerIp' | 'maxStreamsPerConnection' | 'maxMessagesPerSecond' | 'maxPayloadBytes' | 'maxBufferedBytes'>;
  readonly admin?: AdminAccessOptions;
}

/** The limits the configuration sets (`server.*`, `streamServer.*`, `admin.*`). */
export function servingLimitsFrom(config: Pick<KlaggConfig, 'server' | 'streamServer' | 'admin'>): ServingLimits {
  const { server, streamServer, admin } = config;
  return {
    http: {
      maxUrlLength: server.maxUrlLength,
      bodyLimit: server.maxBodyBytes,
      maxHeaderBytes: server.maxHeaderBytes,
      headersTimeoutMs: server.headersTimeoutMs,
      requestTimeoutMs: server.requestTimeoutMs,
      keepAliveTimeoutMs: server.keepAliveTimeoutMs,
      maxConnectionsPerIp: server.maxConnectionsPerIp,
    },
    streams: { ...streamServer },
    admin,
  };
}
