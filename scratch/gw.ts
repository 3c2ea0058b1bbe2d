import { initialTransition, transition } from 'xstate';
import { gatewayMachine } from '../src/machines/gateway.ts';
let [s, a] = initialTransition(gatewayMachine, { workerCount: 2, pullIntervalMs: 1000, pullTimeoutMs: 500, timeoutAlertThreshold: 2 });
console.log(s.value, a.map((x) => [x.type, JSON.stringify(x.params)?.slice(0, 200)]));
[s, a] = transition(gatewayMachine, s, { type: 'PULL_NOW' });
console.log(s.value, a.map((x) => [x.type, JSON.stringify(x.params)?.slice(0, 200)]));
