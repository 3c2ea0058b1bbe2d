/** Stream messages as the Binance WebSocket base sends them: built once, written to every subscriber. */

/**
 * A text message built once as a whole WebSocket frame (RFC 6455 §5.2: FIN, text opcode, unmasked as a server sends
 * it, the length, the UTF-8 payload) and written as is to any number of connections: per connection, only the socket
 * write is left (see `BinanceWsServer.sendPrepared`).
 */
export class PreparedMessage {
  /** Header and payload. */
  readonly frame: Buffer;
  readonly payload: Buffer;
  constructor(text: string) {
    const length = Buffer.byteLength(text, 'utf8');
    const frame = Buffer.allocUnsafe(frameHeaderLength(length) + length);
    const header = writeTextFrameHeader(frame, 0, length);
    frame.write(text, header, 'utf8');
    this.frame = frame;
    this.payload = frame.subarray(header);
  }
}

/** A payload in the combined form (`/stream` routes, or SET_PROPERTY combined true). */
export function combinedFrame(stream: string, raw: string): string {
  return `{"stream":"${stream}","data":${raw}}`;
}

/*
 * A server→client frame is unmasked: 0x81 (FIN, text), then the payload length (7 bits; 126 + 16 bits; or 127 + 64
 * bits, big-endian), then the payload. Shared with the fake exchange's blast mode, which builds frames the same way.
 */

/** Length of the header of an unmasked frame with `length` payload bytes. */
export function frameHeaderLength(length: number): number {
  return length < 126 ? 2 : length < 65_536 ? 4 : 10;
}

/** Writes the header of an unmasked text frame of `length` payload bytes at `at`; returns its length. */
export function writeTextFrameHeader(target: Buffer, at: number, length: number): number {
  target[at] = 0x81;
  if (length < 126) {
    target[at + 1] = length;
    return 2;
  }
  if (length < 65_536) {
    target[at + 1] = 126;
    target.writeUInt16BE(length, at + 2);
    return 4;
  }
  target[at + 1] = 127;
  target.writeUInt32BE(Math.floor(length / 2 ** 32), at + 2);
  target.writeUInt32BE(length >>> 0, at + 6);
  return 10;
}
