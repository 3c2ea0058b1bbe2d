/**
 * restart-exactness.test.ts with `workers.threads` on: the workers in worker threads, each owning the exchange
 * connections of its symbols (per-worker I/O), SIGKILLed with the process and started again — every kline exact.
 */
import t from 'tap';
import { sigkillAndRestart } from '../support/restart-exactness-case.ts';

t.setTimeout(300_000);

t.test('(c) worker threads: SIGKILL inside a 5m period, restart 30 s later: every kline exact, zero trades dropped', (t) => sigkillAndRestart(t, true));
