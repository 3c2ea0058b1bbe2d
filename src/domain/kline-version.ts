import type { Kline } from './kline.ts';

/** A kline with its version beyond the kline itself: repairs store a higher revision. */
export interface VersionedKline {
  readonly kline: Kline;
  /** 0 for live and backfilled klines; every repair of a final kline stores it with a higher one. */
  readonly revision: number;
}

/**
 * Whether `candidate` is a newer version of the same kline than `existing`: a higher revision; or, at the same
 * revision, an open kline replaced by a final one or by an open one with a higher last aggregate id. A final kline is
 * never replaced at its own revision, so an older in-progress state arriving late cannot undo it. The store's SQL guard
 * is the same rule; the DB writer's buffer and the store's batch de-duplication use this one.
 */
export function isNewerVersion(candidate: VersionedKline, existing: VersionedKline): boolean {
  if (candidate.revision !== existing.revision) return candidate.revision > existing.revision;
  if (existing.kline.isFinal) return false;
  return candidate.kline.isFinal || candidate.kline.lastAggId > existing.kline.lastAggId;
}
