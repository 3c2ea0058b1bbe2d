/**
 * Exact in real time. klagg runs as `klagg run` does — the shared clock finalizing quiet periods on the exchange's
 * time (grace 1 s), the trailing-gap watch on — against the fake exchange over loopback, with PostgreSQL and a client
 * on klagg's kline stream, while faults act on time: a symbol's last trades withheld before it goes quiet, the stream
 * lagging across a minute's end (the cold join mid-hour: cold-join-exactness.test.ts). Every stored 1m, 5m and 1h kline is compared
 * with what the exchange aggregated from exactly the trades it published (the fault-free run), and no trade may be
 * dropped as late.
 */
import t from 'tap';
import { laggingStream, withheldTail } from '../support/realtime-exactness-cases.ts';

t.test('(a) a symbol’s last trades withheld before it goes quiet: found within seconds, repaired, stored klines exact', (t) => withheldTail(t, false));
t.test('(b) the stream lagging longer than the grace across a minute’s end: amended as revisions; the last x:true a client got equals the stored row', (t) => laggingStream(t, false));
