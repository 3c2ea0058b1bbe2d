/**
 * `npm run soak -- --minutes N`: the soak under faults at ten times a busy market (test/support/soak/soak-run.ts has
 * the scenario, the verdicts and how each number is computed). A benchmark-style run, not part of `npm test`. Its
 * 2-minute twin, `test/soak/soak.test.ts`, is part of `npm test`. Prints per-minute lines, the recovery table, revisions by cause and, last,
 * `soak <minutes> min: <n> trades, lost <n>, klines differ <n>, clients stale <n>, rss drift <pct>%, loop p99 <ms> ms`.
 * Exit code 1 when a trade is lost, a kline differs from the fault-free replay or a client's last event is stale.
 *
 * Options: --minutes N (default 30), --symbols, --rate (trades/s), --clients, --outage-seconds, --fault-every-seconds
 * (default 6), --seed, --keep (keep the files and databases of a green run too, to read klagg.log).
 *
 * The npm script gives this process a 12 GB heap: the fake exchange keeps every trade it published (REST aggTrades
 * serves gap repairs from them, the 24 h ticker reads them). Its TradeLog keeps them compact (49 bytes each, 1.4 GB
 * after 30 minutes at 20,000/s); the ticker's arrays and the harness's own records come on top. The service's memory
 * is its own process's.
 */
import { parseArgs } from 'node:util';
import { runSoak } from '../test/support/soak/soak-run.ts';
import { reportLines } from '../test/support/soak/soak-report.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    symbols: { type: 'string' },
    rate: { type: 'string' },
    clients: { type: 'string' },
    'outage-seconds': { type: 'string' },
    'fault-every-seconds': { type: 'string' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const number = (value: string | undefined): number | undefined => (value === undefined ? undefined : Number(value));
const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new RangeError(`--minutes must be a number > 0, got ${values.minutes}`);
const started = Date.now();
const log = (line: string): void => console.log(`[+${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const result = await runSoak({
  minutes,
  symbols: number(values.symbols),
  rate: number(values.rate),
  clients: number(values.clients),
  outageMs: values['outage-seconds'] === undefined ? undefined : Number(values['outage-seconds']) * 1000,
  faultEveryMs: values['fault-every-seconds'] === undefined ? undefined : Number(values['fault-every-seconds']) * 1000,
  seed: number(values.seed),
  keep: values.keep,
  log,
});
for (const line of reportLines(result)) console.log(line);
process.exitCode = result.lost !== 0 || result.klinesDiffer !== 0 || result.clientsStale !== 0 ? 1 : 0;
