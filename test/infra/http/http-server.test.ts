/**
 * The HTTP server itself over real sockets (no database: the store is a stand-in the test controls): request ids,
 * the 405's Allow header, the URL length limit (414) and body size limit (413) in each path's shape, a request body the
 * server cannot read, and the ordered close (in-flight requests finish, new connections are refused, close awaits).
 */
import t, { type Test } from 'tap';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import type { Kline } from '../../../src/domain/kline.ts';
import { HttpServer, type HttpServerOptions } from '../../../src/infra/http/http-server.ts';
import { getJson, silentLogger, testHttpContext, XRPETH } from './helpers.ts';

const TOKEN = 'a-long-enough-admin-token';

async function setup(t: Test, options: Partial<HttpServerOptions> = {}, range: () => Promise<Kline[]> = async () => []) {
  const context = testHttpContext(t, { store: { range }, adminToken: TOKEN });
  const http = await HttpServer.start({ host: '127.0.0.1', port: 0, context, logger: silentLogger, defaultMetrics: false, ...options });
  t.teardown(() => http.close());
  return http;
}

/** Sends a POST with a body over a fresh connection (fetch would refuse some of these). */
function post(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('every answer carries a request id, unique per request; refusals too', async (t) => {
  const http = await setup(t);
  const ids = new Set<string>();
  for (const path of ['/fapi/v1/ping', '/fapi/v1/time', '/nope', '/fapi/v1/klines']) {
    const response = await fetch(`${http.url}${path}`);
    const id = response.headers.get('x-request-id');
    t.match(id, /^[0-9a-f]{8}-[0-9a-z]+$/, `${path}: x-request-id`);
    t.equal(response.headers.get('cache-control'), 'no-store');
    ids.add(id!);
    await response.arrayBuffer();
  }
  t.equal(ids.size, 4, 'one id per request');
});

t.test('405 carries Allow, in the shape of its path; HEAD is served for GET routes', async (t) => {
  const http = await setup(t);
  const klagg = await fetch(`${http.url}/api/symbols`, { method: 'DELETE' });
  t.equal(klagg.status, 405);
  t.equal(klagg.headers.get('allow'), 'GET, HEAD');
  t.same(await klagg.json(), { code: 'KLAGG_ERR_HTTP_METHOD_NOT_ALLOWED', message: 'method DELETE not allowed; use GET, HEAD' });
  const binance = await fetch(`${http.url}/fapi/v1/ping`, { method: 'PUT' });
  t.equal(binance.status, 405);
  t.equal(binance.headers.get('allow'), 'GET, HEAD');
  t.same(await binance.json(), { code: -5000, msg: 'Path /fapi/v1/ping, Method PUT is invalid' });
  const head = await fetch(`${http.url}/fapi/v1/time`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(await head.text(), '', 'no body on HEAD');
  const unknown = await getJson(`${http.url}/fapi/v1/nothing`);
  t.same(unknown, { status: 404, body: { code: -5000, msg: 'Path /fapi/v1/nothing, Method GET is invalid' }, type: 'application/json; charset=utf-8' });
  const text = await (await fetch(`${http.url}/metrics`)).text();
  t.match(text, /klagg_http_requests_total\{method="DELETE",route="\/api\/symbols",status="405"\} 1/, '405 counted under the route it matched');
  t.match(text, /klagg_http_rejected_requests_total\{route="\/fapi\/v1\/ping",reason="-5000"\} 1/);
  t.match(text, /klagg_http_requests_total\{method="GET",route="unmatched",status="404"\} 1/);
});

t.test('URL length limit: 414 in the shape of the path', async (t) => {
  const http = await setup(t, { maxUrlLength: 300 });
  const klagg = await getJson(`${http.url}/api/symbols?pad=${'x'.repeat(400)}`);
  t.equal(klagg.status, 414);
  t.same(klagg.body, { code: 'KLAGG_ERR_HTTP_URL_TOO_LONG', message: 'request URL longer than 300 characters' });
  const binance = await getJson(`${http.url}/fapi/v1/klines?symbol=${'A'.repeat(400)}&interval=1m`);
  t.equal(binance.status, 414);
  t.same(binance.body, { code: -1101, msg: 'Too many parameters sent for this endpoint.' });
  t.equal((await getJson(`${http.url}/api/symbols?pad=${'x'.repeat(200)}`)).status, 200, 'under the limit: served');
});

t.test('body limit: 413; an unreadable body: 400; an unknown body type: 415 — all in the registry shape', async (t) => {
  const http = await setup(t, { bodyLimit: 1024 });
  const url = `${http.url}/admin/symbols/XRPETH/deactivate`;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const large = await post(url, JSON.stringify({ pad: 'x'.repeat(2000) }), { ...auth, 'content-type': 'application/json' });
  t.same(large, { status: 413, body: { code: 'KLAGG_ERR_HTTP_TOO_LARGE', message: 'request body larger than 1024 bytes' } });
  const broken = await post(url, '{not json', { ...auth, 'content-type': 'application/json' });
  t.equal(broken.status, 400);
  t.match(broken.body, { code: 'KLAGG_ERR_HTTP_BAD_REQUEST', message: /JSON/i });
  const binary = await post(url, 'abc', { ...auth, 'content-type': 'application/x-klagg' });
  t.equal(binary.status, 415);
  t.match(binary.body, { code: 'KLAGG_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE' });
  const fine = await post(url, '{}', { ...auth, 'content-type': 'application/json' });
  t.same(fine.body, { code: 'KLAGG_ERR_ADMIN_UNKNOWN_SYMBOL', message: 'unknown symbol XRPETH (it was never activated)' }, 'a small body reaches the route');
});

t.test('close: stops accepting, lets the request in flight finish, then resolves', async (t) => {
  let release!: () => void;
  let entered!: () => void;
  const inRange = new Promise<void>((resolve) => (entered = resolve));
  const http = await setup(t, {}, async () => {
    entered();
    await new Promise<void>((resolve) => (release = resolve));
    return [];
  });
  const slow = getJson(`${http.url}/fapi/v1/klines?symbol=XRPETH&interval=1m`);
  await inRange;
  let closed = false;
  const closing = http.close().then(() => (closed = true));
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(closed, false, 'close waits for the request in flight');
  await t.rejects(fetch(`${http.url}/fapi/v1/ping`), 'a new connection is refused');
  release();
  const answer = await slow;
  t.equal(answer.status, 200, 'the request in flight is answered');
  t.same(answer.body, []);
  await closing;
  t.equal(closed, true, 'close resolved once it was done');
});

t.test('close: a request arriving on an open connection meanwhile is refused with 503 and the connection closed', async (t) => {
  let release!: () => void;
  let entered!: () => void;
  const inRange = new Promise<void>((resolve) => (entered = resolve));
  const http = await setup(t, {}, async () => {
    entered();
    await new Promise<void>((resolve) => (release = resolve));
    return [];
  });
  const socket = connect(http.port, '127.0.0.1');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write('GET /fapi/v1/klines?symbol=XRPETH&interval=1m HTTP/1.1\r\nHost: x\r\n\r\n');
  await inRange;
  const closing = http.close();
  // The connection is busy, so the close keeps it; a second request on it (pipelined) comes in while closing.
  socket.write('GET /api/symbols HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((resolve) => setTimeout(resolve, 50));
  release();
  await ended;
  await closing;
  const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  t.same(statuses, [200, 503], "the request in flight answered, the new one refused");
  t.match(received, /"code":"KLAGG_ERR_HTTP_SHUTTING_DOWN"/);
  t.match(received, /connection: close/i);
});
