/** The configuration's limits reach the HTTP server, the kline streams and the admin routes under their own names. */
import t from 'tap';
import { servingLimitsFrom } from '../../src/app/serving-limits.ts';
import { loadConfig } from '../../src/infra/config/load-config.ts';

t.test('every limit setting is passed on', async (t) => {
  const config = loadConfig({
    env: {
      KLAGG_SERVER__MAX_URL_LENGTH: '1000',
      KLAGG_SERVER__MAX_HEADER_BYTES: '4096',
      KLAGG_SERVER__MAX_BODY_BYTES: '2048',
      KLAGG_SERVER__HEADERS_TIMEOUT_MS: '500',
      KLAGG_SERVER__REQUEST_TIMEOUT_MS: '900',
      KLAGG_SERVER__KEEP_ALIVE_TIMEOUT_MS: '700',
      KLAGG_SERVER__MAX_CONNECTIONS_PER_IP: '9',
      KLAGG_STREAM_SERVER__MAX_CONNECTIONS_PER_IP: '3',
      KLAGG_STREAM_SERVER__MAX_SUBSCRIPTIONS_PER_IP: '30',
      KLAGG_STREAM_SERVER__MAX_STREAMS_PER_CONNECTION: '20',
      KLAGG_STREAM_SERVER__MAX_MESSAGES_PER_SECOND: '5',
      KLAGG_STREAM_SERVER__MAX_PAYLOAD_BYTES: '8192',
      KLAGG_STREAM_SERVER__MAX_BUFFERED_BYTES: '100000',
      KLAGG_ADMIN__ALLOW_REMOTE: 'true',
      KLAGG_ADMIN__ALLOW_FROM: '10.0.0.0/8',
    },
  });
  t.same(servingLimitsFrom(config), {
    http: { maxUrlLength: 1000, maxHeaderBytes: 4096, bodyLimit: 2048, headersTimeoutMs: 500, requestTimeoutMs: 900, keepAliveTimeoutMs: 700, maxConnectionsPerIp: 9 },
    streams: { maxConnectionsPerIp: 3, maxSubscriptionsPerIp: 30, maxStreamsPerConnection: 20, maxMessagesPerSecond: 5, maxPayloadBytes: 8192, maxBufferedBytes: 100_000 },
    admin: { allowRemote: true, allowFrom: ['10.0.0.0/8'] },
  });
});
