/**
 * Fuzzing the WebSocket control protocol (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET/GET_PROPERTY) with
 * property-based tests: the request handler itself at volume, then klagg's kline stream server and the fake exchange's
 * market-stream server over real loopback sockets — arbitrary JSON and non-JSON text, binary frames, wrong method /
 * params / id types, messages over the size limit, bytes that are not UTF-8 in a text frame.
 *
 * Properties: every message gets one Binance-shaped reply carrying the request's id when it has a valid one (null
 * otherwise), errors as `{"error":{"code","msg"},"id"}`; the connection stays usable (a valid SUBSCRIBE afterwards is
 * acknowledged and listed); every message and every error reply is counted (`requests`, `requestErrors`); a message
 * over the size limit closes the connection with 1009 (counted in `closedMessageTooBig`), a text frame that is not
 * UTF-8 with 1007; the server keeps serving other connections throughout.
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { handleStreamRequest, validRequestId, type StreamSession } from '../../src/infra/binance-ws/request-protocol.ts';
import { FakeExchange } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { HttpMetrics } from '../../src/infra/http/metrics.ts';
import { LimitMetrics } from '../../src/infra/http/limit-metrics.ts';
import { WsClient, type Json } from '../support/ws-client.ts';
import { startHarness } from '../infra/stream-server/helpers.ts';
import { fuzzParameters, fuzzRuns, fuzzTitle } from '../support/fuzz.ts';

const LIMIT = 64 * 1024;

// ---- generators ------------------------------------------------------------------------------------------------------

const METHODS = ['SUBSCRIBE', 'UNSUBSCRIBE', 'LIST_SUBSCRIPTIONS', 'SET_PROPERTY', 'GET_PROPERTY'];

const streamName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('btcusdt@kline_1m', 'ethusdt@kline_1h', 'btcusdt@kline_7m', 'BTCUSDT@kline_1m', 'btcusdt@aggTrade', 'btcusdt@kline_', '@kline_1m', 'btcusdt@kline_1m ', '!miniTicker@arr', ''),
  fc.string({ unit: 'grapheme', maxLength: 24 }),
);

const idValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.nat(),
  fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, -1, 1.5, 1e300, 'abc', '', 'x'.repeat(64), 'x'.repeat(65), null, true, [], {}),
  fc.string({ maxLength: 70 }),
  fc.jsonValue({ maxDepth: 1 }),
);

/** A request object: method, params and id each valid, of a wrong type, or absent, plus extra keys. */
const requestObject: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      method: fc.oneof(fc.constantFrom(...METHODS), fc.constantFrom('subscribe', 'SUBSCRIBE ', 'PING', ''), fc.jsonValue({ maxDepth: 1 })),
      params: fc.oneof(
        fc.array(streamName, { maxLength: 6 }),
        fc.constantFrom(['combined'], ['combined', true], ['combined', 'true'], ['combined', false, 1], [1], [null], [['btcusdt@kline_1m']], 'btcusdt@kline_1m', {}),
        fc.jsonValue({ maxDepth: 2 }),
      ),
      id: idValue,
      extra: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  )
  .map((r) => r as Record<string, unknown>);

/** A well-formed request (which may still name streams that are not served, or too many). */
const wellFormed: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ method: fc.constantFrom('SUBSCRIBE', 'UNSUBSCRIBE'), params: fc.array(fc.constantFrom('btcusdt@kline_1m', 'ethusdt@kline_1h', 'xrpusdt@kline_1m', 'btcusdt@kline_7m'), { maxLength: 5 }), id: fc.nat() }),
  fc.record({ method: fc.constant('LIST_SUBSCRIPTIONS'), id: fc.oneof(fc.nat(), fc.string({ minLength: 1, maxLength: 64 })) }),
  fc.record({ method: fc.constant('SET_PROPERTY'), params: fc.tuple(fc.constant('combined'), fc.boolean()), id: fc.nat() }),
  fc.record({ method: fc.constant('GET_PROPERTY'), params: fc.constant(['combined']), id: fc.nat() }),
);

/** Any text a client could send: request objects, other JSON, broken JSON, arbitrary text. */
const messageText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: wellFormed.map((r) => JSON.stringify(r)) },
  { weight: 5, arbitrary: requestObject.map((r) => JSON.stringify(r)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: requestObject.chain((r) => { const text = JSON.stringify(r); return fc.nat({ max: Math.max(0, text.length - 1) }).map((cut) => text.slice(0, cut)); }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 60 }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', '[]', '{}', '{"method":"SUBSCRIBE"}', '{"id":1}', '{"method":"SUBSCRIBE","params":[],"id":1,"method":"LIST_SUBSCRIPTIONS"}', '\u0000', '{"__proto__":{"id":1},"method":"LIST_SUBSCRIPTIONS"}') },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 60_000 }).map((n) => JSON.stringify({ method: 'SUBSCRIBE', params: ['x'.repeat(n)], id: 7 })) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 60_000 }).map((n) => JSON.stringify({ method: 'M'.repeat(n), id: 8 })) },
);

// ---- expectations ------------------------------------------------------------------------------------------------------

/** The id a reply must carry: the request's own when it is an object with a valid id, else null. */
function expectedId(text: string): unknown {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
    const id = (value as Record<string, unknown>)['id'];
    return validRequestId(id) ? id : null;
  } catch {
    return null;
  }
}

/** The reply's shape for the message; returns whether it is an error. */
function checkReply(text: string, reply: Json): boolean {
  const where = `${JSON.stringify(text.slice(0, 200))} → ${JSON.stringify(reply).slice(0, 300)}`;
  if (typeof reply !== 'object' || reply === null || Array.isArray(reply)) throw new Error(`reply not an object: ${where}`);
  if (!isDeepStrictEqual(reply.id, expectedId(text))) throw new Error(`reply id ${JSON.stringify(reply.id)}, wanted ${JSON.stringify(expectedId(text))}: ${where}`);
  if ('error' in reply) {
    const keys = Object.keys(reply).sort().join(',');
    const error = reply.error;
    if (keys !== 'error,id' || typeof error !== 'object' || error === null || Object.keys(error).sort().join(',') !== 'code,msg' || !Number.isInteger(error.code) || typeof error.msg !== 'string' || error.msg === '') {
      throw new Error(`not Binance's error shape: ${where}`);
    }
    // The error names what is wrong without echoing the whole message back.
    if (JSON.stringify(reply).length > 1024) throw new Error(`error reply of ${JSON.stringify(reply).length} bytes: ${where}`);
    return true;
  }
  if (Object.keys(reply).sort().join(',') !== 'id,result') throw new Error(`not Binance's result shape: ${where}`);
  return false;
}

t.test(fuzzTitle(fuzzRuns(20000), 'control messages to the request handler: never a throw, one Binance-shaped reply with the request id'), async (t) => {
  const runs = fuzzRuns(20000);
  let errors = 0;
  fc.assert(
    fc.property(messageText, fc.array(streamName, { maxLength: 3 }), fc.boolean(), (text, held, combined) => {
      const session: StreamSession & { streams: Set<string> } = { streams: new Set(held.filter((name) => name.startsWith('b'))), combined };
      const rules = { isValidStream: (name: string) => /^[a-z0-9]+@kline_(1m|1h)$/.test(name), maxStreams: 4 };
      const outcome = handleStreamRequest(text, session, rules);
      if (checkReply(text, JSON.parse(JSON.stringify(outcome.reply)))) errors++;
      if (outcome.kind === 'error' !== ('error' in outcome.reply)) throw new Error(`kind ${outcome.kind} with reply ${JSON.stringify(outcome.reply)}`);
      if (outcome.kind === 'subscribe') {
        if (outcome.streams.some((s) => !rules.isValidStream(s) || session.streams.has(s))) throw new Error(`subscribes ${JSON.stringify(outcome.streams)}`);
        if (new Set(outcome.streams).size !== outcome.streams.length || session.streams.size + outcome.streams.length > rules.maxStreams) throw new Error('over the limit or repeated');
      }
      if (outcome.kind === 'unsubscribe' && outcome.streams.some((s) => !rules.isValidStream(s))) throw new Error(`unsubscribes ${JSON.stringify(outcome.streams)}`);
    }),
    fuzzParameters(runs),
  );
  t.ok(errors > runs / 2 && errors < runs, `mostly errors, some accepted (${errors} errors of ${runs})`);
});

// ---- over real sockets -------------------------------------------------------------------------------------------------

interface Server {
  readonly url: string;
  /** A stream the server accepts in SUBSCRIBE. */
  readonly validStream: string;
  stats(): { requests: number; requestErrors: number; closedMessageTooBig: number };
  /** klagg's Prometheus metrics with the server's counters attached, as `klagg run` serves them. */
  readonly metrics?: HttpMetrics;
}

/** The value of a counter in the metrics. */
async function metricValue(metrics: HttpMetrics, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  const matching = (await metric?.get())?.values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
  return matching === undefined ? Number.NaN : matching.reduce((sum, { value }) => sum + value, 0);
}

/** klagg's kline stream server on loopback, with no message rate limit in the way. */
async function klaggStreams(t: Test): Promise<Server> {
  const h = await startHarness({ maxMessagesPerSecond: 1_000_000 });
  t.teardown(() => h.close());
  const metrics = new HttpMetrics({ defaultMetrics: false });
  metrics.attachStreamClients(() => h.streams.stats);
  new LimitMetrics(metrics.registry, 'klagg_').attachStreams(() => h.streams.stats);
  return { url: `${h.base}/market/ws`, validStream: 'btcusdt@kline_1m', stats: () => h.streams.stats, metrics };
}

/** The fake exchange's market streams (nothing published: only replies arrive). */
async function fakeExchangeStreams(t: Test): Promise<Server> {
  const exchange = await FakeExchange.start({ source: { kind: 'generated', symbols: 2, rate: 1, seed: 1, quietPeriods: false }, autoPublish: false, maxMessagesPerSecond: 1_000_000 });
  t.teardown(() => exchange.close());
  const symbol = exchange.market.symbols()[0]!.symbol.toLowerCase();
  return { url: `${exchange.wsUrl}/market/ws`, validStream: `${symbol}@aggTrade`, stats: () => exchange.stats().ws };
}

const isReply = (m: Json): boolean => typeof m === 'object' && m !== null && !Array.isArray(m) && ('id' in m || 'error' in m);

async function fuzzConnection(t: Test, server: Server, runs: number): Promise<void> {
  const client = await WsClient.open(server.url);
  t.teardown(() => client.close());
  const before = server.stats();
  let errors = 0;
  let sent = 0;
  let nextId = 1_000_000_000;
  await fc.assert(
    fc.asyncProperty(messageText, fc.boolean(), async (text, binary) => {
      client.ws.send(binary ? Buffer.from(text) : text, { binary });
      sent++;
      if (checkReply(text, await client.next(isReply))) errors++;
      // Still usable: a valid SUBSCRIBE is acknowledged and listed.
      const id = nextId++;
      const ack = await client.request({ method: 'SUBSCRIBE', params: [server.validStream], id });
      if (!isDeepStrictEqual(ack, { result: null, id })) throw new Error(`SUBSCRIBE after ${JSON.stringify(text.slice(0, 100))}: ${JSON.stringify(ack)}`);
      const list = await client.request({ method: 'LIST_SUBSCRIPTIONS', id: `l${id}` });
      if (!Array.isArray(list.result) || !list.result.includes(server.validStream)) throw new Error(`not listed: ${JSON.stringify(list)}`);
      await client.request({ method: 'UNSUBSCRIBE', params: list.result.filter((s: string) => s !== server.validStream), id: `u${id}` });
      sent += 3;
    }),
    fuzzParameters(runs),
  );
  const after = server.stats();
  t.equal(after.requests - before.requests, sent, 'every message counted');
  t.equal(after.requestErrors - before.requestErrors, errors, 'every error reply counted');
  t.ok(errors > 0, `${errors} error replies`);
  if (server.metrics !== undefined) {
    t.equal(await metricValue(server.metrics, 'klagg_ws_requests_total'), after.requests, 'klagg_ws_requests_total');
    t.equal(await metricValue(server.metrics, 'klagg_ws_request_errors_total'), after.requestErrors, 'klagg_ws_request_errors_total');
  }
}

/** Messages over the limit close with 1009; text frames that are not UTF-8 with 1007; other clients are unaffected. */
async function fuzzClosing(t: Test, server: Server, runs: number): Promise<void> {
  const bystander = await WsClient.open(server.url);
  t.teardown(() => bystander.close());
  const before = server.stats().closedMessageTooBig;
  let tooBig = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.record({ kind: fc.constant('too-big' as const), size: fc.integer({ min: LIMIT + 1, max: 1 << 20 }), binary: fc.boolean() }),
        fc.record({ kind: fc.constant('not-utf8' as const), size: fc.integer({ min: 1, max: 100 }), binary: fc.constant(false) }),
      ),
      async ({ kind, size, binary }) => {
        const client = await WsClient.open(server.url);
        try {
          const payload = kind === 'too-big' ? Buffer.alloc(size, 0x7b) : Buffer.concat([Buffer.from('{"id":1,"method":"'), Buffer.alloc(size, 0xff), Buffer.from('"}')]);
          client.ws.send(payload, { binary });
          const closed = await client.closed;
          const wanted = kind === 'too-big' ? 1009 : 1007;
          if (closed.code !== wanted) throw new Error(`${kind} (${size} bytes): closed ${closed.code} ${closed.reason}, wanted ${wanted}`);
          if (kind === 'too-big') tooBig++;
        } finally {
          client.close();
        }
        const id = `still-${tooBig}`;
        const ack = await bystander.request({ method: 'LIST_SUBSCRIPTIONS', id });
        if (ack.id !== id) throw new Error('the other connection stopped answering');
      },
    ),
    fuzzParameters(runs),
  );
  t.equal(server.stats().closedMessageTooBig - before, tooBig, 'each close for size counted');
  if (server.metrics !== undefined) t.equal(await metricValue(server.metrics, 'klagg_limits_ws_clients_dropped_total', { reason: 'message_too_big' }), server.stats().closedMessageTooBig, 'klagg_limits_ws_clients_dropped_total{reason="message_too_big"}');
}

t.test(fuzzTitle(fuzzRuns(2000), "control messages to klagg's kline stream server over a socket: a reply with the id, still usable, counted"), async (t) => {
  await fuzzConnection(t, await klaggStreams(t), fuzzRuns(2000));
});

t.test(fuzzTitle(fuzzRuns(2000), "control messages to the fake exchange's stream server over a socket: the same"), async (t) => {
  await fuzzConnection(t, await fakeExchangeStreams(t), fuzzRuns(2000));
});

t.test(fuzzTitle(fuzzRuns(100), "oversized and non-UTF-8 messages to klagg's kline stream server: closed 1009 / 1007, counted, others unaffected"), async (t) => {
  await fuzzClosing(t, await klaggStreams(t), fuzzRuns(100));
});

t.test(fuzzTitle(fuzzRuns(100), "oversized and non-UTF-8 messages to the fake exchange's stream server: the same"), async (t) => {
  await fuzzClosing(t, await fakeExchangeStreams(t), fuzzRuns(100));
});
