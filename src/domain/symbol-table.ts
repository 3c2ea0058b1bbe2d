/**
 * Finds a symbol's index from its bytes inside a frame without decoding them to a string: an FNV-1a hash over the
 * bytes, open addressing, and a byte comparison to confirm. The hot path meets each symbol thousands of times a
 * second; a string per frame would be the only allocation left on it.
 */
import { KlaggError } from './errors.ts';
export class SymbolTable {
  #slots = new Int32Array(1024).fill(-1);
  #mask = 1023;
  #names: Uint8Array[] = [];

  get size(): number {
    return this.#names.length;
  }

  /** The index stored for `name`, or -1. */
  get(name: string): number {
    const bytes = Buffer.from(name, 'latin1');
    return this.find(bytes, 0, bytes.length);
  }

  /** Stores `name` → `index` (indexes are the caller's, e.g. the engine's symbol index). */
  set(name: string, index: number): void {
    const bytes = Buffer.from(name, 'latin1');
    if (this.find(bytes, 0, bytes.length) >= 0) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `symbol ${name} is already in the table` });
    if ((this.#names.length + 1) * 2 > this.#slots.length) this.#grow();
    this.#names[index] = bytes;
    this.#insert(hashBytes(bytes, 0, bytes.length), index);
  }

  /** The index of the symbol whose bytes are `frame[start, end)`, or -1. */
  find(frame: Uint8Array, start: number, end: number): number {
    let slot = hashBytes(frame, start, end) & this.#mask;
    for (;;) {
      const index = this.#slots[slot]!;
      if (index < 0) return -1;
      const name = this.#names[index]!;
      if (name.length === end - start && sameBytes(name, frame, start)) return index;
      slot = (slot + 1) & this.#mask;
    }
  }

  #insert(hash: number, index: number): void {
    let slot = hash & this.#mask;
    while (this.#slots[slot]! >= 0) slot = (slot + 1) & this.#mask;
    this.#slots[slot] = index;
  }

  #grow(): void {
    this.#slots = new Int32Array(this.#slots.length * 2).fill(-1);
    this.#mask = this.#slots.length - 1;
    this.#names.forEach((name, index) => {
      if (name !== undefined) this.#insert(hashBytes(name, 0, name.length), index);
    });
  }
}

function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash >>> 0;
}

function sameBytes(name: Uint8Array, frame: Uint8Array, start: number): boolean {
  for (let i = 0; i < name.length; i++) if (name[i] !== frame[start + i]) return false;
  return true;
}
