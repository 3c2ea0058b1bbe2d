/**
 * The worker thread that owns the embedded PGlite: PostgreSQL compiled to WebAssembly runs synchronously, so on the
 * main thread a 5,000-row flush stalled every stream, timer and HTTP reply for ~100 ms. Here it stalls only this
 * thread. Started by `pglite-worker-client.ts` (the protocol is defined there); it opens the data directory named
 * in `workerData`, answers each request in order, and keeps a transaction open across requests exactly as Kysely's
 * in-process PGlite driver does (`pglite.transaction` held open until commit or rollback arrives).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { PgliteReply, PgliteRequest, PgliteWorkerData, SerializedError } from './pglite-worker-client.ts';
import { KlaggError } from '../../domain/errors.ts';

const port = parentPort;
if (port === null) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'pglite-worker.ts runs only as a worker thread' });
const { dataDir } = workerData as PgliteWorkerData;

interface OpenTransaction {
  readonly tx: Transaction;
  readonly finish: (commit: boolean) => void;
  /** Settles when PGlite has committed (or rolled back): rejects as `pglite.transaction` does. */
  readonly closed: Promise<unknown>;
}

let transaction: OpenTransaction | undefined;

function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), props: {} };
  // PGlite's DatabaseError carries the server's fields (code, detail, constraint, …) as own properties, which
  // structured cloning of an Error would drop; they travel as plain data and are put back on the main thread.
  const props: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (value === undefined || typeof value === 'function' || typeof value === 'object') continue;
    props[key] = value;
  }
  return { name: error.name, message: error.message, props };
}

async function handle(request: PgliteRequest, db: PGlite): Promise<unknown> {
  switch (request.op) {
    case 'query': {
      const target = transaction?.tx ?? db;
      const { rows, affectedRows, fields } = await target.query(request.sql, [...request.params], { rowMode: request.rowMode });
      return { rows, affectedRows, fields };
    }
    case 'begin': {
      if (transaction !== undefined) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'a transaction is already open' });
      let finish!: (commit: boolean) => void;
      const decided = new Promise<boolean>((resolve) => (finish = resolve));
      let begun!: (tx: Transaction) => void;
      const started = new Promise<Transaction>((resolve) => (begun = resolve));
      const closed = db.transaction(async (tx) => {
        begun(tx);
        if (!(await decided)) await tx.rollback();
      });
      // A BEGIN that fails rejects `closed` before `started` settles.
      const tx = await Promise.race([started, closed.then(() => { throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'transaction ended before it began' }); })]);
      transaction = { tx, finish, closed };
      return undefined;
    }
    case 'commit':
    case 'rollback': {
      const open = transaction;
      if (open === undefined) return undefined;
      open.finish(request.op === 'commit');
      try {
        await open.closed;
      } finally {
        transaction = undefined;
      }
      return undefined;
    }
    case 'close':
      await db.close();
      return undefined;
  }
}

const reply = (message: PgliteReply) => port.postMessage(message);

try {
  const db = await PGlite.create(dataDir);
  // Requests run one at a time, in arrival order: the main thread's connection mutex already serializes them, and
  // PGlite is single-connection anyway.
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (request: PgliteRequest) => {
    queue = queue.then(async () => {
      try {
        reply({ id: request.id, ok: true, result: await handle(request, db) });
      } catch (error) {
        reply({ id: request.id, ok: false, error: serializeError(error) });
      }
      if (request.op === 'close') port.close();
    });
  });
  reply({ id: 0, ok: true, result: undefined });
} catch (error) {
  reply({ id: 0, ok: false, error: serializeError(error) });
}
