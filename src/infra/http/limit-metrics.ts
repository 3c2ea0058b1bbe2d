/**
 * How often the limits that keep a public endpoint up refused someone, on the HTTP server's registry:
 * `klagg_limits_http_refused_total{limit}` (counted as the server refuses) and, for the kline streams,
 * `klagg_limits_ws_refused_total{limit}` and `klagg_limits_ws_clients_dropped_total{reason}` (read from the stream
 * server's counters at scrape time, `attachStreams`). The per-status view of HTTP refusals stays in
 * `klagg_http_rejected_requests_total`; these name the limit.
 */
import client from 'prom-client';
import { KlaggError } from '../../domain/errors.ts';

export type HttpLimit = 'url_length' | 'body_size' | 'header_size' | 'request_timeout' | 'admin_remote' | 'connections_per_ip';

/** The stream server's limit counters (KlineStreamStats has them). */
export interface StreamLimitCounts {
  readonly refusedConnectionsPerIp: number;
  readonly refusedSubscriptionsPerIp: number;
  readonly refusedStreamsPerConnection: number;
  readonly closedTooManyRequests: number;
  readonly closedMessageTooBig: number;
  readonly slowConsumersDropped: number;
}

/** The limit a refusal the error handler answers stands for, if it is one. */
export function limitOf(error: unknown): HttpLimit | undefined {
  if (error instanceof KlaggError) {
    if (error.code === 'KLAGG_ERR_HTTP_URL_TOO_LONG') return 'url_length';
    if (error.code === 'KLAGG_ERR_ADMIN_REMOTE_FORBIDDEN') return 'admin_remote';
    return undefined;
  }
  return (error as { code?: unknown }).code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'body_size' : undefined;
}

export class LimitMetrics {
  readonly #registry: client.Registry;
  readonly #prefix: string;
  readonly #http: client.Counter<'limit'>;
  #streams: (() => StreamLimitCounts) | undefined;

  constructor(registry: client.Registry, prefix: string) {
    this.#registry = registry;
    this.#prefix = prefix;
    this.#http = new client.Counter({ name: `${prefix}limits_http_refused_total`, help: 'HTTP requests refused by a limit of the server, by limit', labelNames: ['limit'], registers: [registry] });
  }

  countHttp(limit: HttpLimit): void {
    this.#http.inc({ limit });
  }

  /** Reads the kline stream server's limit counters at every scrape (a later call swaps the source). */
  attachStreams(read: () => StreamLimitCounts): void {
    const registered = this.#streams !== undefined;
    this.#streams = read;
    if (registered) return;
    const source = (): StreamLimitCounts => this.#streams!();
    const registers = [this.#registry];
    new client.Counter({
      name: `${this.#prefix}limits_ws_refused_total`,
      help: 'Stream upgrades and SUBSCRIBEs refused by a limit, by limit',
      labelNames: ['limit'],
      registers,
      collect() {
        const counts = source();
        this.reset();
        this.inc({ limit: 'connections_per_ip' }, counts.refusedConnectionsPerIp);
        this.inc({ limit: 'subscriptions_per_ip' }, counts.refusedSubscriptionsPerIp);
        this.inc({ limit: 'streams_per_connection' }, counts.refusedStreamsPerConnection);
      },
    });
    new client.Counter({
      name: `${this.#prefix}limits_ws_clients_dropped_total`,
      help: 'Stream clients closed by a limit, by reason: too many messages (1008), a message too big (1009), a slow consumer (1008)',
      labelNames: ['reason'],
      registers,
      collect() {
        const counts = source();
        this.reset();
        this.inc({ reason: 'too_many_messages' }, counts.closedTooManyRequests);
        this.inc({ reason: 'message_too_big' }, counts.closedMessageTooBig);
        this.inc({ reason: 'slow_consumer' }, counts.slowConsumersDropped);
      },
    });
  }
}
