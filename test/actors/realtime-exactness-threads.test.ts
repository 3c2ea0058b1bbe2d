/**
 * The real-time exactness scenarios of realtime-exactness.test.ts with the workers in worker threads, each thread
 * owning the exchange connections of its symbols (per-worker I/O): the same faults, the same exchange-exact result.
 */
import t from 'tap';
import { laggingStream, withheldTail } from '../support/realtime-exactness-cases.ts';

t.test('(a) worker threads: a symbol’s last trades withheld before it goes quiet: found, repaired, stored klines exact', (t) => withheldTail(t, true));
t.test('(b) worker threads: the stream lagging longer than the grace across a minute’s end: amended as revisions; the last x:true equals the stored row', (t) => laggingStream(t, true));
