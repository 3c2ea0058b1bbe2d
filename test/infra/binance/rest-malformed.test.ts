import t from 'tap';
import { BinanceResponseError } from '../../../src/infra/binance/binance-error.ts';
import { BinanceRestClient } from '../../../src/infra/binance/rest-client.ts';
import { rejectionOf, startServer } from './support.ts';

const ROW = [1784550780000, '67231.40', '67260.00', '67218.10', '67245.90', '152.318', 1784550839999, '10241189.55621', 2871, '80.114', '5386466.72031', '0'];
const TRADE = { a: 3250112345, p: '67249.40', q: '0.015', f: 7012345670, l: 7012345671, T: 1784550896789, m: true };

function withField<T>(row: readonly T[], index: number, value: unknown): unknown[] {
  const copy: unknown[] = [...row];
  copy[index] = value;
  return copy;
}

interface Case {
  readonly name: string;
  readonly call: (client: BinanceRestClient) => Promise<unknown>;
  readonly endpoint: string;
  /** The body as sent, raw text. */
  readonly body: string;
  readonly contentType?: string;
  readonly problem: RegExp;
}

const klines = (client: BinanceRestClient): Promise<unknown> => client.klines('BTCUSDT', '1m');
const aggTrades = (client: BinanceRestClient): Promise<unknown> => client.aggTrades('BTCUSDT');

const CASES: Case[] = [
  {
    name: 'an HTML page with status 200',
    call: klines,
    endpoint: '/fapi/v1/klines',
    body: '<!DOCTYPE html><html><body>Access denied</body></html>',
    contentType: 'text/html',
    problem: /body is not JSON \(an HTML page, e\.g\. from a firewall or proxy\).*body starts "<!DOCTYPE html>/,
  },
  { name: 'truncated JSON', call: klines, endpoint: '/fapi/v1/klines', body: JSON.stringify([ROW]).slice(0, 40), problem: /body is not JSON: .*body starts "\[\[1784550780000/ },
  { name: 'an empty body', call: (client) => client.time(), endpoint: '/fapi/v1/time', body: '', problem: /empty body where JSON was expected/ },
  { name: 'an object where the klines array belongs', call: klines, endpoint: '/fapi/v1/klines', body: '{"code":0,"msg":"ok"}', problem: /the body must be an array, got an object/ },
  { name: 'a row that is not an array', call: klines, endpoint: '/fapi/v1/klines', body: JSON.stringify([ROW, { t: 1 }]), problem: /row 1 must be an array of 12 fields, got an object/ },
  { name: 'a row of 11 fields', call: klines, endpoint: '/fapi/v1/klines', body: JSON.stringify([ROW, ROW.slice(0, 11)]), problem: /row 1 has 11 fields, expected 12/ },
  {
    name: 'a number where a decimal string belongs',
    call: klines,
    endpoint: '/fapi/v1/klines',
    body: JSON.stringify([withField(ROW, 1, 67231.4)]),
    problem: /row 0: field 1 \(open\) must be a decimal string, got 67231\.4/,
  },
  {
    name: 'a string that is not a plain decimal',
    call: klines,
    endpoint: '/fapi/v1/klines',
    body: JSON.stringify([withField(ROW, 5, '1e3')]),
    problem: /row 0: field 5 \(volume\) must be a decimal string, got "1e3"/,
  },
  {
    name: 'a fractional open time',
    call: klines,
    endpoint: '/fapi/v1/klines',
    body: JSON.stringify([ROW, withField(ROW, 0, 1784550840000.5)]),
    problem: /row 1: field 0 \(openTime\) must be an integer, got 1784550840000\.5/,
  },
  {
    name: 'a string close time',
    call: klines,
    endpoint: '/fapi/v1/klines',
    body: JSON.stringify([withField(ROW, 6, '1784550839999')]),
    problem: /row 0: field 6 \(closeTime\) must be an integer, got "1784550839999"/,
  },
  {
    name: 'a negative trade count',
    call: klines,
    endpoint: '/fapi/v1/klines',
    body: JSON.stringify([withField(ROW, 8, -1)]),
    problem: /row 0: field 8 \(tradeCount\) must not be negative, got -1/,
  },
  {
    name: 'rows out of order',
    call: klines,
    endpoint: '/fapi/v1/klines',
    body: JSON.stringify([ROW, ROW]),
    problem: /row 1: openTime 1784550780000 does not follow row 0's 1784550780000/,
  },
  { name: 'aggTrades: an object where the array belongs', call: aggTrades, endpoint: '/fapi/v1/aggTrades', body: JSON.stringify(TRADE), problem: /the body must be an array, got an object/ },
  {
    name: 'aggTrades: a missing m',
    call: aggTrades,
    endpoint: '/fapi/v1/aggTrades',
    body: JSON.stringify([{ ...TRADE, m: undefined }]),
    problem: /item 0: m must be a boolean, got nothing \(missing\)/,
  },
  {
    name: 'aggTrades: an id given as a string',
    call: aggTrades,
    endpoint: '/fapi/v1/aggTrades',
    body: JSON.stringify([TRADE, { ...TRADE, a: '3250112346' }]),
    problem: /item 1: a must be an integer, got "3250112346"/,
  },
  {
    name: 'aggTrades: a price given as a number',
    call: aggTrades,
    endpoint: '/fapi/v1/aggTrades',
    body: JSON.stringify([{ ...TRADE, p: 67249.4 }]),
    problem: /item 0: p must be a decimal string, got 67249\.4/,
  },
  {
    name: 'aggTrades: ids not ascending',
    call: aggTrades,
    endpoint: '/fapi/v1/aggTrades',
    body: JSON.stringify([TRADE, { ...TRADE, a: TRADE.a - 1 }]),
    problem: /item 1: a 3250112344 does not follow item 0's 3250112345/,
  },
  {
    name: 'time: serverTime missing',
    call: (client) => client.time(),
    endpoint: '/fapi/v1/time',
    body: '{"time":1784550896789}',
    problem: /serverTime must be an integer, got nothing \(missing\)/,
  },
  { name: 'time: an array', call: (client) => client.time(), endpoint: '/fapi/v1/time', body: '[1784550896789]', problem: /expected an object \{"serverTime":…\}, got an array of 1/ },
  {
    name: 'exchangeInfo: symbols missing',
    call: (client) => client.exchangeInfo(),
    endpoint: '/fapi/v1/exchangeInfo',
    body: '{"rateLimits":[]}',
    problem: /symbols must be an array, got nothing \(missing\)/,
  },
  {
    name: 'exchangeInfo: a symbol with a string onboardDate',
    call: (client) => client.exchangeInfo(),
    endpoint: '/fapi/v1/exchangeInfo',
    body: JSON.stringify({
      rateLimits: [],
      symbols: [
        { symbol: 'BTCUSDT', pair: 'BTCUSDT', contractType: 'PERPETUAL', status: 'TRADING', baseAsset: 'BTC', quoteAsset: 'USDT', onboardDate: '1569398400000', deliveryDate: 4133404800000 },
      ],
    }),
    problem: /symbols\[0\] \(BTCUSDT\)\.onboardDate must be an integer, got "1569398400000"/,
  },
  {
    name: 'exchangeInfo: a tickSize that is a number',
    call: (client) => client.exchangeInfo(),
    endpoint: '/fapi/v1/exchangeInfo',
    body: JSON.stringify({
      rateLimits: [],
      symbols: [
        {
          symbol: 'BTCUSDT',
          pair: 'BTCUSDT',
          contractType: 'PERPETUAL',
          status: 'TRADING',
          baseAsset: 'BTC',
          quoteAsset: 'USDT',
          onboardDate: 1569398400000,
          deliveryDate: 4133404800000,
          filters: [{ filterType: 'PRICE_FILTER', tickSize: 0.1 }],
        },
      ],
    }),
    problem: /symbols\[0\] \(BTCUSDT\): PRICE_FILTER\.tickSize must be a decimal string, got 0\.1/,
  },
  {
    name: 'exchangeInfo: a rate limit without a limit',
    call: (client) => client.exchangeInfo(),
    endpoint: '/fapi/v1/exchangeInfo',
    body: JSON.stringify({ symbols: [], rateLimits: [{ rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1 }] }),
    problem: /rateLimits\[0\]\.limit must be an integer, got nothing \(missing\)/,
  },
];

for (const testCase of CASES) {
  t.test(`${testCase.name} → BinanceResponseError naming the endpoint and the problem, not retried`, async (t) => {
    const server = await startServer((_request, response) => {
      response.writeHead(200, { 'content-type': testCase.contentType ?? 'application/json' });
      response.end(testCase.body);
    });
    t.teardown(() => server.close());
    const client = new BinanceRestClient({ baseUrl: server.baseUrl, sleep: async () => {} });
    const error = await rejectionOf(testCase.call(client));
    t.ok(error instanceof BinanceResponseError, `a BinanceResponseError, got ${String(error)}`);
    const responseError = error as BinanceResponseError;
    t.equal(responseError.endpoint, testCase.endpoint);
    t.match(responseError.message, `GET ${testCase.endpoint}`, 'the message names the request');
    t.match(responseError.problem, testCase.problem);
    t.equal(server.requests.length, 1, 'sent once');
    t.equal(client.stats.retries, 0);
  });
}
