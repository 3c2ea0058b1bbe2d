/**
 * The socket of one stream connection, as the callback actor the connection machine invokes while `live`. Frames go
 * straight to `onFrame` (plain code, never an event). Outgoing SUBSCRIBE/UNSUBSCRIBE messages wait in an outbox and
 * leave at most `maxMessagesPerSecond` a second (Binance closes a connection past 10/s), each with up to
 * `paramsPerMessage` streams. No frame for `silenceMs` (pings count as life) reports SILENT.
 */
import WebSocket from 'ws';
import { fromCallback } from 'xstate';
import type { Clock } from '../clock.ts';
import type { SocketCommand, StreamConnectionEvent } from '../../domain/stream-connection-protocol.ts';

export type FrameHandler = (frame: Buffer, receivedAt: number) => void;

export interface ExchangeSocketInput {
  readonly url: string;
  /** Receive times (the exchange's time): what lag is measured in. */
  readonly clock: Clock;
  /** Real elapsed ms for silence detection (a replay's exchange clock may run at any speed); default the clock. */
  readonly elapsed?: () => number;
  readonly onFrame: FrameHandler;
  /** Replies to our requests (`{"result":…,"id":…}`, `{"error":…}`); they are not market data. */
  readonly onReply?: (reply: Buffer) => void;
  readonly maxMessagesPerSecond: number;
  readonly paramsPerMessage: number;
  readonly silenceMs: number;
  readonly connectTimeoutMs: number;
}


const GOING_AWAY = 1001;
/** After our close frame, the socket is cut if the exchange has not answered within this. */
const CLOSE_GRACE_MS = 1000;

/** `{"result"`, `{"error"` or `{"id"`: a reply to a request, not a market event. */
function isReply(frame: Buffer): boolean {
  if (frame.length < 6 || frame[0] !== 0x7b || frame[1] !== 0x22) return false;
  const c = frame[2];
  return c === 0x72 /* r */ || c === 0x69 /* i */ || (c === 0x65 /* e */ && frame[3] === 0x72 /* r */);
}

/** The socket logic for one connection (its settings fixed; the machine invokes it anew on every reconnect). */
export function createExchangeSocket(input: ExchangeSocketInput) {
  return fromCallback<SocketCommand, unknown, StreamConnectionEvent>(({ sendBack, receive }) => {
  const { clock } = input;
  const elapsed = input.elapsed ?? (() => clock.now());
  const socket = new WebSocket(input.url, { handshakeTimeout: input.connectTimeoutMs, perMessageDeflate: false });
  let lastFrameAt = elapsed();
  let open = false;
  let closed = false;
  let nextId = 1;
  /** Requests waiting for the pacer; consecutive ones of the same method merge, up to `paramsPerMessage` streams. */
  const outbox: { method: 'SUBSCRIBE' | 'UNSUBSCRIBE'; streams: string[] }[] = [];

  const report = (event: StreamConnectionEvent): void => {
    if (closed) return;
    if (event.type === 'CLOSED' || event.type === 'SILENT') closed = true;
    sendBack(event);
  };

  const enqueue = (method: 'SUBSCRIBE' | 'UNSUBSCRIBE', streams: readonly string[]): void => {
    for (const stream of streams) {
      const last = outbox.at(-1);
      if (last !== undefined && last.method === method && last.streams.length < input.paramsPerMessage) last.streams.push(stream);
      else outbox.push({ method, streams: [stream] });
    }
  };

  const pacer = setInterval(() => {
    if (!open || outbox.length === 0) return;
    const { method, streams } = outbox.shift()!;
    socket.send(JSON.stringify({ method, params: streams, id: nextId++ }));
  }, Math.ceil(1000 / input.maxMessagesPerSecond));

  const watchdog = setInterval(() => {
    const silentFor = elapsed() - lastFrameAt;
    if (open && silentFor >= input.silenceMs) report({ type: 'SILENT', silentForMs: silentFor });
  }, Math.max(10, Math.min(1000, Math.floor(input.silenceMs / 4))));

  socket.on('open', () => {
    open = true;
    lastFrameAt = elapsed();
    report({ type: 'OPENED' });
  });
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    lastFrameAt = elapsed();
    if (isBinary) return;
    if (isReply(data)) input.onReply?.(data);
    else input.onFrame(data, clock.now());
  });
  socket.on('ping', () => {
    lastFrameAt = elapsed(); // ws answers with a pong by itself
  });
  socket.on('close', (code: number, reason: Buffer) => report({ type: 'CLOSED', reason: `closed by the server: ${code} ${reason.toString() || ''}`.trim() }));
  socket.on('error', (error: Error) => report({ type: 'CLOSED', reason: `socket error: ${error.message}` }));

  receive((command) => {
    switch (command.type) {
      case 'SUBSCRIBE_ALL':
        outbox.length = 0;
        enqueue('SUBSCRIBE', command.streams);
        break;
      case 'SUBSCRIBE':
        enqueue('SUBSCRIBE', command.streams);
        break;
      case 'UNSUBSCRIBE':
        enqueue('UNSUBSCRIBE', command.streams);
        break;
    }
  });

  return () => {
    closed = true;
    clearInterval(pacer);
    clearInterval(watchdog);
    socket.removeAllListeners('message');
    socket.on('error', () => {});
    if (socket.readyState !== WebSocket.OPEN) {
      socket.terminate();
      return;
    }
    // Leaving on purpose (stop, rotation, a silent socket given up): say so with 1001 "going away", as a client should,
    // and cut the socket if the exchange does not answer soon.
    socket.close(GOING_AWAY, 'going away');
    setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
  };
});
}
