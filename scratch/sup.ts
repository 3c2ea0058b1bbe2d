import { initialTransition, transition } from 'xstate';
import { supervisorMachine } from '../src/machines/supervisor.ts';
const INPUT = { workerCount: 2, maxAttempts: 3, dispatcher: { queueCapacity: 8, maxRetries: 2, retryDelayMs: 60_000, ackTimeoutMs: 60_000, concurrency: 2 }, gateway: { pullIntervalMs: 60_000, pullTimeoutMs: 60_000, timeoutAlertThreshold: 3 }, tickIntervalMs: 60_000, watchdogIntervalMs: 60_000 };
let s = initialTransition(supervisorMachine, INPUT)[0];
for (const e of [{ type: 'STARTED' }, { type: 'STOP', signal: 'x' }, { type: 'DRAINED' }] as const) { const [n, a] = transition(supervisorMachine, s, e); console.log(e.type, n.value, a.map((x) => x.type)); s = n; }
console.log(transition(supervisorMachine, s, { type: 'STARTED' })[1].map((x) => [x.type, (x.params as any)?.id ?? (x.params as any)?.actorRef?.id]));
