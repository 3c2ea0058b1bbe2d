/**
 * Reads a recording line by line as Buffers (one frame per line), without decoding to strings: the frames go to the
 * byte-level parser exactly as a socket would hand them over. A line is either the frame alone, or — as `klagg record`
 * writes it — the receive time in ms, a tab, and the frame (`frameOf` strips the prefix).
 */
import { createReadStream } from 'node:fs';

/** Yields the frame of every non-blank line (without its line terminator and any receive-time prefix). */
export async function* readLines(path: string): AsyncGenerator<Buffer> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let newline = data.indexOf(0x0a, start); newline >= 0; newline = data.indexOf(0x0a, start)) {
      const line = trimLine(data, start, newline);
      if (line.length > 0) yield frameOf(line);
      start = newline + 1;
    }
    rest = data.subarray(start);
  }
  const last = trimLine(rest, 0, rest.length);
  if (last.length > 0) yield frameOf(last);
}

function trimLine(data: Buffer, start: number, end: number): Buffer {
  if (end > start && data[end - 1] === 0x0d) end--;
  let blank = true;
  for (let i = start; i < end; i++) {
    const c = data[i];
    if (c !== 0x20 && c !== 0x09) {
      blank = false;
      break;
    }
  }
  return blank ? data.subarray(start, start) : data.subarray(start, end);
}

/** The frame of a recording line (after an optional `<receiveTimeMs>\t` prefix). */
export function frameOf(line: Buffer): Buffer {
  const first = line[0];
  if (first === undefined || first < 0x30 || first > 0x39) return line;
  const tab = line.indexOf(0x09);
  return tab < 0 ? line : line.subarray(tab + 1);
}

/** The receive time of a recording line, or undefined for a bare frame. */
export function receiveTimeOf(line: Buffer): number | undefined {
  const first = line[0];
  if (first === undefined || first < 0x30 || first > 0x39) return undefined;
  const tab = line.indexOf(0x09);
  return tab < 0 ? undefined : Number(line.subarray(0, tab).toString('latin1'));
}
