/**
 * The HTTP server's limits over real sockets, each with its status, its body in the shape of the path, its counter
 * (`klagg_limits_http_refused_total{limit}`), and a well-behaved request beside it that is served: header size (431),
 * a client too slow with its headers or its body (408), an idle keep-alive connection (closed), URL length (414) and
 * body size (413) counted by limit, and the admin routes only for loopback unless configured — a non-loopback peer
 * is this machine's own non-loopback address (eth0), the server bound to all addresses for that test.
 */
import { connect, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import t, { type Test } from 'tap';
import { AdminAccess } from '../../../src/infra/http/admin-access.ts';
import { HttpServer, type HttpServerOptions } from '../../../src/infra/http/http-server.ts';
import { getJson, silentLogger, testHttpContext, XRPETH } from './helpers.ts';

const TOKEN = 'a-long-enough-admin-token';

async function setup(t: Test, options: Partial<HttpServerOptions> = {}, adminAccess?: AdminAccess): Promise<HttpServer> {
  const context = testHttpContext(t, { adminToken: TOKEN, adminAccess });
  const http = await HttpServer.start({ host: '127.0.0.1', port: 0, context, logger: silentLogger, defaultMetrics: false, ...options });
  t.teardown(() => http.close());
  return http;
}

interface RawAnswer {
  readonly status: number;
  readonly headers: string;
  readonly body: unknown;
}

/**
 * Writes `parts` on a fresh TCP connection (the last one left unfinished when the test is about a slow client) and
 * reads until the server closes it.
 */
function raw(port: number, parts: readonly string[], options: { host?: string; localAddress?: string } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: options.host ?? '127.0.0.1', localAddress: options.localAddress }, () => {
      for (const part of parts) socket.write(part);
    });
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head, body: body === '' ? undefined : (JSON.parse(body) as unknown) });
    });
  });
}

/** The limit's counter, read from the server's registry (not over HTTP: no connection of its own). */
const limitCount = async (http: HttpServer, limit: string): Promise<number> => {
  const text = await http.metrics.text();
  return Number(new RegExp(`klagg_limits_http_refused_total\\{limit="${limit}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
};

t.test('headers over maxHeaderBytes: 431 in the shape of the path, counted; a normal request is served', async (t) => {
  const http = await setup(t, { maxHeaderBytes: 2048 });
  const big = `x-pad: ${'p'.repeat(3000)}\r\n`;
  const klagg = await raw(http.port, [`GET /api/symbols HTTP/1.1\r\nHost: x\r\n${big}\r\n`]);
  t.equal(klagg.status, 431);
  t.same(klagg.body, { code: 'KLAGG_ERR_HTTP_HEADERS_TOO_LARGE', message: 'request headers larger than 2048 bytes' });
  t.match(klagg.headers, /content-type: application\/json/i);
  const binance = await raw(http.port, [`GET /fapi/v1/klines?symbol=XRPETH&interval=1m HTTP/1.1\r\nHost: x\r\n${big}\r\n`]);
  t.equal(binance.status, 431);
  t.same(binance.body, { code: -1000, msg: 'Request header fields too large: at most 2048 bytes.' });
  t.equal((await getJson(`${http.url}/api/symbols`, { headers: { 'x-pad': 'p'.repeat(1000) } })).status, 200, 'headers under the limit: served');
  t.equal(await limitCount(http, 'header_size'), 2);
});

t.test('a client that does not finish its headers in time: 408, disconnected, counted; others are served meanwhile', async (t) => {
  const http = await setup(t, { headersTimeoutMs: 300, requestTimeoutMs: 600 });
  const slow = raw(http.port, ['GET /api/symbols HTTP/1.1\r\nHost: x\r\n']);
  t.equal((await getJson(`${http.url}/api/symbols`)).status, 200, 'a well-behaved client is served while the slow one waits');
  const answer = await slow;
  t.equal(answer.status, 408);
  t.same(answer.body, { code: 'KLAGG_ERR_HTTP_REQUEST_TIMEOUT', message: 'request not received in time (headers within 300 ms, the whole request within 600 ms)' });
  t.match(answer.headers, /connection: close/i);
  t.equal(await limitCount(http, 'request_timeout'), 1);
});

t.test('a client that does not finish its body in time: 408 and disconnected', async (t) => {
  const http = await setup(t, { headersTimeoutMs: 300, requestTimeoutMs: 600 });
  const head = `POST /admin/symbols/XRPETH/deactivate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n`;
  const answer = await raw(http.port, [head, '{"pad":"']);
  t.equal(answer.status, 408);
  t.match(answer.body, { code: 'KLAGG_ERR_HTTP_REQUEST_TIMEOUT' });
  t.equal((await getJson(`${http.url}/api/symbols`)).status, 200, 'the server still serves');
  t.equal(await limitCount(http, 'request_timeout'), 1);
});

t.test('an idle keep-alive connection is closed after keepAliveTimeoutMs', async (t) => {
  const http = await setup(t, { keepAliveTimeoutMs: 200 });
  // One complete request on a keep-alive connection, then nothing: the server closes it (raw() resolves on close).
  const answer = await raw(http.port, ['GET /api/symbols HTTP/1.1\r\nHost: x\r\n\r\n']);
  t.equal(answer.status, 200);
  t.match(answer.headers, /keep-alive: timeout=\d+/i, 'the answer kept the connection open');
});

t.test('URL length and body size refusals are counted by limit', async (t) => {
  const http = await setup(t, { maxUrlLength: 300, bodyLimit: 1024 });
  t.equal((await getJson(`${http.url}/api/symbols?pad=${'x'.repeat(400)}`)).status, 414);
  const head = `POST /admin/symbols/XRPETH/deactivate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nConnection: close\r\n`;
  const body = JSON.stringify({ pad: 'x'.repeat(2000) });
  const large = await raw(http.port, [`${head}Content-Length: ${body.length}\r\n\r\n${body}`]);
  t.same({ status: large.status, body: large.body }, { status: 413, body: { code: 'KLAGG_ERR_HTTP_TOO_LARGE', message: 'request body larger than 1024 bytes' } });
  t.equal(await limitCount(http, 'url_length'), 1);
  t.equal(await limitCount(http, 'body_size'), 1);
});

/** A TCP connection to the server, open and idle until the test writes on it. */
function idleConnection(t: Test, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
    t.teardown(() => socket.destroy());
  });
}

/** One request with `Connection: close` on an open socket; the status when the server has answered and closed. */
function requestOn(socket: Socket, path: string): Promise<number> {
  return new Promise((resolve) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });
}

t.test('HTTP connections per IP: a request on one connection too many is 429 in the shape of its path, then closed', async (t) => {
  const http = await setup(t, { maxConnectionsPerIp: 2 });
  const first = await idleConnection(t, http.port);
  await idleConnection(t, http.port);
  const klagg = await raw(http.port, ['GET /api/symbols HTTP/1.1\r\nHost: x\r\n\r\n']);
  t.equal(klagg.status, 429);
  t.same(klagg.body, { code: 'KLAGG_ERR_HTTP_TOO_MANY_CONNECTIONS', message: 'too many connections: 127.0.0.1 has more than 2 open' });
  t.match(klagg.headers, /connection: close/i);
  const binance = await raw(http.port, ['GET /fapi/v1/ping HTTP/1.1\r\nHost: x\r\n\r\n']);
  t.equal(binance.status, 429);
  t.same(binance.body, { code: -1003, msg: 'Too many connections; current limit of IP(127.0.0.1) is 2 open connections. Please reuse a connection (keep-alive).' });
  t.equal(await requestOn(first, '/api/symbols'), 200, 'a connection within the limit is served');
  t.equal(await limitCount(http, 'connections_per_ip'), 2);
  // The server sees the first connection closed a moment after the client does.
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    status = (await raw(http.port, ['GET /api/symbols HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'])).status;
  }
  t.equal(status, 200, 'a closed connection makes room');
});

/** This machine's first non-loopback IPv4 address: a peer that is not loopback without leaving the machine. */
function externalAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((entry) => entry !== undefined && entry.family === 'IPv4' && !entry.internal)?.address;
}

t.test('admin routes: loopback always; a remote peer 403 unless admin.allowFrom or allowRemote lets it in', async (t) => {
  const address = externalAddress();
  if (address === undefined) throw new Error('this test needs a non-loopback IPv4 address on this machine (eth0)');
  const request = `POST /admin/symbols/XRPETH/deactivate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
  const unknownSymbol = { code: 'KLAGG_ERR_ADMIN_UNKNOWN_SYMBOL', message: 'unknown symbol XRPETH (it was never activated)' };

  const closed = await setup(t, { host: '0.0.0.0' });
  const local = await raw(closed.port, [request]);
  t.same({ status: local.status, body: local.body }, { status: 404, body: unknownSymbol }, 'loopback: past the address check, to the route');
  const remote = await raw(closed.port, [request], { host: address, localAddress: address });
  t.equal(remote.status, 403);
  t.same(remote.body, {
    code: 'KLAGG_ERR_ADMIN_REMOTE_FORBIDDEN',
    message: `admin routes answer only loopback peers unless admin.allowRemote or admin.allowFrom allows it; this request came from ${address}`,
  });
  const publicRoute = await raw(closed.port, ['GET /api/symbols HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], { host: address, localAddress: address });
  t.equal(publicRoute.status, 200, 'the public routes answer the same peer');
  t.equal(await limitCount(closed, 'admin_remote'), 1);

  const allowed = await setup(t, { host: '0.0.0.0' }, new AdminAccess({ allowFrom: [`${address}/32`] }));
  const fromAllowed = await raw(allowed.port, [request], { host: address, localAddress: address });
  t.same({ status: fromAllowed.status, body: fromAllowed.body }, { status: 404, body: unknownSymbol }, 'allowFrom: to the route');
  const noToken = await raw(allowed.port, [request.replace(/Authorization: [^\r]*\r\n/, '')], { host: address, localAddress: address });
  t.equal(noToken.status, 401, 'still needs the token');

  const open = await setup(t, { host: '0.0.0.0' }, new AdminAccess({ allowRemote: true }));
  const fromAnywhere = await raw(open.port, [request], { host: address, localAddress: address });
  t.equal(fromAnywhere.status, 404, 'allowRemote: to the route');
});
