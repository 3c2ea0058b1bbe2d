/**
 * Where a symbol's history in the trade log ends: the last aggregate id of the last batch on its subject, read with
 * Direct Get (`last_by_subj`, any replica may answer: a hint, which the aggregators' id check makes safe — a stale
 * answer only means some trades are published twice). A restarted or second ingest starts there, so it leaves no gap.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { AggTradeParser } from '../../domain/agg-trade-parser.ts';
import { decodeTradeBatch } from '../../domain/cluster-messages.ts';
import type { ClusterNames } from './cluster-layout.ts';

export class TradeLogPositions {
  readonly #jsm: JetStreamManager;
  readonly #names: ClusterNames;
  readonly #parser = new AggTradeParser();

  constructor(jsm: JetStreamManager, names: ClusterNames) {
    this.#jsm = jsm;
    this.#names = names;
  }

  /** The last id of `symbol` in the log, or undefined when the log holds none of its trades. */
  async lastPublished(venue: string, market: string, symbol: string): Promise<number | undefined> {
    const partition = this.#names.partitionOf(venue, market, symbol);
    let data: Uint8Array;
    try {
      const message = await this.#jsm.direct.getMessage(this.#names.tradeStreamOf(partition), { last_by_subj: this.#names.tradeSubject(partition, venue, market, symbol) });
      if (message === null) return undefined;
      data = message.data;
    } catch (error) {
      if (/no message found|not found/i.test(String((error as Error)?.message))) return undefined;
      throw error;
    }
    const batch = decodeTradeBatch(data);
    const last = batch?.frames.at(-1);
    return last !== undefined && this.#parser.parse(last) ? this.#parser.trade.aggId : undefined;
  }
}
