/**
 * Reads a recording line by line as Buffers (one frame per line), without decoding to strings: the frames go to the
 * byte-level parser exactly as a socket would hand them over.
 */
import { createReadStream } from 'node:fs';

/** Yields every non-blank line of the file, without its line terminator. */
export async function* readLines(path: string): AsyncGenerator<Buffer> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let newline = data.indexOf(0x0a, start); newline >= 0; newline = data.indexOf(0x0a, start)) {
      const line = trimLine(data, start, newline);
      if (line.length > 0) yield line;
      start = newline + 1;
    }
    rest = data.subarray(start);
  }
  const last = trimLine(rest, 0, rest.length);
  if (last.length > 0) yield last;
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
