import t from 'tap';
import { ManualClock } from '../../../src/infra/clock.ts';
import { BinanceRestClient } from '../../../src/infra/binance/rest-client.ts';
import { requestWeightLimitPerMinute } from '../../../src/domain/exchange-api.ts';
import { rejectionOf, sendJson, startServer } from './support.ts';

const EXCHANGE_INFO = {
  timezone: 'UTC',
  serverTime: 1784550896789,
  rateLimits: [
    { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 2400 },
    { rateLimitType: 'ORDERS', interval: 'MINUTE', intervalNum: 1, limit: 1200 },
  ],
  exchangeFilters: [],
  assets: [{ asset: 'USDT', marginAvailable: true, autoAssetExchange: '0' }],
  symbols: [
    {
      symbol: 'BTCUSDT',
      pair: 'BTCUSDT',
      contractType: 'PERPETUAL',
      deliveryDate: 4133404800000,
      onboardDate: 1569398400000,
      status: 'TRADING',
      baseAsset: 'BTC',
      quoteAsset: 'USDT',
      marginAsset: 'USDT',
      pricePrecision: 2,
      quantityPrecision: 3,
      filters: [
        { filterType: 'PRICE_FILTER', minPrice: '261.10', maxPrice: '809484', tickSize: '0.10' },
        { filterType: 'LOT_SIZE', minQty: '0.001', maxQty: '1000', stepSize: '0.001' },
        { filterType: 'MIN_NOTIONAL', notional: '100' },
      ],
      orderTypes: ['LIMIT', 'MARKET'],
      st: 1,
    },
    {
      symbol: 'NEWCOINUSDT',
      pair: 'NEWCOINUSDT',
      contractType: 'PERPETUAL',
      deliveryDate: 4133404800000,
      onboardDate: 1784707200000,
      status: 'PENDING_TRADING',
      baseAsset: 'NEWCOIN',
      quoteAsset: 'USDT',
      filters: [{ filterType: 'MARKET_LOT_SIZE', stepSize: '1' }],
    },
  ],
};

const KLINE_ROWS = [
  [1784550780000, '67231.40', '67260.00', '67218.10', '67245.90', '152.318', 1784550839999, '10241189.55621', 2871, '80.114', '5386466.72031', '0'],
  [1784550840000, '67245.90', '67251.30', '67240.00', '67249.50', '41.207', 1784550899999, '2771020.31522', 812, '23.905', '1607542.07154', '0'],
];

const AGG_TRADES = [
  { a: 3250112345, p: '67249.40', q: '0.015', nq: '0.015', f: 7012345670, l: 7012345671, T: 1784550896789, m: true },
  { a: 3250112346, p: '67249.50', q: '0.200', nq: '0.200', f: 7012345672, l: 7012345675, T: 1784550896791, m: false },
];

t.test('time, exchangeInfo, klines and aggTrades are parsed exactly', async (t) => {
  const server = await startServer((request, response) => {
    if (request.path === '/fapi/v1/time') return sendJson(response, 200, { serverTime: 1784550896789 });
    if (request.path === '/fapi/v1/exchangeInfo') return sendJson(response, 200, EXCHANGE_INFO);
    if (request.path === '/fapi/v1/klines') return sendJson(response, 200, KLINE_ROWS);
    if (request.path === '/fapi/v1/aggTrades') return sendJson(response, 200, AGG_TRADES);
    return sendJson(response, 404, { code: -1, msg: 'no such route' });
  });
  t.teardown(() => server.close());
  const client = new BinanceRestClient({ baseUrl: server.baseUrl });

  t.equal(await client.time(), 1784550896789);

  const info = await client.exchangeInfo();
  t.same(info, {
    serverTime: 1784550896789,
    rateLimits: EXCHANGE_INFO.rateLimits,
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
        tickSize: '0.10',
        stepSize: '0.001',
      },
      {
        symbol: 'NEWCOINUSDT',
        pair: 'NEWCOINUSDT',
        contractType: 'PERPETUAL',
        status: 'PENDING_TRADING',
        baseAsset: 'NEWCOIN',
        quoteAsset: 'USDT',
        onboardDate: 1784707200000,
        deliveryDate: 4133404800000,
        tickSize: undefined,
        stepSize: undefined,
      },
    ],
  });
  t.equal(requestWeightLimitPerMinute(info), 2400, 'the REQUEST_WEIGHT limit per minute');
  t.equal(requestWeightLimitPerMinute({ ...info, rateLimits: info.rateLimits.slice(1) }), undefined, 'none listed');
  client.setWeightLimit(1200);
  t.equal(client.budget.budget, 960, 'the budget follows the limit set');
  client.setWeightLimit(requestWeightLimitPerMinute(info)!);
  t.equal(client.budget.budget, 1920);

  const klines = await client.klines('BTCUSDT', '1m', { startTime: 1784550780000, endTime: 1784550899999, limit: 2 });
  t.same(klines, [
    {
      openTime: 1784550780000,
      open: '67231.40',
      high: '67260.00',
      low: '67218.10',
      close: '67245.90',
      volume: '152.318',
      closeTime: 1784550839999,
      quoteVolume: '10241189.55621',
      tradeCount: 2871,
      takerBuyVolume: '80.114',
      takerBuyQuoteVolume: '5386466.72031',
    },
    {
      openTime: 1784550840000,
      open: '67245.90',
      high: '67251.30',
      low: '67240.00',
      close: '67249.50',
      volume: '41.207',
      closeTime: 1784550899999,
      quoteVolume: '2771020.31522',
      tradeCount: 812,
      takerBuyVolume: '23.905',
      takerBuyQuoteVolume: '1607542.07154',
    },
  ]);
  const klinesRequest = server.requests.find((request) => request.path === '/fapi/v1/klines')!;
  t.equal(klinesRequest.query.toString(), 'symbol=BTCUSDT&interval=1m&startTime=1784550780000&endTime=1784550899999&limit=2');

  const trades = await client.aggTrades('BTCUSDT', { fromId: 3250112345, limit: 2 });
  t.same(trades, [
    {
      symbol: 'BTCUSDT',
      aggId: 3250112345,
      price: '67249.40',
      qty: '0.015',
      firstTradeId: 7012345670,
      lastTradeId: 7012345671,
      tradeTime: 1784550896789,
      buyerIsMaker: true,
    },
    {
      symbol: 'BTCUSDT',
      aggId: 3250112346,
      price: '67249.50',
      qty: '0.200',
      firstTradeId: 7012345672,
      lastTradeId: 7012345675,
      tradeTime: 1784550896791,
      buyerIsMaker: false,
    },
  ]);
  t.notOk('nq' in trades[0]!, 'unknown fields such as nq are not carried over');
  const tradesRequest = server.requests.find((request) => request.path === '/fapi/v1/aggTrades')!;
  t.equal(tradesRequest.query.toString(), 'symbol=BTCUSDT&fromId=3250112345&limit=2');

  t.same(client.stats, { requests: 4, retries: 0, http429: 0, http418: 0, weightUsed: 1 + 1 + 1 + 20, inFlight: 0 });
});

t.test('klines weight follows the limit: 1-99 → 1, 100-499 → 2, 500-1000 → 5, above → 10; default 500 → 5', async (t) => {
  const server = await startServer((_request, response) => sendJson(response, 200, []));
  t.teardown(() => server.close());
  const cases: [number | undefined, number][] = [
    [1, 1],
    [99, 1],
    [100, 2],
    [499, 2],
    [500, 5],
    [1000, 5],
    [1001, 10],
    [1500, 10],
    [undefined, 5],
  ];
  for (const [limit, weight] of cases) {
    const client = new BinanceRestClient({ baseUrl: server.baseUrl });
    t.same(await client.klines('BTCUSDT', '5m', limit === undefined ? {} : { limit }), []);
    t.equal(client.stats.weightUsed, weight, `limit ${limit ?? 'default'} weighs ${weight}`);
    t.equal(client.budget.usedThisMinute, weight, 'and is counted in the budget');
  }
});

t.test('bad arguments are refused before anything is sent', async (t) => {
  const server = await startServer((_request, response) => sendJson(response, 200, []));
  t.teardown(() => server.close());
  const client = new BinanceRestClient({ baseUrl: server.baseUrl });
  t.match(await rejectionOf(client.klines('BTCUSDT', '1m', { limit: 1501 })), { name: 'RangeError', message: /limit must be an integer from 1 to 1500, got 1501/ });
  t.match(await rejectionOf(client.klines('BTCUSDT', '1m', { limit: 0 })), { name: 'RangeError' });
  t.match(await rejectionOf(client.aggTrades('BTCUSDT', { limit: 1001 })), { name: 'RangeError', message: /1 to 1000/ });
  t.match(await rejectionOf(client.aggTrades('BTCUSDT', { startTime: 1.5 })), { name: 'RangeError', message: /startTime/ });
  t.match(await rejectionOf(client.klinesRange('BTCUSDT', '1m', 2000, 1000)), { name: 'RangeError', message: /after endTime/ });
  t.equal(server.requests.length, 0);
  t.equal(client.stats.requests, 0);
});

t.test('measureTimeOffset: server time minus the midpoint of the round trip, on the injected clock', async (t) => {
  const clock = new ManualClock(1_000_000);
  const server = await startServer((_request, response) => {
    clock.advance(40); // the round trip takes 40 ms of the client's clock
    sendJson(response, 200, { serverTime: 1_004_020 });
  });
  t.teardown(() => server.close());
  const client = new BinanceRestClient({ baseUrl: server.baseUrl, clock });
  t.same(await client.measureTimeOffset(), { offsetMs: 4_000, rttMs: 40 }, 'sent at 1 000 000, back at 1 000 040, midpoint 1 000 020');
});
