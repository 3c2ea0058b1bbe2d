/** A connection's share of the blast, cut into frame-aligned chunks (see ws-blast.ts). */
import type { BlastFrames } from './blast-frames.ts';

export interface BlastChunk {
  readonly bytes: Buffer;
  /** The buffer `bytes` was copied into (from `allocate`), free again once written; undefined for a view of the frames. */
  readonly buffer: Buffer | undefined;
  readonly frames: number;
  /** The frames in it: index ranges [from, to) of `BlastFrames`, in pairs. */
  readonly runs: readonly number[];
}

/**
 * The frames of the `wanted` symbols (by symbol index) in order, as chunks of at most `chunkBytes` (a larger frame
 * alone) that end on frame boundaries. A chunk that is one run of consecutive frames is a view of `frames.bytes`;
 * the others are copied into a buffer of `chunkBytes` from `allocate` (a pool: fresh buffers for every chunk of a
 * blast of hundreds of megabytes make the garbage collector walk the whole heap again and again).
 */
export function* blastChunks(frames: BlastFrames, wanted: Uint8Array, chunkBytes: number, allocate: () => Buffer = () => Buffer.allocUnsafeSlow(chunkBytes)): Generator<BlastChunk> {
  const { bytes, starts, symbolOf, count } = frames;
  /** Frame index ranges [from, to) in pairs. */
  let runs: number[] = [];
  let size = 0;
  let framesIn = 0;
  const take = (): BlastChunk => {
    let chunk: Buffer;
    let buffer: Buffer | undefined;
    if (runs.length === 2) chunk = bytes.subarray(starts[runs[0]!]!, starts[runs[1]!]!);
    else {
      buffer = allocate();
      let at = 0;
      for (let r = 0; r < runs.length; r += 2) at += bytes.copy(buffer, at, starts[runs[r]!]!, starts[runs[r + 1]!]!);
      chunk = buffer.subarray(0, at);
    }
    const out = { bytes: chunk, buffer, frames: framesIn, runs };
    runs = [];
    size = 0;
    framesIn = 0;
    return out;
  };
  let i = 0;
  while (i < count) {
    if (wanted[symbolOf[i]!] !== 1) {
      i++;
      continue;
    }
    const from = starts[i]!;
    let j = i;
    // Consecutive wanted frames while they fit; a chunk always takes its first frame.
    while (j < count && wanted[symbolOf[j]!] === 1 && (size + starts[j + 1]! - from <= chunkBytes || (size === 0 && j === i))) j++;
    if (j > i) {
      runs.push(i, j);
      size += starts[j]! - from;
      framesIn += j - i;
      i = j;
    }
    // Stopped on a wanted frame: it does not fit.
    if (i < count && wanted[symbolOf[i]!] === 1) yield take();
  }
  if (size > 0) yield take();
}
