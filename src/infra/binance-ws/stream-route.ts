/**
 * The route of a WebSocket upgrade in Binance's market-stream URL scheme, shared by klagg's and the fake exchange's
 * stream servers: `[/<prefix>]/ws[/<stream>…]` (raw payloads), `[/<prefix>]/stream?streams=a/b` (the combined wrapper
 * `{"stream":…,"data":…}`). Which prefixes exist (Binance's 2026 split: `/market`, `/public`, `/private`) and which
 * stream names are valid is each server's own business.
 */

export interface StreamRoute {
  /** The leading path segment when it is one of the server's prefixes (`market`…), else undefined. */
  readonly prefix: string | undefined;
  /** `/stream…`: payloads wrapped as `{"stream":…,"data":…}`. */
  readonly combined: boolean;
  /** The streams named in the URL, once each, in order. */
  readonly streams: readonly string[];
}

/**
 * The route of `url`: 'not-ours' for a path that is no stream route, 'malformed' when a stream in the path is not
 * valid percent-encoding.
 */
export function parseStreamRoute(url: URL, prefixes: readonly string[]): StreamRoute | 'not-ours' | 'malformed' {
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  const prefix = segments[0] !== undefined && prefixes.includes(segments[0]) ? segments.shift() : undefined;
  const kind = segments.shift();
  if (kind === 'stream' && segments.length === 0) {
    const streams = (url.searchParams.get('streams') ?? '').split('/').filter((s) => s.length > 0);
    return { prefix, combined: true, streams: [...new Set(streams)] };
  }
  if (kind !== 'ws') return 'not-ours';
  try {
    return { prefix, combined: false, streams: [...new Set(segments.map(decodeURIComponent))] };
  } catch {
    return 'malformed';
  }
}
