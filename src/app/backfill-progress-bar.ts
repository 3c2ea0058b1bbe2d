/**
 * The start-up backfill as one progress bar on a terminal (cli-progress, on stderr with the logs), instead of a log
 * entry per symbol. Off a terminal (tests, pipes, files) it draws nothing: the backfiller's own log lines (start,
 * each quarter, end) say how far it got.
 */
import cliProgress from 'cli-progress';
import type { BackfillProgress } from '../actors/kline-backfiller.ts';

export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): boolean;
}

export class BackfillProgressBar {
  readonly #bar: cliProgress.SingleBar | undefined;
  #started = false;

  /** `enabled` false (or a stream that is not a terminal): a bar that draws nothing. */
  constructor(stream: ProgressStream, enabled = true) {
    this.#bar =
      enabled && stream.isTTY === true
        ? new cliProgress.SingleBar(
            {
              stream: stream as NodeJS.WritableStream,
              format: 'backfill  {bar} {percentage}%  {value}/{total} symbols  {klines} klines  {current}',
              barsize: 30,
              hideCursor: true,
              clearOnComplete: false,
              // Redrawn on every page written; cli-progress limits the redraws itself.
              fps: 10,
            },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
  }

  /** Whether a bar is drawn (then the backfiller's info lines would only break it up). */
  get drawn(): boolean {
    return this.#bar !== undefined;
  }

  /** The backfiller's `onProgress`. */
  readonly update = (progress: BackfillProgress): void => {
    const bar = this.#bar;
    if (bar === undefined) return;
    const payload = { klines: progress.klinesWritten.toLocaleString('en-US'), current: progress.currentSymbols.join(' ') };
    if (!this.#started) {
      this.#started = true;
      bar.start(progress.symbolsTotal, progress.symbolsDone, payload);
    } else {
      bar.setTotal(progress.symbolsTotal);
      bar.update(progress.symbolsDone, payload);
    }
  };

  /** Leaves the bar's last state on screen (nothing else is said about the backfill on a terminal). */
  stop(): void {
    if (this.#started) this.#bar?.update({ current: 'done' });
    this.#bar?.stop();
  }
}
