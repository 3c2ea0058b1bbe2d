/**
 * The blast mode's frames (see ws-blast.ts): every aggTrade of a recording as a complete server→client WebSocket
 * frame, built once at startup — the payload is made by the same code as the normal mode's (aggTradePayload,
 * combinedFrame), so the bytes a client receives are identical — and laid end to end in one buffer, in recording
 * order, with each frame's symbol beside it. Sending a connection its symbols' trades is then a matter of copying
 * byte ranges.
 * The frame headers are the Binance WebSocket base's own (prepared-message.ts).
 */
import { combinedFrame, frameHeaderLength, writeTextFrameHeader } from '../binance-ws/prepared-message.ts';

export { frameHeaderLength, writeTextFrameHeader };
import type { Market } from './market.ts';
import { aggTradePayload, aggTradeStreamOf } from './ws-market-feed.ts';

export interface BlastFrames {
  /** Every frame, end to end. */
  readonly bytes: Buffer;
  /** Frame i is `bytes[starts[i], starts[i + 1])`; `starts.length` is `count + 1`. */
  readonly starts: Float64Array;
  /** Frame i is a trade of `symbols[symbolOf[i]]`: its `ordinal[i]`-th (from 0). */
  readonly symbolOf: Uint32Array;
  readonly ordinal: Uint32Array;
  readonly count: number;
  /** Symbols in order of their first trade, and their aggTrade stream names (same indexes). */
  readonly symbols: readonly string[];
  readonly streams: readonly string[];
  /** Frames and bytes per symbol index. */
  readonly perSymbol: Uint32Array;
  readonly bytesPerSymbol: Float64Array;
  /** Payloads wrapped as `{"stream":…,"data":…}` (the `/market/stream` form) or bare (the `/market/ws` form). */
  readonly combined: boolean;
}

/** Appends frames to a growing buffer. */
class FrameBuilder {
  #bytes: Buffer;
  #length = 0;
  #starts: Float64Array;
  #symbolOf: Uint32Array;
  #count = 0;

  constructor(expectedFrames: number, expectedBytes: number) {
    expectedFrames = Math.min(expectedFrames, 1 << 26);
    this.#bytes = Buffer.allocUnsafe(Math.max(1024, expectedBytes));
    this.#starts = new Float64Array(Math.max(16, expectedFrames + 1));
    this.#symbolOf = new Uint32Array(Math.max(16, expectedFrames));
  }

  /** A frame whose payload is `text`. */
  addText(symbolIndex: number, text: string): void {
    const length = Buffer.byteLength(text);
    this.#reserve(frameHeaderLength(length) + length);
    const header = writeTextFrameHeader(this.#bytes, this.#length, length);
    this.#bytes.write(text, this.#length + header, length, 'utf8');
    this.#push(symbolIndex, header + length);
  }

  /** A frame whose payload is `source[from, to)`. */
  addBytes(symbolIndex: number, source: Buffer, from: number, to: number): void {
    const length = to - from;
    this.#reserve(frameHeaderLength(length) + length);
    const header = writeTextFrameHeader(this.#bytes, this.#length, length);
    source.copy(this.#bytes, this.#length + header, from, to);
    this.#push(symbolIndex, header + length);
  }

  finish(symbols: readonly string[], combined: boolean): BlastFrames {
    const count = this.#count;
    const starts = this.#starts.slice(0, count + 1);
    starts[count] = this.#length;
    const symbolOf = this.#symbolOf.slice(0, count);
    const perSymbol = new Uint32Array(symbols.length);
    const bytesPerSymbol = new Float64Array(symbols.length);
    const ordinal = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      ordinal[i] = perSymbol[symbolOf[i]!]!++;
      bytesPerSymbol[symbolOf[i]!]! += starts[i + 1]! - starts[i]!;
    }
    // Much spare capacity: copy the used part so the rest is released.
    let bytes = this.#bytes.subarray(0, this.#length);
    if (this.#length < this.#bytes.length * 0.8) {
      bytes = Buffer.allocUnsafeSlow(this.#length);
      this.#bytes.copy(bytes, 0, 0, this.#length);
    }
    this.#bytes = Buffer.alloc(0);
    return { bytes, starts, symbolOf, ordinal, count, symbols, streams: symbols.map(aggTradeStreamOf), perSymbol, bytesPerSymbol, combined };
  }

  #push(symbolIndex: number, size: number): void {
    if (this.#count + 1 >= this.#starts.length) {
      const starts = new Float64Array(this.#starts.length * 2);
      starts.set(this.#starts);
      this.#starts = starts;
      const symbolOf = new Uint32Array(this.#symbolOf.length * 2);
      symbolOf.set(this.#symbolOf);
      this.#symbolOf = symbolOf;
    }
    this.#starts[this.#count] = this.#length;
    this.#symbolOf[this.#count] = symbolIndex;
    this.#count++;
    this.#length += size;
  }

  #reserve(size: number): void {
    if (this.#length + size <= this.#bytes.length) return;
    const bytes = Buffer.allocUnsafeSlow(Math.max(this.#length + size, Math.ceil(this.#bytes.length * 1.5)));
    this.#bytes.copy(bytes, 0, 0, this.#length);
    this.#bytes = bytes;
  }
}

/**
 * Publishes everything the market has left (a recording) and makes the combined-stream frame of every trade, as the
 * normal mode would have sent it at that moment (same event time `E`). Call it before anything else listens to the
 * market's trades. `expectedBytes` sizes the buffer (it grows when short).
 */
export function publishAllAsFrames(market: Market, expectedBytes = 0): BlastFrames {
  const symbolIndex = new Map<string, number>();
  const symbols: string[] = [];
  const builder = new FrameBuilder(Math.ceil(expectedBytes / 150), expectedBytes);
  const stop = market.onTrade((trade, eventTime) => {
    let index = symbolIndex.get(trade.symbol);
    if (index === undefined) {
      index = symbols.length;
      symbolIndex.set(trade.symbol, index);
      symbols.push(trade.symbol);
    }
    builder.addText(index, combinedFrame(aggTradeStreamOf(trade.symbol), aggTradePayload(trade, eventTime)));
  });
  try {
    market.publishAll();
  } finally {
    stop();
  }
  return builder.finish(symbols, true);
}

/** The same frames with bare payloads (for connections on `/market/ws` routes): the combined wrapper cut off. */
export function bareFrames(combined: BlastFrames): BlastFrames {
  const builder = new FrameBuilder(combined.count, combined.bytes.length);
  // `{"stream":"<stream>","data":` … `}`
  const prefixes = combined.streams.map((stream) => Buffer.byteLength(`{"stream":"${stream}","data":`));
  for (let i = 0; i < combined.count; i++) {
    const start = combined.starts[i]!;
    const end = combined.starts[i + 1]!;
    const symbol = combined.symbolOf[i]!;
    const lengthByte = combined.bytes[start + 1]! & 0x7f;
    const header = lengthByte < 126 ? 2 : lengthByte === 126 ? 4 : 10;
    builder.addBytes(symbol, combined.bytes, start + header + prefixes[symbol]!, end - 1);
  }
  return builder.finish(combined.symbols, false);
}
