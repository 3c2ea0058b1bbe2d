/**
 * Which kline streams klagg's stream server serves, and what an upgrade URL may say: the routes of Binance's
 * market-stream scheme, checked against the intervals klagg aggregates.
 *
 * Routes: `/ws`, `/ws/<stream>[/<stream>…]` (raw payloads), `/stream?streams=a/b` (combined wrapper), each also under
 * `/market`, `/public` and `/private` — every shape Binance accepts. Binance splits its streams over the three prefixes
 * (2026) and clients such as the official connector open all of them; klagg serves only kline streams, so every
 * prefix reaches the same routes.
 *
 * What a name in the URL does:
 * - a kline stream of an interval klagg aggregates (`btcusdt@kline_1m`): subscribed at once, as on Binance;
 * - a `/ws/…` path segment without `@` (`/market/ws/0`, a listen key): a connection id, not a stream. Binance
 *   accepts such paths as a bare connection that then subscribes by messages — ccxt opens `<base>/market/ws/<n>`,
 *   n a per-client counter — so klagg accepts them too and subscribes nothing for them;
 * - a name with `@` that klagg does not serve — another stream type (`btcusdt@aggTrade`), an upper-case symbol
 *   (`BTCUSDT@kline_1m`), an interval that is not Binance's (`@kline_7m`) — refused (400 -1100), and a kline stream of
 *   a Binance interval klagg does not aggregate (`@kline_15m`) refused (400 -1120, naming the served intervals).
 *   Binance would accept these and then stay silent (stream names are lower-case there too, and an unknown name is
 *   ACKed and never sends); a stream that can never send is the commonest Binance client bug, so klagg says so at
 *   once instead. A client that works against Binance never sends such names.
 * - In `?streams=` every name is a stream (there is no connection id there): the same checks, no exception.
 *
 * SUBSCRIBE follows the same rules: a name klagg does not serve gets Binance's error reply
 * `{"error":{"code":2,"msg":"Invalid request: invalid stream…"},"id":…}`, with the served intervals named when only
 * the interval is wrong. An unknown symbol of a valid name is still accepted and silent, as on Binance: it may be
 * listed later.
 */
import { INTERVALS, type IntervalName } from '../../domain/interval.ts';
import { invalidStream, unservedInterval, type BinanceError } from '../binance/binance-replies.ts';
import { parseKlineStream } from '../binance-ws/kline-event.ts';
import { parseStreamRoute, type StreamRoute } from '../binance-ws/stream-route.ts';

const PREFIXES = ['market', 'public', 'private'];
/** Binance's own reply to a stream it does not know (the request protocol's default). */
const INVALID_STREAM = 'Invalid request: invalid stream';

export class KlineStreamRules {
  readonly #served: ReadonlySet<IntervalName>;
  readonly #servedText: string;

  /** `intervals`: those klagg aggregates. */
  constructor(intervals: readonly IntervalName[]) {
    this.#served = new Set(intervals);
    this.#servedText = INTERVALS.filter((i) => this.#served.has(i)).join(', ');
  }

  /** Whether the stream is a kline stream klagg serves (lower-case symbol, an aggregated interval). */
  isServed(name: string): boolean {
    const stream = parseKlineStream(name);
    return stream !== undefined && this.#served.has(stream.interval);
  }

  /** The SUBSCRIBE error text for a name `isServed` refused. */
  refusalMessage(name: string): string {
    const stream = parseKlineStream(name);
    if (stream === undefined) return INVALID_STREAM;
    return `${INVALID_STREAM}: ${name}: interval ${stream.interval} is not aggregated here (served: ${this.#servedText})`;
  }

  /** The route of an upgrade: undefined when the path is no stream route, a BinanceError when it is refused. */
  route(url: URL): StreamRoute | BinanceError | undefined {
    const route = parseStreamRoute(url, PREFIXES);
    if (route === 'not-ours') return undefined;
    if (route === 'malformed') return invalidStream();
    const streams = route.combined ? route.streams : route.streams.filter((segment) => segment.includes('@'));
    for (const name of streams) {
      const stream = parseKlineStream(name);
      if (stream === undefined) return invalidStream();
      if (!this.#served.has(stream.interval)) return unservedInterval(name, this.#servedText);
    }
    return { ...route, streams };
  }
}
