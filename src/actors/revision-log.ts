/**
 * Revisions in a published batch: counted by cause, and logged as one line per batch, not one per revision — a stream
 * lagging 20 s made 569,000 lines in one minute of the soak. The line names the first few; the counts cover them all.
 */
import type { Kline, RevisionCause } from '../domain/kline.ts';
import type { Logger } from '../infra/logger.ts';

/** Revisions named in the line; the rest are in its counts. */
const REVISIONS_NAMED = 5;

export function countAndLogRevisions(finals: readonly Kline[], counts: Record<RevisionCause, number>, log: Logger): void {
  let revisions = 0;
  const byCause: Partial<Record<RevisionCause, number>> = {};
  const first: object[] = [];
  for (const k of finals) {
    if (k.revision === undefined) continue;
    const cause = k.revisionCause ?? 'late';
    counts[cause]++;
    byCause[cause] = (byCause[cause] ?? 0) + 1;
    if (++revisions <= REVISIONS_NAMED) first.push({ symbol: k.symbol, interval: k.interval, openTime: k.openTime, revision: k.revision, cause, tradeCount: k.tradeCount });
  }
  if (revisions > 0) log.info({ revisions, byCause, first }, 'klines revised');
}
