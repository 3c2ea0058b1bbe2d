/**
 * The stream frames of symbols held for a repair or a catch-up, kept in arrival order until it ends and replayed then,
 * within one byte budget over all held symbols of a worker. Past the budget a frame is not kept: once the repair ends,
 * the ids of the frames after it show its trades as a gap, repaired like any other (or, when no frame follows, the
 * trailing-gap checks catch the symbol up), so nothing is lost. Without a budget, frames piled up for as long as REST
 * was short: the soak's service grew from 2.7 to 6.1 GB while its weight budget was spent, and a long 418 ban would
 * grow it without bound.
 */

/** Bytes of held frames a worker keeps at most (about a million aggTrade frames). */
export const DEFAULT_MAX_HELD_BYTES = 256 * 1024 * 1024;

export class HeldFrames {
  readonly #frames = new Map<number, Buffer[]>();
  readonly #maxBytes: number;
  #bytes = 0;
  /** Frames not kept because the budget was spent (their trades are fetched again after the repair). */
  dropped = 0;

  constructor(maxBytes = DEFAULT_MAX_HELD_BYTES) {
    if (!(maxBytes >= 0)) throw new RangeError(`maxBytes must be ≥ 0, got ${maxBytes}`);
    this.#maxBytes = maxBytes;
  }

  /** Symbols held. */
  get size(): number {
    return this.#frames.size;
  }

  /** Bytes of the frames kept now. */
  get bytes(): number {
    return this.#bytes;
  }

  has(symbol: number): boolean {
    return this.#frames.has(symbol);
  }

  /** Frames kept for the held symbol; undefined when it is not held. */
  waitingCount(symbol: number): number | undefined {
    return this.#frames.get(symbol)?.length;
  }

  /**
   * Starts holding a symbol that is not held, with `frames` (already copied; kept whatever the budget: the frames
   * that began the repair).
   */
  hold(symbol: number, frames: Buffer[]): void {
    this.#frames.set(symbol, frames);
    this.#bytes += sizeOf(frames);
  }

  /** Keeps a copy of a frame of the held symbol, unless the budget is spent (then it is counted as dropped). */
  add(symbol: number, frame: Uint8Array): void {
    const frames = this.#frames.get(symbol);
    if (frames === undefined) throw new RangeError(`symbol ${symbol} is not held`);
    if (this.#bytes + frame.length > this.#maxBytes) {
      this.dropped++;
      return;
    }
    frames.push(Buffer.from(frame));
    this.#bytes += frame.length;
  }

  /** Ends holding the symbol; its kept frames, in arrival order. */
  release(symbol: number): Buffer[] {
    const frames = this.#frames.get(symbol) ?? [];
    this.#frames.delete(symbol);
    this.#bytes -= sizeOf(frames);
    return frames;
  }
}

function sizeOf(frames: readonly Buffer[]): number {
  let bytes = 0;
  for (const frame of frames) bytes += frame.length;
  return bytes;
}
