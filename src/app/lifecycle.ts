/**
 * A command's life from the first line to exit: Ctrl+C and SIGTERM are handled from the very start (not only once the
 * service runs), start steps give way to a stop request at once, and whatever was started is stopped in reverse order
 * within a bounded time, so the process always ends.
 *
 * Signals: the first SIGINT/SIGTERM asks for an orderly stop — during the start too, where the step under way is
 * abandoned and what was already started is stopped; that exits 0 (a requested stop is not a failure). A second
 * signal exits at once with 130 (128 + SIGINT), without waiting for anything. A command that never asks about stops
 * (no `step`, `whenStopRequested` or `stopSignal`) is ended by the first signal at once, the same way.
 */

/** The exit code when a second signal forces the exit. */
export const FORCED_EXIT_CODE = 130;

/** Thrown by a start step when a stop was requested while it ran. */
export class StopRequested extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`stop requested (${reason}) while starting`);
    this.name = 'StopRequested';
    this.reason = reason;
  }
}

interface Closer {
  readonly name: string;
  readonly close: (reason: string) => Promise<unknown> | unknown;
}

export class Lifecycle {
  readonly #abort = new AbortController();
  readonly #closers: Closer[] = [];
  #reason: string | undefined;
  #signals = 0;
  #installed = false;
  /** Whether the command observes stop requests (else a signal ends the process at once). */
  #observed = false;

  /**
   * Handles SIGINT and SIGTERM from now on: the first requests a stop (`onStop` is told), the second calls `onForce`
   * (which should exit the process). Returns the uninstaller.
   */
  installSignals(handlers: { onStop?: (signal: NodeJS.Signals) => void; onForce: (signal: NodeJS.Signals) => void }): () => void {
    this.#installed = true;
    const onSignal = (signal: NodeJS.Signals): void => {
      this.#signals += 1;
      if (this.#signals === 1 && this.#observed) {
        handlers.onStop?.(signal);
        this.requestStop(signal);
      } else {
        handlers.onForce(signal);
      }
    };
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
    return () => {
      this.#installed = false;
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    };
  }

  /**
   * For a command run inside another program (tests): installs the signal handlers unless the program did, for as long
   * as the command runs (call the returned function when it ends).
   */
  ensureSignals(): () => void {
    if (this.#installed) return () => {};
    return this.installSignals({ onForce: () => process.exit(FORCED_EXIT_CODE) });
  }

  requestStop(reason: string): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#abort.abort(new StopRequested(reason));
  }

  /** Why a stop was requested (`SIGINT`, `SIGTERM`), or undefined while none was. */
  get stopReason(): string | undefined {
    return this.#reason;
  }

  /** Aborted when a stop is requested. */
  stopSignal(): AbortSignal {
    this.#observed = true;
    return this.#abort.signal;
  }

  /** Resolves with the reason once a stop is requested. */
  whenStopRequested(): Promise<string> {
    this.#observed = true;
    if (this.#reason !== undefined) return Promise.resolve(this.#reason);
    return new Promise((resolve) => this.#abort.signal.addEventListener('abort', () => resolve(this.#reason ?? 'stop'), { once: true }));
  }

  /**
   * A start step that gives way to a stop request: rejects with StopRequested as soon as one comes (the step's own
   * work is abandoned; what it leaves running is stopped by the closers, or by the process's exit).
   */
  step<T>(work: Promise<T>): Promise<T> {
    const signal = this.stopSignal();
    if (signal.aborted) {
      work.catch(() => {});
      return Promise.reject(signal.reason as Error);
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        work.catch(() => {});
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error as Error);
        },
      );
    });
  }

  /** Registers how to stop something that has been (or is being) started; `close` runs the closers newest first. */
  defer(name: string, close: Closer['close']): void {
    this.#closers.push({ name, close });
  }

  /** Unregisters a closer whose part the command stopped itself. */
  forget(name: string): void {
    const index = this.#closers.findIndex((closer) => closer.name === name);
    if (index >= 0) this.#closers.splice(index, 1);
  }

  /**
   * Stops every registered part, newest first, within `timeoutMs` in all. Resolves with the names of the parts that
   * failed or did not finish in time (empty when all stopped cleanly).
   */
  async close(timeoutMs: number, onError?: (name: string, error: unknown) => void): Promise<string[]> {
    const reason = this.#reason ?? 'exit';
    const closers = this.#closers.splice(0).reverse();
    const pending = new Set(closers.map((closer) => closer.name));
    const failed: string[] = [];
    const all = (async () => {
      for (const closer of closers) {
        try {
          await closer.close(reason);
        } catch (error) {
          failed.push(closer.name);
          onError?.(closer.name, error);
        }
        pending.delete(closer.name);
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([all, timeout]);
    clearTimeout(timer);
    return [...failed, ...pending];
  }
}
