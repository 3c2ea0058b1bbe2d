/**
 * The embedded PGlite, run in a worker thread (`pglite-worker.ts`) and presented to Kysely's own `PGliteDialect` as
 * the PGlite instance it drives. PGlite's WebAssembly PostgreSQL is synchronous: on the main thread each 5,000-row
 * flush was a ~100 ms stall of everything else. PGlite's own `@electric-sql/pglite/worker` is built for browser
 * tabs (Web Worker globals, BroadcastChannel and navigator.locks leader election), hence this small host.
 *
 * Each query travels as SQL text plus parameters over postMessage and comes back as rows, already parsed by PGlite in
 * the worker (int8 as a number when exact, numeric as text, timestamptz as a Date: structured cloning keeps Dates
 * and bigints). Transactions keep Kysely's semantics: Kysely holds its only connection (the PGlite adapter reports a
 * single connection, so Kysely's connection mutex serializes callers) from BEGIN to COMMIT, and the worker keeps a
 * `pglite.transaction` open across those requests, so a transaction's statements are the only ones that run until
 * it ends.
 */
import { Worker } from 'node:worker_threads';
import type { PGlite as KyselyPGlite, PGliteQueryOptions, PGliteQueryResults, PGliteTransaction } from 'kysely';

export interface PgliteWorkerData {
  readonly dataDir: string;
}

export type PgliteRequest =
  | { readonly id: number; readonly op: 'query'; readonly sql: string; readonly params: readonly unknown[]; readonly rowMode: 'array' | 'object' }
  | { readonly id: number; readonly op: 'begin' | 'commit' | 'rollback' | 'close' };

/** An error as data: PGlite's DatabaseError fields (code, detail, …) are own properties structured cloning drops. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly props: Readonly<Record<string, unknown>>;
}

/** Id 0 answers the start (PGlite opened, or why not). */
export type PgliteReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: SerializedError };

/**
 * The process's node flags minus those about its own entry: a worker inherits them, and a process started with
 * `node --input-type=module -e '…'` would otherwise fail the worker ("--input-type can only be used with string input
 * via --eval"). Loader flags (`--import`, `--experimental-*`) stay: the worker's `.ts` file needs them as the main
 * thread did.
 */
export function workerExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    if (arg === '-e' || arg === '--eval' || arg === '-p' || arg === '--print') {
      i++; // and its script
      continue;
    }
    if (arg.startsWith('--input-type') || arg.startsWith('--eval=') || arg.startsWith('--print=')) continue;
    kept.push(arg);
  }
  return kept;
}

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

function deserializeError(error: SerializedError): Error {
  const rebuilt = Object.assign(new Error(error.message), error.props);
  rebuilt.name = error.name;
  return rebuilt;
}

/** Starts the worker and resolves once PGlite has opened `dataDir` (or rejects with PGlite's error). */
export async function startPgliteWorker(dataDir: string): Promise<PgliteWorkerClient> {
  const worker = new Worker(new URL('./pglite-worker.ts', import.meta.url), {
    workerData: { dataDir } satisfies PgliteWorkerData,
    execArgv: workerExecArgv(process.execArgv),
  });
  const client = new PgliteWorkerClient(worker);
  try {
    await client.started;
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  return client;
}

export class PgliteWorkerClient implements KyselyPGlite {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Why the worker is gone, once it is: every later request fails with it. */
  #gone: Error | undefined;
  readonly started: Promise<void>;

  constructor(worker: Worker) {
    this.#worker = worker;
    this.started = new Promise<void>((resolve, reject) => this.#pending.set(0, { resolve: () => resolve(), reject }));
    worker.on('message', (reply: PgliteReply) => {
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      this.#updateRef();
      if (reply.ok) pending.resolve(reply.result);
      else pending.reject(deserializeError(reply.error));
    });
    worker.on('error', (error) => this.#fail(new Error(`the PGlite worker failed: ${error.message}`, { cause: error })));
    worker.on('exit', (code) => this.#fail(new Error(`the PGlite worker exited (code ${code})`)));
  }

  get ready(): boolean {
    return !this.#closed && this.#gone === undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get waitReady(): Promise<void> {
    return this.started;
  }

  async query<T>(sql: string, params: unknown[] = [], options: PGliteQueryOptions = {}): Promise<PGliteQueryResults<T>> {
    return (await this.#request({ op: 'query', sql, params, rowMode: options.rowMode ?? 'object' })) as PGliteQueryResults<T>;
  }

  /** The callback's statements run inside one worker-side transaction; it commits when the callback resolves. */
  async transaction<T>(callback: (tx: PGliteTransaction) => Promise<T>): Promise<T> {
    await this.#request({ op: 'begin' });
    let rolledBack = false;
    const tx: PGliteTransaction = {
      query: (sql, params, options) => this.query(sql, params, options),
      rollback: async () => {
        rolledBack = true;
        await this.#request({ op: 'rollback' });
      },
    };
    let result: T;
    try {
      result = await callback(tx);
    } catch (error) {
      if (!rolledBack) await this.#request({ op: 'rollback' }).catch(() => {});
      throw error;
    }
    if (!rolledBack) await this.#request({ op: 'commit' });
    return result;
  }

  /** Closes PGlite (its files are consistent on disk afterwards) and ends the worker. Idempotent. */
  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      try {
        if (this.#gone === undefined) await this.#request({ op: 'close' });
      } finally {
        this.#closed = true;
        await this.#worker.terminate();
      }
    })());
  }

  #request(request: { op: PgliteRequest['op'] } & Partial<PgliteRequest> & Record<string, unknown>): Promise<unknown> {
    if (this.#gone !== undefined) return Promise.reject(this.#gone);
    if (this.#closed) return Promise.reject(new Error('the PGlite database is closed'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#updateRef();
      this.#worker.postMessage({ ...request, id });
    });
  }

  /**
   * The worker keeps the process alive only while a request is outstanding: an idle in-process PGlite never held the
   * process open, and an idle worker must not either; a pending query must not be cut short by an exit.
   */
  #updateRef(): void {
    if (this.#pending.size > 0) this.#worker.ref();
    else this.#worker.unref();
  }

  #fail(error: Error): void {
    this.#gone ??= error;
    for (const pending of this.#pending.values()) pending.reject(this.#gone);
    this.#pending.clear();
  }
}
