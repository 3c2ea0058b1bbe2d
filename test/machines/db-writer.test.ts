/**
 * The DB writer machine on its own, with the `flush` actor and the `hasPending` / `bufferFull` guards backed by a
 * small in-test buffer, and a SimulatedClock so that flush intervals and backoffs pass deterministically.
 *
 * Each flush is a deferred the test settles by hand: `ok()` writes up to `maxBatch` rows (removing them from the
 * buffer) and resolves; `fail(error)` rejects and keeps every row.
 */
import t from 'tap';
import { SimulatedClock, createActor, fromPromise } from 'xstate';
import { dbWriterMachine, type DbWriterContext } from '../../src/machines/db-writer.ts';

const FLUSH_INTERVAL = 1_000;
const INITIAL_BACKOFF = 100;
const MAX_BACKOFF = 500;
const MAX_BATCH = 3;

interface Flush {
  readonly startedAt: number;
  readonly signal: AbortSignal;
  settled: boolean;
  ok(): Promise<void>;
  /** Rejects with `error` (even `undefined`), or with a default Error when called without an argument. */
  fail(...args: [error?: unknown]): Promise<void>;
}

/** Lets a settled promise actor deliver its done/error event (promise callbacks run on microtasks). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function harness(options: { rows?: number } = {}) {
  const buffer = { rows: options.rows ?? 0, written: 0 };
  const flushes: Flush[] = [];
  const clock = new SimulatedClock();
  const machine = dbWriterMachine.provide({
    actors: {
      flush: fromPromise<void>(
        ({ signal }) =>
          new Promise<void>((resolve, reject) => {
            const flush: Flush = {
              startedAt: clock.now(),
              signal,
              settled: false,
              async ok() {
                if (flush.settled) throw new Error('flush settled twice');
                flush.settled = true;
                const batch = Math.min(MAX_BATCH, buffer.rows);
                buffer.rows -= batch;
                buffer.written += batch;
                resolve();
                await settle();
              },
              async fail(...args: [error?: unknown]) {
                if (flush.settled) throw new Error('flush settled twice');
                flush.settled = true;
                reject(args.length === 0 ? new Error('connection refused') : args[0]);
                await settle();
              },
            };
            flushes.push(flush);
          }),
      ),
    },
    guards: {
      hasPending: () => buffer.rows > 0,
      bufferFull: () => buffer.rows >= MAX_BATCH,
    },
  });
  const actor = createActor(machine, {
    clock,
    input: { flushIntervalMs: FLUSH_INTERVAL, initialBackoffMs: INITIAL_BACKOFF, maxBackoffMs: MAX_BACKOFF },
  });
  actor.start();
  const h = {
    buffer,
    flushes,
    clock,
    actor,
    value: () => actor.getSnapshot().value,
    context: () => actor.getSnapshot().context,
    status: () => actor.getSnapshot().status,
    /** The flush currently in flight (the last one started, unsettled). */
    current(): Flush {
      const last = flushes.at(-1);
      if (last === undefined || last.settled) throw new Error('no flush in flight');
      return last;
    },
    inFlight: () => flushes.filter((flush) => !flush.settled).length,
    /** Adds rows and tells the machine, as the DB writer actor does. */
    add(rows: number) {
      buffer.rows += rows;
      actor.send({ type: 'BUFFERED' });
    },
    async advance(ms: number) {
      clock.increment(ms);
      await settle();
    },
  };
  return h;
}

function context(overrides: Partial<DbWriterContext> = {}): DbWriterContext {
  return {
    backoffMs: INITIAL_BACKOFF,
    initialBackoffMs: INITIAL_BACKOFF,
    maxBackoffMs: MAX_BACKOFF,
    flushIntervalMs: FLUSH_INTERVAL,
    consecutiveFailures: 0,
    lastError: null,
    drainRequested: false,
    ...overrides,
  };
}

const IDLE = { writing: 'idle' };
const FLUSHING = { writing: 'flushing' };

t.test('starts idle with the input in context', async (t) => {
  const h = harness();
  t.same(h.value(), IDLE);
  t.same(h.context(), context());
  t.equal(h.flushes.length, 0);
  h.actor.stop();
});

t.test('idle: the flush interval passes with nothing pending → stays idle, no flush, timer re-armed', async (t) => {
  const h = harness();
  await h.advance(FLUSH_INTERVAL);
  t.same(h.value(), IDLE);
  t.equal(h.flushes.length, 0);
  await h.advance(FLUSH_INTERVAL * 5);
  t.same(h.value(), IDLE);
  t.equal(h.flushes.length, 0, 'still nothing flushed after several intervals');
  h.actor.stop();
});

t.test('idle → flushing when the flush interval passes with rows pending (and not before)', async (t) => {
  const h = harness();
  await h.advance(FLUSH_INTERVAL); // t = 1000: nothing pending, timer re-armed until 2000
  await h.advance(500); // t = 1500
  h.add(2); // below a batch: no immediate flush
  t.same(h.value(), IDLE, 'BUFFERED below bufferFull does not flush');
  t.equal(h.flushes.length, 0);
  await h.advance(499); // t = 1999
  t.same(h.value(), IDLE, 'one millisecond before the interval boundary: still idle');
  t.equal(h.flushes.length, 0);
  await h.advance(1); // t = 2000
  t.same(h.value(), FLUSHING, 'at the interval boundary: flushing');
  t.equal(h.flushes.length, 1);
  t.equal(h.current().startedAt, 2 * FLUSH_INTERVAL);
  await h.current().ok();
  t.same(h.value(), IDLE, 'back to idle once written');
  t.equal(h.buffer.rows, 0);
  t.equal(h.buffer.written, 2);
  t.same(h.context(), context());
  // The next interval with nothing pending does not flush again.
  await h.advance(FLUSH_INTERVAL);
  t.equal(h.flushes.length, 1);
  h.actor.stop();
});

t.test('the interval counts from the end of the last flush (re-entering idle re-arms it)', async (t) => {
  const h = harness({ rows: 1 });
  await h.advance(FLUSH_INTERVAL);
  t.equal(h.flushes.length, 1);
  await h.advance(250); // the flush takes 250 ms
  h.buffer.rows += 1; // more rows arrive meanwhile (BUFFERED is ignored while flushing)
  h.actor.send({ type: 'BUFFERED' });
  t.equal(h.flushes.length, 1, 'BUFFERED while flushing starts nothing');
  await h.current().ok(); // writes both rows
  t.same(h.value(), IDLE);
  h.buffer.rows = 1;
  await h.advance(FLUSH_INTERVAL - 1);
  t.equal(h.flushes.length, 1, 'not yet: a full interval after re-entering idle');
  await h.advance(1);
  t.equal(h.flushes.length, 2);
  t.equal(h.current().startedAt, 2 * FLUSH_INTERVAL + 250);
  h.actor.stop();
});

t.test('BUFFERED with bufferFull flushes immediately, without waiting for the interval', async (t) => {
  const h = harness();
  h.add(MAX_BATCH - 1);
  t.same(h.value(), IDLE);
  t.equal(h.flushes.length, 0);
  h.add(1);
  t.same(h.value(), FLUSHING, 'full buffer: flushing at once');
  t.equal(h.flushes.length, 1);
  t.equal(h.clock.now(), 0, 'no time passed');
  await h.current().ok();
  t.same(h.value(), IDLE);
  t.equal(h.buffer.rows, 0);
  h.actor.stop();
});

t.test('a flush that leaves a full buffer flushes again at once; a partial remainder waits for the interval', async (t) => {
  const h = harness();
  h.add(7); // 7 ≥ 3: flush 1 writes 3, leaving 4 (full) → flush 2 writes 3, leaving 1 → idle
  t.equal(h.flushes.length, 1);
  await h.current().ok();
  t.same(h.value(), FLUSHING, 'still a full batch left: flushing again');
  t.equal(h.flushes.length, 2);
  t.equal(h.buffer.rows, 4);
  await h.current().ok();
  t.same(h.value(), IDLE, 'less than a batch left: idle');
  t.equal(h.buffer.rows, 1);
  t.equal(h.flushes.length, 2);
  await h.advance(FLUSH_INTERVAL);
  t.equal(h.flushes.length, 3, 'the remainder goes on the next interval');
  await h.current().ok();
  t.equal(h.buffer.rows, 0);
  t.equal(h.buffer.written, 7);
  h.actor.stop();
});

t.test('a rejected flush backs off, doubling up to maxBackoffMs, then a success resets everything', async (t) => {
  const h = harness();
  h.add(MAX_BATCH);
  // Each failure's wait before the retry: the current backoff, which doubles (capped) when the retry starts.
  const waits = [100, 200, 400, 500, 500];
  for (const [i, wait] of waits.entries()) {
    await h.current().fail(new Error(`outage ${i + 1}`));
    t.equal(h.value(), 'backingOff', `failure ${i + 1}: backingOff`);
    t.equal(h.context().consecutiveFailures, i + 1, `failure ${i + 1}: consecutiveFailures`);
    t.equal(h.context().lastError, `outage ${i + 1}`, `failure ${i + 1}: lastError`);
    t.equal(h.context().backoffMs, wait, `failure ${i + 1}: waiting ${wait} ms`);
    t.equal(h.buffer.rows, MAX_BATCH, `failure ${i + 1}: nothing dropped`);
    const flushesBefore = h.flushes.length;
    await h.advance(wait - 1);
    t.equal(h.value(), 'backingOff', `failure ${i + 1}: still backing off at ${wait - 1} ms`);
    t.equal(h.flushes.length, flushesBefore, `failure ${i + 1}: no retry before the backoff`);
    await h.advance(1);
    t.same(h.value(), FLUSHING, `failure ${i + 1}: retrying after ${wait} ms`);
    t.equal(h.flushes.length, flushesBefore + 1, `failure ${i + 1}: exactly one retry`);
    t.equal(h.context().backoffMs, Math.min(MAX_BACKOFF, wait * 2), `failure ${i + 1}: backoff grown for the next failure`);
  }
  await h.current().ok();
  t.same(h.value(), IDLE, 'success: back to idle');
  t.same(h.context(), context(), 'success resets backoff, consecutiveFailures and lastError');
  t.equal(h.buffer.rows, 0);
  // The next outage starts from the initial backoff again.
  h.add(MAX_BATCH);
  await h.current().fail(new Error('again'));
  t.equal(h.context().backoffMs, INITIAL_BACKOFF);
  t.equal(h.context().consecutiveFailures, 1);
  await h.advance(INITIAL_BACKOFF);
  t.same(h.value(), FLUSHING);
  h.actor.stop();
});

t.test('lastError from a non-Error rejection', async (t) => {
  const h = harness();
  h.add(MAX_BATCH);
  await h.current().fail('socket hang up');
  t.equal(h.context().lastError, 'socket hang up');
  await h.advance(INITIAL_BACKOFF);
  await h.current().fail(undefined);
  t.equal(h.context().lastError, 'flush failed', 'an empty rejection gets a generic text');
  t.equal(h.context().consecutiveFailures, 2);
  h.actor.stop();
});

t.test('backingOff ignores BUFFERED, even with a full buffer: the backoff is honoured', async (t) => {
  const h = harness();
  h.add(MAX_BATCH);
  await h.current().fail();
  h.add(10);
  t.equal(h.value(), 'backingOff');
  t.equal(h.flushes.length, 1);
  await h.advance(INITIAL_BACKOFF);
  t.same(h.value(), FLUSHING);
  t.equal(h.flushes.length, 2);
  h.actor.stop();
});

t.test('DRAIN in idle with rows → draining flushes until hasPending is false → drained (done)', async (t) => {
  const h = harness();
  h.buffer.rows = 7; // added without BUFFERED: still idle
  h.actor.send({ type: 'DRAIN' });
  t.same(h.value(), { draining: 'flushing' }, 'draining starts flushing at once');
  t.equal(h.flushes.length, 1);
  await h.current().ok(); // 4 left
  t.same(h.value(), { draining: 'flushing' });
  t.equal(h.flushes.length, 2);
  await h.current().ok(); // 1 left: draining does not wait for a full batch or the interval
  t.same(h.value(), { draining: 'flushing' });
  t.equal(h.flushes.length, 3);
  t.equal(h.clock.now(), 0, 'no waiting between drain flushes');
  await h.current().ok(); // 0 left
  t.equal(h.value(), 'drained');
  t.equal(h.status(), 'done');
  t.equal(h.buffer.rows, 0);
  t.equal(h.buffer.written, 7);
  t.equal(h.flushes.length, 3, 'exactly three flushes');
});

t.test('DRAIN during an outage keeps retrying with backoff until a flush succeeds, then drained', async (t) => {
  const h = harness();
  h.add(MAX_BATCH + 1);
  await h.current().fail(new Error('down 1'));
  t.equal(h.value(), 'backingOff');
  h.actor.send({ type: 'DRAIN' });
  t.same(h.value(), { draining: 'flushing' }, 'DRAIN in backingOff tries at once');
  t.equal(h.flushes.length, 2);
  t.equal(h.inFlight(), 1);
  // Backoff keeps counting from where the outage got to.
  const waits = [100, 200, 400, 500];
  for (const [i, wait] of waits.entries()) {
    await h.current().fail(new Error(`down ${i + 2}`));
    t.same(h.value(), { draining: 'backingOff' }, `drain failure ${i + 1}: backing off`);
    t.equal(h.context().consecutiveFailures, i + 2, `drain failure ${i + 1}: consecutiveFailures`);
    t.equal(h.context().lastError, `down ${i + 2}`, `drain failure ${i + 1}: lastError`);
    t.equal(h.context().backoffMs, wait, `drain failure ${i + 1}: backoff`);
    t.equal(h.status(), 'active', `drain failure ${i + 1}: not done`);
    const flushesBefore = h.flushes.length;
    await h.advance(wait - 1);
    t.equal(h.flushes.length, flushesBefore, `drain failure ${i + 1}: no retry before ${wait} ms`);
    await h.advance(1);
    t.same(h.value(), { draining: 'flushing' }, `drain failure ${i + 1}: retry`);
    t.equal(h.flushes.length, flushesBefore + 1);
  }
  t.equal(h.buffer.rows, MAX_BATCH + 1, 'nothing dropped through the outage');
  await h.current().ok(); // 1 left
  t.same(h.value(), { draining: 'flushing' }, 'back up: the remainder is flushed');
  t.equal(h.context().consecutiveFailures, 0);
  t.equal(h.context().backoffMs, INITIAL_BACKOFF);
  t.equal(h.context().lastError, null);
  await h.current().ok();
  t.equal(h.value(), 'drained');
  t.equal(h.status(), 'done');
  t.equal(h.buffer.rows, 0);
  t.equal(h.buffer.written, MAX_BATCH + 1);
});

t.test('DRAIN in idle whose first drain flush fails backs off inside draining', async (t) => {
  const h = harness({ rows: 2 });
  h.actor.send({ type: 'DRAIN' });
  await h.current().fail(new Error('x'));
  t.same(h.value(), { draining: 'backingOff' });
  h.actor.send({ type: 'DRAIN' });
  h.actor.send({ type: 'BUFFERED' });
  t.same(h.value(), { draining: 'backingOff' }, 'DRAIN / BUFFERED while draining change nothing');
  t.equal(h.flushes.length, 1);
  await h.advance(INITIAL_BACKOFF);
  await h.current().ok();
  t.equal(h.value(), 'drained');
});

t.test('DRAIN with nothing pending → drained immediately, no flush', async (t) => {
  const h = harness();
  h.actor.send({ type: 'DRAIN' });
  t.equal(h.value(), 'drained');
  t.equal(h.status(), 'done');
  t.equal(h.flushes.length, 0);
  t.same(h.context(), context(), 'context untouched');
});

t.test('DRAIN while draining does not start a second flush', async (t) => {
  const h = harness({ rows: 2 });
  h.actor.send({ type: 'DRAIN' });
  h.actor.send({ type: 'DRAIN' });
  t.equal(h.flushes.length, 1);
  t.equal(h.inFlight(), 1);
  await h.current().ok();
  t.equal(h.value(), 'drained');
});

t.test('refused: BUFFERED (or DRAIN, or time passing) in drained does nothing', async (t) => {
  const h = harness();
  h.actor.send({ type: 'DRAIN' });
  const before = h.actor.getSnapshot();
  t.equal(before.value, 'drained');
  h.add(MAX_BATCH * 2); // a full buffer: would flush at once in idle
  h.actor.send({ type: 'DRAIN' });
  await h.advance(FLUSH_INTERVAL * 3);
  t.equal(h.actor.getSnapshot(), before, 'the very same snapshot');
  t.equal(h.value(), 'drained');
  t.equal(h.status(), 'done');
  t.equal(h.flushes.length, 0, 'no flush started');
});

t.test('DRAIN while a regular flush is in flight', async (t) => {
  const h = harness();
  h.add(MAX_BATCH + 1); // a full buffer: flush 1 in flight
  const first = h.current();
  t.same(h.value(), FLUSHING);
  h.actor.send({ type: 'DRAIN' });
  t.same(h.value(), FLUSHING, 'the running flush is not cut short');
  t.equal(h.inFlight(), 1, 'at most one flush in flight');
  t.equal(first.signal.aborted, false, 'the running flush is not aborted');
  await first.ok();
  t.same(h.value(), { draining: 'flushing' }, 'the drain starts once that flush settled');
  // Either way the drain must complete and leave nothing behind.
  while (h.value() !== 'drained') await h.current().ok();
  t.equal(h.value(), 'drained');
  t.equal(h.buffer.rows, 0);
});
