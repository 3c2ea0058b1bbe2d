/**
 * The effects of the supervisor's children, bound to the running system: the pure machines in `src/machines` name
 * them (`installSymbol`, `pullWorkers`, `tick`, …), this file does them. Each is small and does one thing on one port.
 */
import { sendParent } from 'xstate';
import { KlaggError } from '../domain/errors.ts';
import type { GatewayEvent, Mailbox, PublishedBatch, WorkerEvent } from '../domain/messages.ts';
import { activationDispatcherMachine } from '../machines/activation-dispatcher.ts';
import { clockMachine } from '../machines/clock.ts';
import { gatewayMachine, type WorkerHealth } from '../machines/gateway.ts';
import { supervisorMachine } from '../machines/supervisor.ts';
import { watchdogMachine } from '../machines/watchdog.ts';
import { workerMachine } from '../machines/worker.ts';
import type { Clock } from '../infra/clock.ts';
import type { Logger } from '../infra/logger.ts';
import type { PartitionWorkerPort } from './partition-worker/partition-worker-port.ts';

/** What the children act on: the system's parts, as narrow functions. */
export interface SystemPorts {
  readonly workers: readonly PartitionWorkerPort[];
  readonly clock: Clock;
  /** The dispatcher's log. */
  readonly logger: Logger;
  /** The Worker actor of a partition worker (the Gateway pulls it, the dispatcher sends it activations). */
  workerActor(workerId: number): Mailbox<WorkerEvent>;
  workerOf(symbol: string): number;
  subscribe(symbol: string, position: number): void;
  unsubscribe(symbol: string): void;
  publish(batch: PublishedBatch): void;
  reportWorker(workerId: number, status: WorkerHealth, detail: string): void;
  tradesSeen(lastTradeTimes: Readonly<Record<string, number>>): void;
  /** The Clock's tick: advance every worker to now minus the watermark's extra. */
  tick(): void;
  /** The first fatal health entry as `actor: detail`, if any. */
  fatalEntry(): string | undefined;
  /** Pull, write everything, close the workers; the supervisor gets DRAINED (after FATAL when it failed). */
  drain(fatal: string | null): void;
}

function workerLogic(ports: SystemPorts) {
  const core = (workerId: number): PartitionWorkerPort => ports.workers[workerId]!;
  return workerMachine.provide({
    actions: {
      installSymbol: ({ context, self }, activation) => {
        const { command } = activation;
        core(context.workerId)
          .activate(command.symbol, command.scales, command.initialData, command.startAfterId)
          .then(
            (position) => self.send({ type: 'INSTALLED', ...activation, position }),
            (error: unknown) => self.send({ type: 'INSTALL_FAILED', ...activation, code: error instanceof KlaggError ? error.code : 'KLAGG_ERR_ACTIVATION_FAILED', error: (error as Error).message }),
          );
      },
      replyActivePosition: ({ context }, { command, attempt, replyTo }) => {
        void core(context.workerId)
          .positionOf(command.symbol)
          .then((position) => replyTo.send({ type: 'SYMBOL_ACTIVATED', symbol: command.symbol, attempt, position }));
      },
      releaseSymbol: ({ context }, { symbol }) => core(context.workerId).deactivate(symbol),
      sendDeltas: ({ context }, { seq, replyTo, notBefore }) => {
        // Deltas are taken when the answer is sent, so a stalled worker's deltas are late, never lost. A worker that
        // cannot answer (its thread died) is left to the Gateway's timeouts and the health board.
        const answer = (): void => void core(context.workerId).takeDeltas(seq).then((batch) => replyTo.send({ type: 'DELTAS', batch }), () => {});
        const wait = notBefore - ports.clock.now();
        if (wait > 0) setTimeout(answer, wait);
        else answer();
      },
      advanceTime: ({ context }, { now }) => core(context.workerId).advanceTo(now),
      finishInput: ({ context }) => core(context.workerId).finish(),
    },
  });
}

function dispatcherLogic(ports: SystemPorts) {
  return activationDispatcherMachine.provide({
    actions: {
      sendToWorker: (_, { symbol, event }) => ports.workerActor(ports.workerOf(symbol)).send(event),
      subscribe: (_, { symbol, position }) => ports.subscribe(symbol, position),
      unsubscribe: (_, { symbol }) => ports.unsubscribe(symbol),
      log: (_, { level, fields, msg }) => ports.logger[level](fields, msg),
    },
  });
}

function gatewayLogic(ports: SystemPorts) {
  return gatewayMachine.provide({
    actions: {
      pullWorkers: ({ self }, { seq }) => {
        const replyTo: Mailbox<GatewayEvent> = self;
        ports.workers.forEach((worker) => ports.workerActor(worker.id).send({ type: 'PULL_DELTAS', seq, replyTo }));
      },
      publishBatch: (_, { batch }) => ports.publish(batch),
      reportWorker: (_, { workerId, status, detail }) => ports.reportWorker(workerId, status, detail),
      tradesSeen: (_, { lastTradeTimes }) => ports.tradesSeen(lastTradeTimes),
    },
  });
}

/** The supervisor with every child's effects bound to `ports`. */
export function supervisorLogic(ports: SystemPorts) {
  return supervisorMachine.provide({
    actors: {
      worker: workerLogic(ports),
      dispatcher: dispatcherLogic(ports),
      gateway: gatewayLogic(ports),
      clock: clockMachine.provide({ actions: { tick: () => ports.tick() } }),
      watchdog: watchdogMachine.provide({
        guards: { anyFatal: () => ports.fatalEntry() !== undefined },
        actions: { reportFatal: sendParent(() => ({ type: 'FATAL', error: ports.fatalEntry() ?? 'fatal health entry' })) },
      }),
    },
    actions: {
      beginDrain: (_, { fatal }) => ports.drain(fatal),
    },
  });
}
