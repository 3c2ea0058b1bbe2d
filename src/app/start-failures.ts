/**
 * The expected ways a start cannot complete, as registry errors whose one line names the cause and the fix: the
 * exchange unreachable after its retries, the database unreachable (a taken port: port-check.ts; a locked data
 * directory comes as a KlaggError from opening the database already). Anything else stays as it is: unexpected.
 */
import { KlaggError } from '../domain/errors.ts';
import { BinanceRetriesExhaustedError } from '../infra/binance/binance-error.ts';
import { DatabaseConnectionError, openDatabase, type DatabaseHandle, type OpenDatabaseOptions } from '../infra/db/open-database.ts';

/** The reason of a low-level failure in a few words (a refused connection is an AggregateError with no message). */
export function reasonOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return [...new Set(error.errors.map(reasonOf))].join('; ');
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const cause = error.cause === undefined ? '' : reasonOf(error.cause);
    const own = error.message || (typeof code === 'string' ? code : error.name);
    // fetch's "fetch failed" says nothing; its cause (ECONNREFUSED …) does.
    return cause !== '' && (own === 'fetch failed' || own === '') ? cause : own;
  }
  return String(error);
}

/** A REST failure after all its retries as EXCHANGE_UNREACHABLE; other errors unchanged. */
export function exchangeFailure(url: string, error: unknown): unknown {
  if (!(error instanceof BinanceRetriesExhaustedError)) return error;
  return new KlaggError('KLAGG_ERR_START_EXCHANGE_UNREACHABLE', { url, attempts: error.attempts, reason: reasonOf(error.cause) }, { cause: error });
}

/** Opens the database; an unreachable PostgreSQL becomes DB_UNREACHABLE (a KlaggError from opening passes as it is). */
export async function openDatabaseOrFail(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  try {
    return await openDatabase(options);
  } catch (error) {
    if (error instanceof DatabaseConnectionError) {
      throw new KlaggError('KLAGG_ERR_START_DB_UNREACHABLE', { target: error.location, reason: reasonOf(error.cause) }, { cause: error });
    }
    throw error;
  }
}
