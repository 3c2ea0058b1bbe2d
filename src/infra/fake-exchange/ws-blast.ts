/**
 * The fake exchange's blast delivery (`klagg fake-exchange --replay F --blast`): a load generator that outruns its
 * client. The whole recording is published at startup (REST, klines and exchangeInfo show all of it) and every trade
 * is made into its complete WebSocket frame once (blast-frames.ts). When the connections that have not had a blast
 * yet together subscribe to every recorded symbol's `@aggTrade` stream, a round starts: each of those connections
 * gets the frames of the symbols it subscribes, in recording order, concatenated into large chunks written straight
 * onto its TCP socket, waiting for 'drain' whenever a write says the socket is over its high-water mark. Per trade that is a
 * memory copy; no JSON, no `ws.send`. A connection is blasted at most once; later connections that cover every
 * symbol again make the next round (so one generator serves several runs of a benchmark).
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

export class Blaster {
  readonly stats: BlastStats;
  readonly #frames: BlastFrames;
  #bare: BlastFrames | undefined;
  readonly #host: BlastHost;
  readonly #chunkBytes: number;
  readonly #onEvent: (event: BlastEvent) => void;
  readonly #streamIndex: Map<string, number>;
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
    this.stats = { trades: frames.count, roundsStarted: 0, roundsEnded: 0, framesSent: 0, bytesSent: 0 };
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
    for (const plan of plans) this.#blasted.add(plan.connection);
    void this.#round(plans);
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
    const cpu = process.cpuUsage();
    const at = performance.timeOrigin + performance.now();
    this.#onEvent({ event: 'blastStart', round, at, connections: plans.length, trades: this.#frames.count, frames, bytes });
    const outcomes = await Promise.all(plans.map((plan) => this.#blast(plan, tally)));
    const end = performance.timeOrigin + performance.now();
    const used = process.cpuUsage(cpu);
    this.stats.roundsEnded++;
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
  }

  /** Writes one connection's frames; true when all of them were handed to the kernel. */
  async #blast(plan: Plan, tally: { frames: number; bytes: number }): Promise<boolean> {
    const { connection } = plan;
    const socket = rawSocketOf(connection.ws);
    let unflushed = 0;
    let flushed: (() => void) | undefined;
    const onWritten = (): void => {
      if (--unflushed === 0) flushed?.();
    };
    const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    for (const chunk of blastChunks(plan.frames, plan.wanted, this.#chunkBytes)) {
      if (this.#closed || !receives(connection)) return false;
      unflushed++;
      const more = socket.write(chunk.bytes, onWritten);
      tally.frames += chunk.frames;
      tally.bytes += chunk.bytes.length;
      this.stats.framesSent += chunk.frames;
      this.stats.bytesSent += chunk.bytes.length;
      // Over the socket's high-water mark: on when it has handed everything to the kernel (whose buffer keeps the
      // connection busy meanwhile).
      if (!more) await Promise.race([new Promise<void>((resolve) => socket.once('drain', resolve)), gone]);
    }
    if (unflushed > 0) await Promise.race([new Promise<void>((resolve) => (flushed = resolve)), gone]);
    return unflushed === 0;
  }
}

/** Open, not being closed, not a stalled legacy route: takes frames. */
function receives(connection: FakeConnection): boolean {
  return !connection.closing && connection.ws.readyState === WebSocket.OPEN;
}

function plannedBytes(plan: Plan): number {
  const { frames, wanted } = plan;
  let bytes = 0;
  for (let i = 0; i < frames.count; i++) if (wanted[frames.symbolOf[i]!] === 1) bytes += frames.starts[i + 1]! - frames.starts[i]!;
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

export interface BlastChunk {
  readonly bytes: Buffer;
  readonly frames: number;
}

/**
 * The frames of the `wanted` symbols (by symbol index) in order, as chunks of at most `chunkBytes` (a larger frame
 * alone) that end on frame boundaries. A chunk that is one run of consecutive frames is a view of `frames.bytes`, not
 * a copy.
 */
export function* blastChunks(frames: BlastFrames, wanted: Uint8Array, chunkBytes: number): Generator<BlastChunk> {
  const { bytes, starts, symbolOf, count } = frames;
  let runs: number[] = [];
  let size = 0;
  let framesIn = 0;
  const take = (): BlastChunk => {
    let chunk: Buffer;
    if (runs.length === 2) chunk = bytes.subarray(runs[0]!, runs[1]!);
    else {
      chunk = Buffer.allocUnsafeSlow(size);
      let at = 0;
      for (let r = 0; r < runs.length; r += 2) at += bytes.copy(chunk, at, runs[r]!, runs[r + 1]!);
    }
    const out = { bytes: chunk, frames: framesIn };
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
      runs.push(from, starts[j]!);
      size += starts[j]! - from;
      framesIn += j - i;
      i = j;
    }
    // Stopped on a wanted frame: it does not fit.
    if (i < count && wanted[symbolOf[i]!] === 1) yield take();
  }
  if (size > 0) yield take();
}
