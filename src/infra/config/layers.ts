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

/**
 * Objects of the merged settings have no prototype: a key such as `__proto__` in a config file is then an ordinary
 * (unknown, reported) key, never the prototype — assigning `{}.__proto__` would pollute or replace it.
 */
const emptyObject = (): PlainObject => Object.create(null) as PlainObject;

const originKey = (path: readonly (string | number)[]): string => path.map(String).join('\u0001');

/** The merged raw settings, and for each value set which source set it. */
export class Layers {
  readonly raw: PlainObject = emptyObject();
  readonly #origins = new Map<string, Origin>();
  /** Objects given as a whole (a section, or an unknown key holding an object): the first source that gave each. */
  readonly #objects = new Map<string, Origin>();

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
        if (!this.#objects.has(originKey(childPath))) this.#objects.set(originKey(childPath), originOf(childPath));
        this.#walkTo(childPath);
        this.merge(child, originOf, childPath);
      } else {
        this.set(childPath, child, originOf(childPath));
      }
    }
  }

  /**
   * Where the value at `path` came from: the value itself or the nearest enclosing value set as a whole (a list); for
   * an object, a value inside it (an object of unknown keys, `{"intervals": {"length": 2}}`, is blamed on the source
   * that gave them), else the source that gave the object itself, even empty.
   */
  originOf(path: readonly (string | number)[]): Origin | undefined {
    for (let length = path.length; length > 0; length -= 1) {
      const origin = this.#origins.get(originKey(path.slice(0, length)));
      if (origin !== undefined) return origin;
    }
    const prefix = originKey(path) + '\u0001';
    for (const [key, origin] of this.#origins) if (key.startsWith(prefix)) return origin;
    // Only the object itself: a setting left at its default inside a given section is still a default.
    return this.#objects.get(originKey(path));
  }

  #walkTo(path: readonly string[]): PlainObject {
    let target = this.raw;
    for (let i = 0; i < path.length; i += 1) target = this.#child(target, path.slice(0, i + 1));
    return target;
  }

  /** The object at `path` (whose parent is `parent`), replacing a non-object value set there earlier. */
  #child(parent: PlainObject, path: readonly string[]): PlainObject {
    const key = path[path.length - 1] as string;
    const existing = Object.hasOwn(parent, key) ? parent[key] : undefined;
    if (isPlainObject(existing)) return existing;
    const created = emptyObject();
    parent[key] = created;
    this.#origins.delete(originKey(path));
    return created;
  }

  #forgetBelow(path: readonly string[]): void {
    const prefix = originKey(path) + '\u0001';
    for (const key of [...this.#origins.keys()]) if (key.startsWith(prefix)) this.#origins.delete(key);
  }
}
