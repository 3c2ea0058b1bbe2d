/**
 * Exact through a crash: `klagg run` (a child process, the shared clock finalizing as in production) is SIGKILLed
 * inside a 5m period and started again 30 s later on the same database. Before anything is finalized it repairs the
 * range between its stored position and the live stream, so the trades it missed land in their periods: every stored
 * 1m, 5m and 1h kline equals what the exchange aggregated, and no trade is dropped as late.
 */
import t from 'tap';
import { sigkillAndRestart } from '../support/restart-exactness-case.ts';

t.setTimeout(300_000);

t.test('(c) SIGKILL inside a 5m period, restart 30 s later: every kline exact, zero trades dropped', (t) => sigkillAndRestart(t, false));
