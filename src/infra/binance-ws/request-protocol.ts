/**
 * Binance's WebSocket control protocol, server side: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY and
 * GET_PROPERTY (`combined`), with Binance's replies and error shapes. One implementation for both of klagg's stream
 * servers: the fake exchange's market streams and klagg's own kline streams.
 */

/** What a connection lets the protocol see and change. */
export interface StreamSession {
  readonly streams: ReadonlySet<string>;
  combined: boolean;
}

export interface ProtocolRules {
  /** Whether the server serves this stream name at all (`Invalid request: invalid stream` otherwise). */
  isValidStream(name: string): boolean;
  /** The error text for a stream isValidStream refused; Binance's `Invalid request: invalid stream` when absent. */
  invalidStreamMessage?(name: string): string;
  readonly maxStreams: number;
  /** Subscriptions the connection's IP may still add, and its limit (absent: no per-IP limit). */
  readonly ipRoom?: { readonly left: number; readonly limit: number };
}

export type ProtocolOutcome =
  | { readonly kind: 'subscribe'; readonly streams: readonly string[]; readonly reply: object }
  | { readonly kind: 'unsubscribe'; readonly streams: readonly string[]; readonly reply: object }
  | { readonly kind: 'reply'; readonly reply: object }
  | { readonly kind: 'error'; readonly reply: object; readonly limit?: 'streams_per_connection' | 'subscriptions_per_ip' };

const METHODS = '`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`';
/** Longest part of a client's own message an error quotes back: enough to recognise it, never a whole huge message. */
const MAX_QUOTED = 100;

const quoted = (text: string): string => (text.length <= MAX_QUOTED ? text : `${text.slice(0, MAX_QUOTED)}…`);

/**
 * An unsigned integer as the futures docs say — or a short string, which Binance's own connectors send (and the
 * exchange accepts), so clients built on them work unchanged.
 */
export function validRequestId(id: unknown): id is number | string {
  return (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) || (typeof id === 'string' && id.length > 0 && id.length <= 64);
}

/**
 * Reads one client message and says what to do: subscribe/unsubscribe (the caller applies it, then sends `reply`),
 * or just send `reply` (an answer or an error). Property changes are applied to the session here.
 */
export function handleStreamRequest(text: string, session: StreamSession, rules: ProtocolRules): ProtocolOutcome {
  const fail = (code: number, msg: string, id: unknown = null): Extract<ProtocolOutcome, { kind: 'error' }> => ({ kind: 'error', reply: { error: { code, msg }, id } });
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch (error) {
    return fail(3, `Invalid JSON: ${(error as Error).message}`);
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return fail(2, 'Invalid request: expected a JSON object');
  const request = message as Record<string, unknown>;
  const id = request['id'];
  if (!('method' in request)) return fail(2, 'Invalid request: missing field `method`', validRequestId(id) ? id : null);
  if (!validRequestId(id)) return fail(2, 'Invalid request: request ID must be an unsigned integer');
  const method = request['method'];
  const params = request['params'];
  switch (method) {
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE': {
      if (!Array.isArray(params)) return fail(2, 'Invalid request: missing field `params`', id);
      const invalid = params.findIndex((p: unknown) => typeof p !== 'string' || !rules.isValidStream(p));
      if (invalid >= 0) {
        const name: unknown = params[invalid];
        return fail(2, (typeof name === 'string' ? rules.invalidStreamMessage?.(name) : undefined) ?? 'Invalid request: invalid stream', id);
      }
      if (method === 'UNSUBSCRIBE') return { kind: 'unsubscribe', streams: params, reply: { result: null, id } };
      const fresh = [...new Set(params.filter((p) => !session.streams.has(p)))];
      if (session.streams.size + fresh.length > rules.maxStreams) return { ...fail(2, `Invalid request: too many streams: at most ${rules.maxStreams} per connection`, id), limit: 'streams_per_connection' };
      if (rules.ipRoom !== undefined && fresh.length > rules.ipRoom.left) return { ...fail(2, `Invalid request: too many streams: at most ${rules.ipRoom.limit} per IP over all its connections`, id), limit: 'subscriptions_per_ip' };
      return { kind: 'subscribe', streams: fresh, reply: { result: null, id } };
    }
    case 'LIST_SUBSCRIPTIONS':
      return { kind: 'reply', reply: { result: [...session.streams], id } };
    case 'SET_PROPERTY':
    case 'GET_PROPERTY': {
      const arity = method === 'SET_PROPERTY' ? 2 : 1;
      if (!Array.isArray(params) || params.length < arity) return fail(2, 'Invalid request: missing parameters', id);
      if (params.length > arity) return fail(2, 'Invalid request: too many parameters', id);
      if (typeof params[0] !== 'string') return fail(2, 'Invalid request: property name must be a string', id);
      if (params[0] !== 'combined') return fail(0, 'Unknown property', id);
      if (method === 'GET_PROPERTY') return { kind: 'reply', reply: { result: session.combined, id } };
      if (typeof params[1] !== 'boolean') return fail(1, 'Invalid value type: expected Boolean', id);
      session.combined = params[1];
      return { kind: 'reply', reply: { result: null, id } };
    }
    default:
      return fail(2, `Invalid request: unknown variant \`${quoted(typeof method === 'string' ? method : JSON.stringify(method))}\`, expected one of ${METHODS}`, id);
  }
}
