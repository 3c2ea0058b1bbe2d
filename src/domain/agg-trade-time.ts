/**
 * The trade time `T` of a combined-stream aggTrade frame (`{"stream":"btcusdt@aggTrade","data":{…,"T":123,…}}`),
 * read from the bytes for every frame the streams deliver — no JSON.parse, no allocation.
 *
 * Only frames of an `@aggTrade` stream count: kline frames carry a `"T"` too (the kline's close time) and ticker
 * arrays none. The stream name is checked first (a scan to its `@`, ~10 bytes), then `"T":` is searched
 * backwards from the frame's end, where Binance puts it (only `"m"` and sometimes `"M"`/`"nq"` follow), stopping at
 * the stream name. A `"T":` with unescaped quotes can only be a key (a string holding `"T":` would have to escape
 * its quotes), and an aggTrade event has one `T` key. Frames are not validated beyond that: the parser downstream
 * judges them.
 */

const QUOTE = 0x22;
const COLON = 0x3a;
const AT = 0x40;
const UPPER_T = 0x54;
const ZERO = 0x30;
/** Digits of a millisecond time that stay exact in a double. */
const MAX_DIGITS = 15;

/**
 * `T` (ms) of an aggTrade frame of a combined stream, or -1 when the frame is not one or has no usable `T`.
 * (The byte comparisons are written out: a loop over constant arrays measured about half again slower.)
 */
export function aggTradeTime(frame: Uint8Array): number {
  const length = frame.length;
  // {"stream":"
  if (
    length < 40 ||
    frame[0] !== 0x7b ||
    frame[1] !== QUOTE ||
    frame[2] !== 0x73 ||
    frame[3] !== 0x74 ||
    frame[4] !== 0x72 ||
    frame[5] !== 0x65 ||
    frame[6] !== 0x61 ||
    frame[7] !== 0x6d ||
    frame[8] !== QUOTE ||
    frame[9] !== COLON ||
    frame[10] !== QUOTE
  ) {
    return -1;
  }
  // The name's `@` (names hold no quotes or escapes), then aggTrade"
  let at = 11;
  let c = frame[at];
  while (c !== AT && c !== QUOTE && at < length) c = frame[++at];
  if (c !== AT || at + 10 > length) return -1;
  if (
    frame[at + 1] !== 0x61 ||
    frame[at + 2] !== 0x67 ||
    frame[at + 3] !== 0x67 ||
    frame[at + 4] !== UPPER_T ||
    frame[at + 5] !== 0x72 ||
    frame[at + 6] !== 0x61 ||
    frame[at + 7] !== 0x64 ||
    frame[at + 8] !== 0x65 ||
    frame[at + 9] !== QUOTE
  ) {
    return -1;
  }
  // `"T":` from the end, the quote before `T` after the stream name's closing quote.
  const nameEnd = at + 9;
  for (let i = length - 4; i > nameEnd + 1; i--) {
    if (frame[i] !== UPPER_T || frame[i - 1] !== QUOTE || frame[i + 1] !== QUOTE || frame[i + 2] !== COLON) continue;
    const start = i + 3;
    const end = Math.min(length, start + MAX_DIGITS + 1);
    let p = start;
    let value = 0;
    for (; p < end; p++) {
      const digit = frame[p]! - ZERO;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
    }
    const digits = p - start;
    return digits === 0 || digits > MAX_DIGITS ? -1 : value;
  }
  return -1;
}
