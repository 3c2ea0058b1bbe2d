/**
 * Every machine klagg runs, for whoever draws or lists them (the inspector gets this list from the composition root;
 * infra never imports machines). A test checks that every machine defined in this folder is listed.
 */
import type { AnyStateMachine } from 'xstate';
import { activationDispatcherMachine } from './activation-dispatcher.ts';
import { clockMachine } from './clock.ts';
import { dbWriterMachine } from './db-writer.ts';
import { gatewayMachine } from './gateway.ts';
import { partitionLifecycleMachine } from './partition-lifecycle.ts';
import { streamConnectionMachine } from './stream-connection.ts';
import { supervisorMachine } from './supervisor.ts';
import { symbolLifecycleMachine } from './symbol-lifecycle.ts';
import { symbolManagerMachine } from './symbol-manager.ts';
import { watchdogMachine } from './watchdog.ts';
import { workerMachine } from './worker.ts';

export const KLAGG_MACHINES: readonly AnyStateMachine[] = [
  supervisorMachine,
  workerMachine,
  activationDispatcherMachine,
  gatewayMachine,
  clockMachine,
  watchdogMachine,
  dbWriterMachine,
  streamConnectionMachine,
  symbolManagerMachine,
  symbolLifecycleMachine,
  partitionLifecycleMachine,
] as unknown as AnyStateMachine[];
