/**
 * The fake exchange's blast delivery (`klagg fake-exchange --replay F --blast`): a load generator that outruns its
 * client. The whole recording is published into the market at startup and every trade is made into its complete
 * WebSocket frame once (blast-frames.ts). When the connections that have not had a blast yet together subscribe to
 * every recorded symbol's `@aggTrade` stream, a round starts: each of those connections gets the frames of the
 * symbols it subscribes, in recording order, concatenated into large chunks written straight onto its TCP socket,
 * waiting for 'drain' whenever a write says the socket is over its high-water mark. Per trade that is a memory copy;
 * no JSON, no `ws.send`. A connection is blasted at most once; later connections that cover every symbol again make
 * the next round (so one generator serves several runs of a benchmark).
 *
 * What REST shows follows the stream, as in the normal mode (where a trade is published and sent at once): of each
 * symbol, `/fapi/v1/aggTrades` has the trades written to some connection so far — none before the first round, so a
 * client's catch-up at activation finds nothing, and a gap's repair finds exactly what was sent — and
 * `/fapi/v1/klines` stops at the period of the last of them. When a round has ended and all of its connections have
 * gone, the exchange rewinds: REST shows none of the recording again, ready for the next round's client.
 *
 * Framing stays intact with `ws` writing on the same socket: chunks end on frame boundaries (a frame is never split
 * between two writes; TCP still splits them as it likes), and everything `ws` sends (SUBSCRIBE replies, pings, pongs,
 * close frames) is written by it synchronously, as whole frames, onto the same socket's write queue — so its frames
 * land between two of ours, in order. `ws` has no public accessor for the socket: it keeps it as `_socket` (the
 * socket of the upgrade request it was handed), which is what this writes to.
 */
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { KlaggError } from '../../domain/errors.ts';
import { bareFrames, type BlastFrames } from './blast-frames.ts';
import { blastChunks } from './blast-chunks.ts';

export { blastChunks, type BlastChunk } from './blast-chunks.ts';
import type { FakeConnection } from './ws-delivery.ts';

export interface BlastOptions {
  /** Bytes per write at most (a single frame larger than this goes alone); default 256 KiB. */
  readonly chunkBytes?: number;
  /** Round started / ended (the CLI prints them as JSON lines). */
  readonly onEvent?: (event: BlastEvent) => void;
}

export interface BlastStart {
  readonly event: 'blastStart';
  readonly round: number;
  /** `performance.timeOrigin + performance.now()` right before the first byte is written (ms since the epoch). */
  readonly at: number;
  readonly connections: number;
  /** Trades of the recording, and frames / bytes the round will write (a symbol subscribed twice counts twice). */
  readonly trades: number;
  readonly frames: number;
  readonly bytes: number;
}

export interface BlastEnd {
  readonly event: 'blastEnd';
  readonly round: number;
  /** When every byte had been handed to the kernel (or the last connection had closed). */
  readonly at: number;
  readonly seconds: number;
  readonly connections: number;
  readonly trades: number;
  /** Frames and bytes written. */
  readonly frames: number;
  readonly bytes: number;
  /** Every connection took all of its frames (none closed first). */
  readonly complete: boolean;
  /** This process's CPU during the round (all threads), ms. */
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
}

export type BlastEvent = BlastStart | BlastEnd;

export interface BlastStats {
  /** Trades of the recording (each round sends every one). */
  trades: number;
  roundsStarted: number;
  roundsEnded: number;
  /** Times REST went back to showing nothing (a round over and its connections gone). */
  rewinds: number;
  framesSent: number;
  bytesSent: number;
}

export interface BlastHost {
  /** The open connections. */
  connections(): Iterable<FakeConnection>;
}

interface Plan {
  readonly connection: FakeConnection;
  readonly wanted: Uint8Array;
  readonly frames: BlastFrames;
}

export const DEFAULT_BLAST_CHUNK_BYTES = 256 * 1024;
/** Copy buffers per connection (of `chunkBytes` each). */
const POOL_BUFFERS = 4;

export class Blaster {
  readonly stats: BlastStats;
  readonly #frames: BlastFrames;
  #bare: BlastFrames | undefined;
  readonly #host: BlastHost;
  readonly #chunkBytes: number;
  readonly #onEvent: (event: BlastEvent) => void;
  readonly #streamIndex: Map<string, number>;
  readonly #symbolIndex: Map<string, number>;
  /** Per symbol index: how many of its trades some connection has been sent (what REST shows). */
  readonly #shown: Uint32Array;
  /** The last round's connections still open, and whether it is still writing. */
  readonly #roundConnections = new Set<FakeConnection>();
  #writing = false;
  /** Connections that have had (or are having) a blast. */
  readonly #blasted = new WeakSet<FakeConnection>();
  /** Symbols subscribed by connections not blasted yet (a hint: checked against the connections before a round). */
  #seen = new Set<number>();
  #pending: NodeJS.Immediate | undefined;
  #rounds = 0;
  #closed = false;

  constructor(frames: BlastFrames, host: BlastHost, options: BlastOptions = {}) {
    this.#frames = frames;
    this.#host = host;
    this.#chunkBytes = options.chunkBytes ?? DEFAULT_BLAST_CHUNK_BYTES;
    if (!(this.#chunkBytes >= 1)) throw new RangeError(`chunkBytes must be ≥ 1, got ${this.#chunkBytes}`);
    this.#onEvent = options.onEvent ?? (() => {});
    this.#streamIndex = new Map(frames.streams.map((stream, i) => [stream, i]));
    this.#symbolIndex = new Map(frames.symbols.map((symbol, i) => [symbol, i]));
    this.#shown = new Uint32Array(frames.symbols.length);
    this.stats = { trades: frames.count, roundsStarted: 0, roundsEnded: 0, rewinds: 0, framesSent: 0, bytesSent: 0 };
  }

  /** How many of the symbol's trades REST shows: those sent to some connection (see the file's comment). */
  shownCount(symbol: string): number {
    const index = this.#symbolIndex.get(symbol);
    return index === undefined ? 0 : this.#shown[index]!;
  }

  /** A connection is closing or gone. */
  forget(connection: FakeConnection): void {
    if (this.#roundConnections.delete(connection)) this.#rewindWhenDone();
  }

  /** The recorded symbols (in order of their first trade). */
  get symbols(): readonly string[] {
    return this.#frames.symbols;
  }

  /** A connection subscribed a stream: a round starts (on the next turn) once fresh connections cover every symbol. */
  onSubscribe(connection: FakeConnection, stream: string): void {
    if (this.#closed || connection.data.silent || this.#blasted.has(connection)) return;
    const index = this.#streamIndex.get(stream);
    if (index === undefined) return;
    this.#seen.add(index);
    // On the next turn: the SUBSCRIBE reply is written first, and the other streams of the same request are in.
    if (this.#seen.size === this.#frames.symbols.length) this.#pending ??= setImmediate(() => this.#tryRound());
  }

  /** Stops every running round (the connections are being closed anyway). */
  close(): void {
    this.#closed = true;
    if (this.#pending !== undefined) clearImmediate(this.#pending);
    this.#pending = undefined;
  }

  #tryRound(): void {
    this.#pending = undefined;
    if (this.#closed) return;
    const symbols = this.#frames.symbols.length;
    const covered = new Uint8Array(symbols);
    let coveredCount = 0;
    const plans: Plan[] = [];
    for (const connection of this.#host.connections()) {
      if (connection.data.silent || this.#blasted.has(connection) || !receives(connection)) continue;
      const wanted = new Uint8Array(symbols);
      let any = false;
      for (const stream of connection.streams) {
        const index = this.#streamIndex.get(stream);
        if (index === undefined) continue;
        wanted[index] = 1;
        any = true;
        if (covered[index] === 0) {
          covered[index] = 1;
          coveredCount++;
        }
      }
      if (any) plans.push({ connection, wanted, frames: connection.combined ? this.#frames : (this.#bare ??= bareFrames(this.#frames)) });
    }
    if (coveredCount < symbols) {
      // Unsubscribed or closed meanwhile: wait for the subscriptions still missing.
      this.#seen = new Set();
      for (let i = 0; i < symbols; i++) if (covered[i] === 1) this.#seen.add(i);
      return;
    }
    this.#seen = new Set();
    this.#roundConnections.clear();
    for (const plan of plans) {
      this.#blasted.add(plan.connection);
      this.#roundConnections.add(plan.connection);
    }
    void this.#round(plans);
  }

  /** A round over and its connections gone: REST shows nothing again (the next round's client starts afresh). */
  #rewindWhenDone(): void {
    if (this.#writing || this.#roundConnections.size > 0 || this.stats.roundsEnded === 0) return;
    if (this.#shown.every((count) => count === 0)) return;
    this.#shown.fill(0);
    this.stats.rewinds++;
  }

  async #round(plans: readonly Plan[]): Promise<void> {
    const round = ++this.#rounds;
    let frames = 0;
    let bytes = 0;
    for (const plan of plans) {
      for (let i = 0; i < plan.wanted.length; i++) if (plan.wanted[i] === 1) frames += plan.frames.perSymbol[i]!;
      bytes += plannedBytes(plan);
    }
    const tally = { frames: 0, bytes: 0 };
    this.stats.roundsStarted++;
    this.#writing = true;
    const cpu = process.cpuUsage();
    const at = performance.timeOrigin + performance.now();
    this.#onEvent({ event: 'blastStart', round, at, connections: plans.length, trades: this.#frames.count, frames, bytes });
    const outcomes = await Promise.all(plans.map((plan) => this.#blast(plan, tally)));
    const end = performance.timeOrigin + performance.now();
    const used = process.cpuUsage(cpu);
    this.stats.roundsEnded++;
    this.#writing = false;
    for (const plan of plans) if (!receives(plan.connection)) this.#roundConnections.delete(plan.connection);
    this.#onEvent({
      event: 'blastEnd',
      round,
      at: end,
      seconds: (end - at) / 1000,
      connections: plans.length,
      trades: this.#frames.count,
      frames: tally.frames,
      bytes: tally.bytes,
      complete: outcomes.every(Boolean),
      cpuUserMs: used.user / 1000,
      cpuSystemMs: used.system / 1000,
    });
    this.#rewindWhenDone();
  }

  /** The frames of a chunk written: REST shows their trades. */
  #show(frames: BlastFrames, runs: readonly number[]): void {
    const { symbolOf, ordinal } = frames;
    const shown = this.#shown;
    for (let r = 0; r < runs.length; r += 2) {
      for (let i = runs[r]!; i < runs[r + 1]!; i++) {
        const symbol = symbolOf[i]!;
        if (shown[symbol]! <= ordinal[i]!) shown[symbol] = ordinal[i]! + 1;
      }
    }
  }

  /** Writes one connection's frames; true when all of them were handed to the kernel. */
  async #blast(plan: Plan, tally: { frames: number; bytes: number }): Promise<boolean> {
    const socket = rawSocketOf(plan.connection.ws);
    // One wait at a time (for 'drain', a free buffer or the last write); the socket closing ends it too.
    let wake: (() => void) | undefined;
    const onClose = (): void => wake?.();
    socket.once('close', onClose);
    const wait = (arm: (resolve: () => void) => void): Promise<void> =>
      new Promise<void>((resolve) => {
        wake = resolve;
        arm(resolve);
      }).finally(() => (wake = undefined));
    try {
      return await this.#write(plan, socket, tally, wait);
    } finally {
      socket.off('close', onClose);
    }
  }

  async #write(plan: Plan, socket: Socket, tally: { frames: number; bytes: number }, wait: (arm: (resolve: () => void) => void) => Promise<void>): Promise<boolean> {
    const { connection } = plan;
    let unflushed = 0;
    let flushed: (() => void) | undefined;
    const onWritten = (): void => {
      if (--unflushed === 0) flushed?.();
    };
    // At most POOL_BUFFERS copy buffers, each back in the pool once written (a failed write's is dropped).
    const pool: Buffer[] = [];
    let allocated = 0;
    let freed: (() => void) | undefined;
    const chunkBytes = this.#chunkBytes;
    const allocate = (): Buffer => {
      const buffer = pool.pop();
      if (buffer !== undefined) return buffer;
      allocated++;
      return Buffer.allocUnsafeSlow(chunkBytes);
    };
    const chunks = blastChunks(plan.frames, plan.wanted, chunkBytes, allocate);
    for (;;) {
      // The next chunk may need a copy buffer: wait for one when all are being written.
      while (pool.length === 0 && allocated >= POOL_BUFFERS && unflushed > 0 && receives(connection)) {
        await wait((resolve) => (freed = resolve));
      }
      const next = chunks.next();
      if (next.done === true) break;
      const chunk = next.value;
      if (this.#closed || !receives(connection)) return false;
      unflushed++;
      const buffer = chunk.buffer;
      const more = socket.write(
        chunk.bytes,
        buffer === undefined
          ? onWritten
          : (error) => {
              if (error) allocated--;
              else pool.push(buffer);
              freed?.();
              freed = undefined;
              onWritten();
            },
      );
      this.#show(plan.frames, chunk.runs);
      tally.frames += chunk.frames;
      tally.bytes += chunk.bytes.length;
      this.stats.framesSent += chunk.frames;
      this.stats.bytesSent += chunk.bytes.length;
      // Over the socket's high-water mark: on when it has handed everything to the kernel (whose buffer keeps the
      // connection busy meanwhile).
      if (!more && receives(connection)) await wait((resolve) => socket.once('drain', resolve));
    }
    if (unflushed > 0 && receives(connection)) await wait((resolve) => (flushed = resolve));
    return unflushed === 0;
  }
}

/** Open and not being closed: takes frames. */
function receives(connection: FakeConnection): boolean {
  return !connection.closing && connection.ws.readyState === WebSocket.OPEN;
}

function plannedBytes(plan: Plan): number {
  let bytes = 0;
  for (let i = 0; i < plan.wanted.length; i++) if (plan.wanted[i] === 1) bytes += plan.frames.bytesPerSymbol[i]!;
  return bytes;
}

/** The TCP socket under a `ws` WebSocket (see the file's comment). */
export function rawSocketOf(ws: WebSocket): Socket {
  const socket = (ws as unknown as { _socket?: Socket | null })._socket;
  if (socket === null || socket === undefined || typeof socket.write !== 'function') {
    throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'the blast needs the socket under a ws WebSocket (ws._socket), and it is not there' });
  }
  return socket;
}
