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
    const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(header + length);
    frame[0] = 0x81;
    if (length < 126) frame[1] = length;
    else if (length < 65_536) {
      frame[1] = 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 127;
      frame.writeBigUInt64BE(BigInt(length), 2);
    }
    frame.write(text, header, 'utf8');
    this.frame = frame;
    this.payload = frame.subarray(header);
  }
}

/** A payload in the combined form (`/stream` routes, or SET_PROPERTY combined true). */
export function combinedFrame(stream: string, raw: string): string {
  return `{"stream":"${stream}","data":${raw}}`;
}
