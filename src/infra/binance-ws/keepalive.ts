/**
 * Connection lifetime as Binance runs it, per connection: a server ping every `pingIntervalMs`, a close when a ping
 * goes unanswered for `pongTimeoutMs`, and a cut at `maxConnectionAgeMs`. The server decides how to close; this only
 * keeps the timers (on the server's WsTimers, so a manual clock drives them).
 */
import { WebSocket } from 'ws';
import type { WsTimer, WsTimers } from './ws-timers.ts';

export interface KeepaliveOptions {
  readonly pingIntervalMs: number;
  readonly pongTimeoutMs: number;
  readonly maxConnectionAgeMs: number;
}

export interface KeepaliveEvents {
  onPing(): void;
  onPongTimeout(): void;
  onMaxAge(): void;
}

export class Keepalive {
  readonly #ws: WebSocket;
  readonly #timers: WsTimers;
  readonly #options: KeepaliveOptions;
  readonly #events: KeepaliveEvents;
  #pingTimer: WsTimer | undefined;
  #pongDeadline: WsTimer | undefined;
  #ageTimer: WsTimer | undefined;
  #stopped = false;

  constructor(ws: WebSocket, timers: WsTimers, options: KeepaliveOptions, events: KeepaliveEvents) {
    this.#ws = ws;
    this.#timers = timers;
    this.#options = options;
    this.#events = events;
    this.#schedulePing();
    this.#ageTimer = timers.setTimer(options.maxConnectionAgeMs, () => {
      this.#ageTimer = undefined;
      if (!this.#stopped) events.onMaxAge();
    });
  }

  /** A pong arrived: the pending deadline is met. */
  pong(): void {
    this.#pongDeadline?.cancel();
    this.#pongDeadline = undefined;
  }

  stop(): void {
    this.#stopped = true;
    this.#pingTimer?.cancel();
    this.#pongDeadline?.cancel();
    this.#ageTimer?.cancel();
    this.#pingTimer = this.#pongDeadline = this.#ageTimer = undefined;
  }

  #schedulePing(): void {
    this.#pingTimer = this.#timers.setTimer(this.#options.pingIntervalMs, () => {
      this.#pingTimer = undefined;
      if (this.#stopped || this.#ws.readyState !== WebSocket.OPEN) return;
      this.#ws.ping();
      this.#events.onPing();
      this.#pongDeadline ??= this.#timers.setTimer(this.#options.pongTimeoutMs, () => {
        this.#pongDeadline = undefined;
        if (!this.#stopped) this.#events.onPongTimeout();
      });
      this.#schedulePing();
    });
  }
}
