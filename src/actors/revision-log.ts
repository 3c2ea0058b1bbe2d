/**
 * Revisions in a published batch: counted by cause, and logged as one line per batch, not one per revision — a stream
 * lagging 20 s made 569,000 lines in one minute of the soak. The line names the first few; the counts cover them all.
 */
import type { Kline, RevisionCause } from '../domain/kline.ts';
import type { Logger } from '../infra/logger.ts';

/** Revisions named in the line; the rest are in its counts. */
const REVISIONS_NAMED = 5;

export function countAndLogRevisions(finals: readonly Kline[], counts: Record<RevisionCause, number>, log: Logger): void {
  let revised: Kline[] | undefined;
  const byCause: Partial<Record<RevisionCause, number>> = {};
  for (const kline of finals) {
    if (kline.revision === undefined) continue;
    const cause = kline.revisionCause ?? 'late';
    counts[cause]++;
    byCause[cause] = (byCause[cause] ?? 0) + 1;
    (revised ??= []).push(kline);
  }
  if (revised === undefined) return;
  const first = revised.slice(0, REVISIONS_NAMED).map((k) => ({ symbol: k.symbol, interval: k.interval, openTime: k.openTime, revision: k.revision, cause: k.revisionCause ?? 'late', tradeCount: k.tradeCount }));
  log.info({ revisions: revised.length, byCause, first }, 'klines revised');
}
