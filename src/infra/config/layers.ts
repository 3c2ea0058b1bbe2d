/**
 * The configuration as it is merged from its sources, before validation, remembering where each value came from so an
 * error can name the file, variable or flag that gave a bad value.
 */
import type { ConfigSource } from './config-error.ts';

export interface Origin {
  readonly source: Exclude<ConfigSource, 'default'>;
  readonly from: string;
}

export type PlainObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is PlainObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const originKey = (path: readonly (string | number)[]): string => path.map(String).join('\u0001');

/** The merged raw settings, and for each value set which source set it. */
export class Layers {
  readonly raw: PlainObject = {};
  readonly #origins = new Map<string, Origin>();

  /** Sets one value (a leaf: anything but a plain object) at `path`. */
  set(path: readonly string[], value: unknown, origin: Origin): void {
    let target = this.raw;
    for (let i = 0; i < path.length - 1; i += 1) target = this.#child(target, path.slice(0, i + 1));
    const key = path[path.length - 1];
    if (key === undefined) return;
    this.#forgetBelow(path);
    target[key] = Array.isArray(value) ? [...(value as unknown[])] : value;
    this.#origins.set(originKey(path), origin);
  }

  /** Deep-merges a plain object: objects merge key by key, everything else (arrays included) replaces. */
  merge(value: PlainObject, originOf: (path: readonly string[]) => Origin, path: readonly string[] = []): void {
    for (const [key, child] of Object.entries(value)) {
      if (child === undefined) continue;
      const childPath = [...path, key];
      if (isPlainObject(child)) {
        this.#walkTo(childPath);
        this.merge(child, originOf, childPath);
      } else {
        this.set(childPath, child, originOf(childPath));
      }
    }
  }

  /** Where the value at `path` (or the nearest enclosing value set as a whole, such as a list) came from. */
  originOf(path: readonly (string | number)[]): Origin | undefined {
    for (let length = path.length; length > 0; length -= 1) {
      const origin = this.#origins.get(originKey(path.slice(0, length)));
      if (origin !== undefined) return origin;
    }
    return undefined;
  }

  #walkTo(path: readonly string[]): PlainObject {
    let target = this.raw;
    for (let i = 0; i < path.length; i += 1) target = this.#child(target, path.slice(0, i + 1));
    return target;
  }

  /** The object at `path` (whose parent is `parent`), replacing a non-object value set there earlier. */
  #child(parent: PlainObject, path: readonly string[]): PlainObject {
    const key = path[path.length - 1] as string;
    const existing = parent[key];
    if (isPlainObject(existing)) return existing;
    const created: PlainObject = {};
    parent[key] = created;
    this.#origins.delete(originKey(path));
    return created;
  }

  #forgetBelow(path: readonly string[]): void {
    const prefix = originKey(path) + '\u0001';
    for (const key of [...this.#origins.keys()]) if (key.startsWith(prefix)) this.#origins.delete(key);
  }
}
