/**
 * The health board read model: every actor reports here (status, detail, when); the watchdog and `GET /health`
 * read it. An actor that stops reporting is as telling as one that reports an error.
 */
import { createStore } from '@xstate/store';

export type HealthStatus = 'ok' | 'degraded' | 'error';

export interface HealthEntry {
  readonly actor: string;
  readonly status: HealthStatus;
  readonly detail: string;
  readonly reportedAt: number;
  /** An error the service cannot recover from: the watchdog shuts the service down (non-zero exit). */
  readonly fatal: boolean;
}

export function createHealthBoard() {
  return createStore({
    context: { actors: {} as Readonly<Record<string, HealthEntry>> },
    on: {
      report: (context, event: { actor: string; status: HealthStatus; detail: string; at: number; fatal?: boolean }) => ({
        actors: {
          ...context.actors,
          [event.actor]: { actor: event.actor, status: event.status, detail: event.detail, reportedAt: event.at, fatal: event.fatal ?? false },
        },
      }),
    },
  });
}

export type HealthBoard = ReturnType<typeof createHealthBoard>;

export function reportHealth(board: HealthBoard, actor: string, status: HealthStatus, detail: string, at: number, fatal = false): void {
  board.trigger.report({ actor, status, detail, at, fatal });
}
