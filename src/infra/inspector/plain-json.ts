/**
 * A bounded, plain copy of any value for the inspector's actor panel: an actor's context may hold actor refs (cycles
 * through their system), Maps, Sets, functions, bigints, buffers, and collections of thousands of entries. The copy is
 * always JSON-safe and small: deep levels, long collections and long strings are cut, and says where.
 */
export interface PlainJsonLimits {
  /** Levels below the top. Default 6. */
  readonly depth?: number;
  /** Entries kept per object, array, Map or Set. Default 50. */
  readonly entries?: number;
  /** Characters kept per string. Default 300. */
  readonly chars?: number;
  /** Entries kept in all (the whole copy). Default 2000. */
  readonly total?: number;
}

const TRUNCATED = '…';

export function plainJson(value: unknown, limits: PlainJsonLimits = {}): unknown {
  const maxDepth = limits.depth ?? 6;
  const maxEntries = limits.entries ?? 50;
  const maxChars = limits.chars ?? 300;
  let budget = limits.total ?? 2000;
  const seen = new WeakSet<object>();

  const copy = (v: unknown, depth: number): unknown => {
    budget--;
    if (v === null || typeof v === 'boolean') return v;
    if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
    if (typeof v === 'string') return v.length > maxChars ? `${v.slice(0, maxChars)}${TRUNCATED} (${v.length} chars)` : v;
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'undefined') return '(undefined)';
    if (typeof v === 'symbol') return v.toString();
    if (typeof v === 'function') return `(function ${v.name || 'anonymous'})`;
    const object = v as object;
    if (seen.has(object)) return '(circular)';
    if (isActorRef(object)) return `(actor ${object.id})`;
    if (object instanceof Date) return Number.isNaN(object.getTime()) ? '(invalid date)' : object.toISOString();
    if (ArrayBuffer.isView(object)) return `(${object.constructor.name} of ${object.byteLength} bytes)`;
    if (object instanceof Error) return `(${object.name}: ${object.message})`;
    if (depth >= maxDepth || budget <= 0) return summary(object);
    seen.add(object);
    try {
      if (Array.isArray(object) || object instanceof Set) return list([...(object as Iterable<unknown>)], depth);
      if (object instanceof Map) return entries([...object.entries()].map(([k, item]) => [typeof k === 'string' ? k : String(k), item]), object.size, depth);
      const own = Object.entries(object);
      return entries(own, own.length, depth);
    } finally {
      seen.delete(object);
    }
  };

  const list = (items: unknown[], depth: number): unknown[] => {
    const kept: unknown[] = [];
    for (const item of items) {
      if (kept.length >= maxEntries || budget <= 0) {
        kept.push(`${TRUNCATED} ${items.length - kept.length} more`);
        break;
      }
      kept.push(copy(item, depth + 1));
    }
    return kept;
  };

  const entries = (pairs: readonly (readonly [string, unknown])[], size: number, depth: number): Record<string, unknown> => {
    const kept: Record<string, unknown> = {};
    let n = 0;
    for (const [key, item] of pairs) {
      if (n >= maxEntries || budget <= 0) {
        kept[TRUNCATED] = `${size - n} more`;
        break;
      }
      kept[key] = copy(item, depth + 1);
      n++;
    }
    return kept;
  };

  return copy(value, 0);
}

function isActorRef(object: object): object is { id: string } {
  const o = object as { sessionId?: unknown; send?: unknown; getSnapshot?: unknown; id?: unknown };
  return typeof o.sessionId === 'string' && typeof o.send === 'function' && typeof o.getSnapshot === 'function';
}

function summary(object: object): string {
  if (Array.isArray(object)) return `(array of ${object.length})`;
  if (object instanceof Map || object instanceof Set) return `(${object.constructor.name} of ${object.size})`;
  return `(${object.constructor?.name ?? 'object'} of ${Object.keys(object).length} keys)`;
}
