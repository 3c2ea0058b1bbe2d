/**
 * Fault injection: what goes wrong on a real exchange, on request. Callable in-process, and through the admin route
 * `POST /_fake/faults` (JSON, see `FaultSpec`) so a chaos tool in another process can trigger them.
 *
 * WebSocket faults act through the hub the FakeExchange attaches; REST faults queue up and are consumed by the next
 * matching requests (optionally only those of one path), in the order they were injected.
 */

/** What the WebSocket side must do for the WS faults. */
export interface WsFaultTarget {
  /** Destroys the sockets (no close frame) of every connection, or of those subscribed to the symbol; returns how many. */
  dropConnections(symbol?: string): number;
  /** Stops sending market data on the open connections for `ms` (frames meanwhile are lost); returns how many. */
  stall(ms: number): number;
  /** Sends the symbol's last `count` published trades again to its subscribers; returns how many trades. */
  duplicate(symbol: string, count: number): number;
}

export type FaultSpec =
  | { readonly type: 'dropConnections'; readonly symbol?: string }
  | { readonly type: 'stall'; readonly ms: number }
  | { readonly type: 'skipIds'; readonly symbol: string; readonly count: number }
  | { readonly type: 'duplicate'; readonly symbol: string; readonly count: number }
  | { readonly type: 'rest429'; readonly count: number; readonly path?: string }
  | { readonly type: 'rest418'; readonly count: number; readonly path?: string }
  | { readonly type: 'rest5xx'; readonly count: number; readonly status?: number; readonly path?: string }
  | { readonly type: 'slowRest'; readonly ms: number; readonly count: number; readonly path?: string };

export type FaultType = FaultSpec['type'];

export const FAULT_TYPES: readonly FaultType[] = ['dropConnections', 'stall', 'skipIds', 'duplicate', 'rest429', 'rest418', 'rest5xx', 'slowRest'];

export interface FaultEffects {
  droppedConnections: number;
  stalledConnections: number;
  /** Trades not sent over WebSocket because of skipIds. */
  skippedTrades: number;
  /** Trades sent again because of duplicate. */
  duplicatedTrades: number;
  /** REST responses replaced or delayed by a fault. */
  rest429: number;
  rest418: number;
  rest5xx: number;
  slowRest: number;
}

/** The REST failure a request gets instead of its answer. */
export interface RestFailure {
  readonly status: 429 | 418 | number;
}

export class FaultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FaultError';
  }
}

interface PendingRest {
  readonly kind: 'rest429' | 'rest418' | 'rest5xx' | 'slowRest';
  remaining: number;
  readonly path: string | undefined;
  readonly status: number;
  readonly ms: number;
}

export class Faults {
  /** How many times each fault was injected. */
  readonly injected: Record<FaultType, number> = Object.fromEntries(FAULT_TYPES.map((type) => [type, 0])) as Record<FaultType, number>;
  readonly effects: FaultEffects = {
    droppedConnections: 0,
    stalledConnections: 0,
    skippedTrades: 0,
    duplicatedTrades: 0,
    rest429: 0,
    rest418: 0,
    rest5xx: 0,
    slowRest: 0,
  };
  #ws: WsFaultTarget | undefined;
  readonly #skips = new Map<string, number>();
  #rest: PendingRest[] = [];

  attach(target: WsFaultTarget): void {
    this.#ws = target;
  }

  /** Destroys sockets without a close frame (all, or those subscribed to `symbol`); returns how many. */
  dropConnections(options: { readonly symbol?: string } = {}): number {
    this.injected.dropConnections++;
    const dropped = this.#target().dropConnections(options.symbol);
    this.effects.droppedConnections += dropped;
    return dropped;
  }

  /** Open connections stay open but get no market data for `ms`; what is published meanwhile is not sent. */
  stall(options: { readonly ms: number }): number {
    requireCount(options.ms, 'ms');
    this.injected.stall++;
    const stalled = this.#target().stall(options.ms);
    this.effects.stalledConnections += stalled;
    return stalled;
  }

  /** The symbol's next `count` published trades are not sent over WebSocket (REST still has them). */
  skipIds(options: { readonly symbol: string; readonly count: number }): void {
    requireSymbol(options.symbol);
    requireCount(options.count, 'count');
    this.injected.skipIds++;
    this.#skips.set(options.symbol, (this.#skips.get(options.symbol) ?? 0) + options.count);
  }

  /** The symbol's last `count` published trades are sent again, now; returns how many trades. */
  duplicate(options: { readonly symbol: string; readonly count: number }): number {
    requireSymbol(options.symbol);
    requireCount(options.count, 'count');
    this.injected.duplicate++;
    const sent = this.#target().duplicate(options.symbol, options.count);
    this.effects.duplicatedTrades += sent;
    return sent;
  }

  /** The next `count` REST requests (of `path`, if given) get HTTP 429 / -1003. */
  rest429(options: { readonly count: number; readonly path?: string }): void {
    this.#queue('rest429', options.count, options.path, 429, 0);
  }

  /** The next `count` REST requests get HTTP 418 (an IP ban message); no real ban is recorded. */
  rest418(options: { readonly count: number; readonly path?: string }): void {
    this.#queue('rest418', options.count, options.path, 418, 0);
  }

  /** The next `count` REST requests get a server error (`status`, default 503). */
  rest5xx(options: { readonly count: number; readonly status?: number; readonly path?: string }): void {
    const status = options.status ?? 503;
    if (!Number.isInteger(status) || status < 500 || status > 599) throw new FaultError(`status must be 500–599, got ${String(status)}`);
    this.#queue('rest5xx', options.count, options.path, status, 0);
  }

  /** The next `count` REST requests are answered `ms` late. */
  slowRest(options: { readonly ms: number; readonly count: number; readonly path?: string }): void {
    requireCount(options.ms, 'ms');
    this.#queue('slowRest', options.count, options.path, 0, options.ms);
  }

  /** Injects a fault described as data (the admin route's body); returns what the in-process call returned. */
  inject(spec: FaultSpec): { type: FaultType; result: number | null } {
    if (typeof spec !== 'object' || spec === null) throw new FaultError('a fault is a JSON object with a "type"');
    const s = spec as unknown as Record<string, unknown>;
    const num = (name: string, fallback?: number): number => {
      const value = s[name] ?? fallback;
      if (typeof value !== 'number') throw new FaultError(`${String(s['type'])}: "${name}" must be a number`);
      return value;
    };
    const str = (name: string): string => {
      const value = s[name];
      if (typeof value !== 'string') throw new FaultError(`${String(s['type'])}: "${name}" must be a string`);
      return value;
    };
    const optStr = (name: string): string | undefined => (s[name] === undefined ? undefined : str(name));
    switch (s['type']) {
      case 'dropConnections':
        return { type: 'dropConnections', result: this.dropConnections({ symbol: optStr('symbol') }) };
      case 'stall':
        return { type: 'stall', result: this.stall({ ms: num('ms') }) };
      case 'skipIds':
        this.skipIds({ symbol: str('symbol'), count: num('count') });
        return { type: 'skipIds', result: null };
      case 'duplicate':
        return { type: 'duplicate', result: this.duplicate({ symbol: str('symbol'), count: num('count') }) };
      case 'rest429':
        this.rest429({ count: num('count'), path: optStr('path') });
        return { type: 'rest429', result: null };
      case 'rest418':
        this.rest418({ count: num('count'), path: optStr('path') });
        return { type: 'rest418', result: null };
      case 'rest5xx':
        this.rest5xx({ count: num('count'), status: num('status', 503), path: optStr('path') });
        return { type: 'rest5xx', result: null };
      case 'slowRest':
        this.slowRest({ ms: num('ms'), count: num('count'), path: optStr('path') });
        return { type: 'slowRest', result: null };
      default:
        throw new FaultError(`unknown fault type ${JSON.stringify(s['type'])}: expected one of ${FAULT_TYPES.join(', ')}`);
    }
  }

  /** Forgets every pending fault (queued REST faults, pending skips). Counters stay. */
  clear(): void {
    this.#skips.clear();
    this.#rest = [];
  }

  /** Pending skips and REST faults, for stats. */
  pending(): { skips: Record<string, number>; rest: { kind: string; remaining: number; path?: string }[] } {
    return {
      skips: Object.fromEntries(this.#skips),
      rest: this.#rest.map((p) => ({ kind: p.kind, remaining: p.remaining, ...(p.path === undefined ? {} : { path: p.path }) })),
    };
  }

  // ---- consumed by the REST and WS sides ---------------------------------------------------------------------------

  /** True when this trade of `symbol` must not be sent over WebSocket (consumes one skip). */
  takeSkip(symbol: string): boolean {
    const left = this.#skips.get(symbol);
    if (left === undefined) return false;
    if (left <= 1) this.#skips.delete(symbol);
    else this.#skips.set(symbol, left - 1);
    this.effects.skippedTrades++;
    return true;
  }

  /** How long a request for `path` is to be delayed (consumes one slowRest). */
  takeRestDelay(path: string): number {
    const pending = this.#take(path, (p) => p.kind === 'slowRest');
    if (pending === undefined) return 0;
    this.effects.slowRest++;
    return pending.ms;
  }

  /** The failure a request for `path` gets instead of its answer, if one is queued (consumes it). */
  takeRestFailure(path: string): RestFailure | undefined {
    const pending = this.#take(path, (p) => p.kind !== 'slowRest');
    if (pending === undefined) return undefined;
    this.effects[pending.kind]++;
    return { status: pending.status };
  }

  #take(path: string, wanted: (p: PendingRest) => boolean): PendingRest | undefined {
    const pending = this.#rest.find((p) => wanted(p) && (p.path === undefined || p.path === path));
    if (pending === undefined) return undefined;
    pending.remaining--;
    if (pending.remaining <= 0) this.#rest = this.#rest.filter((p) => p !== pending);
    return pending;
  }

  #queue(kind: PendingRest['kind'], count: number, path: string | undefined, status: number, ms: number): void {
    requireCount(count, 'count');
    if (path !== undefined && typeof path !== 'string') throw new FaultError('path must be a string');
    this.injected[kind]++;
    if (count > 0) this.#rest.push({ kind, remaining: count, path, status, ms });
  }

  #target(): WsFaultTarget {
    if (this.#ws === undefined) throw new FaultError('no WebSocket side is attached');
    return this.#ws;
  }
}

function requireCount(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new FaultError(`${name} must be a whole number ≥ 0, got ${String(value)}`);
}

function requireSymbol(symbol: string): void {
  if (typeof symbol !== 'string' || symbol.length === 0) throw new FaultError('symbol must be a non-empty string');
}
