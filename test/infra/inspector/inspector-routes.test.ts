/**
 * The inspector over real sockets: a real KlaggSystem inspected by an InspectorHub, a real HttpServer with the
 * inspector mounted (its routes and SSE stream). graphs.json, state.json, the event stream, the
 * page and its local assets.
 */
import { KLAGG_MACHINES } from '../../../src/machines/registry.ts';
import t, { type Test } from 'tap';
import { request as httpRequest } from 'node:http';
import type { IntervalName } from '../../../src/domain/interval.ts';
import { systemClock } from '../../../src/infra/clock.ts';
import type { HttpContext } from '../../../src/infra/http/context.ts';
import { HttpServer } from '../../../src/infra/http/http-server.ts';
import { LiveKlineView } from '../../../src/infra/http/kline-view.ts';
import { InspectorHub, type ActorView, type InspectorChange, type MachineGraph } from '../../../src/infra/inspector/inspector-hub.ts';
import { InspectorServer } from '../../../src/infra/inspector/inspector-routes.ts';
import { MemorySink } from '../../support/memory-sink.ts';
import { getJson, newSystem, SCALES, silentLogger, XRPETH } from '../http/helpers.ts';

const INTERVALS: IntervalName[] = ['1m'];

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function setup(t: Test, options: ConstructorParameters<typeof InspectorServer>[1] = {}) {
  const hub = new InspectorHub({ throttleMs: 20, machines: KLAGG_MACHINES });
  const system = newSystem(new MemorySink(), INTERVALS, { inspect: hub.inspect });
  const view = new LiveKlineView(system);
  const context: HttpContext = {
    venue: 'binance',
    market: 'usdm',
    intervals: INTERVALS,
    store: { range: async () => [] },
    system,
    view,
    clock: systemClock,
    symbols: () => [XRPETH],
    activationFor: async (symbol) => ({ symbol, scales: SCALES, initialData: [] }),
  };
  const inspector = new InspectorServer(hub, options);
  const http = await HttpServer.start({ host: '127.0.0.1', port: 0, context, logger: silentLogger, defaultMetrics: false, mounts: [inspector.mount] });
  t.teardown(async () => {
    inspector.close();
    hub.close();
    view.close();
    await http.close();
    await system.stop();
  });
  return { hub, system, http, inspector };
}

interface SseMessage {
  readonly event: string;
  readonly data: unknown;
}

/** A plain fetch reading an SSE stream: the messages so far, and a wait for one that matches. */
function sse(url: string) {
  const abort = new AbortController();
  const messages: SseMessage[] = [];
  let headers: Headers | undefined;
  const done = (async () => {
    const response = await fetch(url, { signal: abort.signal });
    headers = response.headers;
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length > 0) messages.push({ event, data: JSON.parse(data.join('\n')) });
      }
    }
  })().catch(() => {});
  return {
    messages,
    get headers() {
      return headers;
    },
    async next(what: string, match: (m: SseMessage) => boolean): Promise<SseMessage> {
      let found: SseMessage | undefined;
      await until(what, () => (found = messages.find(match)) !== undefined);
      return found!;
    },
    async close() {
      abort.abort();
      await done;
    },
  };
}

const symbolActor = (actors: readonly ActorView[], symbol: string) => actors.find((a) => a.machine === 'symbol' && a.symbol === symbol);

t.test('graphs.json: the lifecycle machine\'s four states and their transitions', async (t) => {
  const { http } = await setup(t);
  const { status, body, type } = await getJson(`${http.url}/inspector/graphs.json`);
  t.equal(status, 200);
  t.match(type, /application\/json/);
  const machines = (body as { machines: MachineGraph[] }).machines;
  const symbol = machines.find((m) => m.id === 'symbol')!;
  t.same(symbol.root.states.map((s) => s.key), ['Pending', 'Activating', 'Active', 'Failed']);
  t.equal(symbol.root.initial, 'Pending');
  const failed = symbol.root.states.find((s) => s.key === 'Failed')!;
  t.same(failed.transitions, [
    { event: 'FORCE_ACTIVATE', kind: 'event', targets: ['symbol.Activating'], actions: ['startAttempts'] },
    { event: 'DEACTIVATE', kind: 'event', targets: ['symbol.Pending'], actions: ['recordDeactivation'] },
  ]);
  t.ok(machines.some((m) => m.id === 'streamConnection') && machines.some((m) => m.id === 'service'));
  const served = await getJson(`${http.url}/inspector/machines`);
  t.equal(served.status, 200);
  t.same(served.body, body, '/inspector/machines serves the same definitions');
  t.same((served.body as { machines: MachineGraph[] }).machines.filter((m) => m.stateless).map((m) => m.id).sort(), ['activationDispatcher', 'worker'], 'stateless machines are marked');
});

t.test('/inspector/actors/:key: one actor\'s context and last events; an unknown key is a 404 in the registry shape', async (t) => {
  const { http, hub, system } = await setup(t);
  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [] });
  await until('XRPETH Active', () => symbolActor(hub.snapshot().actors, 'XRPETH')?.state === 'Active');
  const key = symbolActor(hub.snapshot().actors, 'XRPETH')!.key;
  const { status, body } = await getJson(`${http.url}/inspector/actors/${key}`);
  t.equal(status, 200);
  t.match(body, { actor: { key, machine: 'symbol', kind: 'machine', state: 'Active' }, context: { symbol: 'XRPETH' } });
  const events = (body as { events: { event: string; state?: unknown }[] }).events;
  t.same(events.filter((e) => e.state !== undefined).map((e) => `${e.event}->${String(e.state)}`), ['xstate.init->Pending', 'ACTIVATE->Activating', 'ACTIVATED->Active']);
  const missing = await getJson(`${http.url}/inspector/actors/a999999`);
  t.equal(missing.status, 404);
  t.match(missing.body, { code: 'KLAGG_ERR_INSPECTOR_UNKNOWN_ACTOR' });
});

t.test('state.json lists every actor; the symbol\'s lifecycle actor is Active after activation', async (t) => {
  const { http, system } = await setup(t);
  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [] });
  await system.whenSubscribed(['XRPETH']);
  const state = async () => (await getJson(`${http.url}/inspector/state.json`)).body as { actors: ActorView[]; recent: unknown[] };
  await until('XRPETH Active in state.json', async () => symbolActor((await state()).actors, 'XRPETH')?.state === 'Active');
  const body = await state();
  t.match(symbolActor(body.actors, 'XRPETH'), { id: 'XRPETH', machine: 'symbol', state: 'Active', status: 'active' });
  t.ok(body.actors.some((a) => a.machine === 'service' && a.state === 'running'), 'the service');
  t.ok(body.actors.some((a) => a.systemId === 'gateway'), 'the gateway');
  t.ok(body.recent.length > 0, 'recent events');
});

t.test('the SSE stream: a snapshot first, then the state changes of a deactivation and a forced activation', async (t) => {
  const { http, system, inspector } = await setup(t);
  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [] });
  await system.whenSubscribed(['XRPETH']);
  const client = sse(`${http.url}/inspector/events`);
  t.teardown(() => client.close());
  const first = await client.next('the snapshot', () => true);
  t.equal(first.event, 'snapshot');
  t.match(client.headers?.get('content-type'), /^text\/event-stream/);
  t.equal(inspector.clients, 1);
  t.equal(symbolActor((first.data as { actors: ActorView[] }).actors, 'XRPETH')?.state, 'Active');

  const changeWith = (event: string, state: string) => (m: SseMessage) =>
    m.event === 'change' && (m.data as InspectorChange).events.some((e) => e.symbol === 'XRPETH' && e.event === event && e.state === state);
  system.deactivate('XRPETH');
  const deactivated = await client.next('DEACTIVATE → Pending', changeWith('DEACTIVATE', 'Pending'));
  t.match((deactivated.data as InspectorChange).events.find((e) => e.event === 'DEACTIVATE'), { type: 'transition', from: 'Active', state: 'Pending', machine: 'symbol' });
  t.equal(symbolActor((deactivated.data as InspectorChange).actors, 'XRPETH')?.state, 'Pending', 'the changed actor comes with the change');

  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [], force: true });
  await client.next('FORCE_ACTIVATE → Activating', changeWith('FORCE_ACTIVATE', 'Activating'));
  await client.next('ACTIVATED → Active', changeWith('ACTIVATED', 'Active'));

  const metrics = await (await fetch(`${http.url}/metrics`)).text();
  t.match(metrics, /route="\/inspector\/events"[^\n]*status="200"|status="200"[^\n]*route="\/inspector\/events"/, 'counted by the router as a 200');
  await client.close();
  await until('the client gone', () => inspector.clients === 0);
});

t.test('a client that cannot keep up is dropped', async (t) => {
  const { http, hub, inspector } = await setup(t, { maxBufferedBytes: 64 * 1024 });
  // A client that never reads: its socket buffers fill and then the server's output queue grows.
  const req = httpRequest(`${http.url}/inspector/events`);
  req.on('response', (res) => res.pause());
  req.on('error', () => {});
  req.end();
  await until('the client connected', () => inspector.clients === 1);
  const big = 'x'.repeat(64 * 1024);
  for (let i = 0; i < 400 && inspector.clients > 0; i++) {
    hub.inspect({ type: '@xstate.snapshot', actorRef: { id: `fake-${i}` }, snapshot: { value: big, status: 'active' }, event: { type: 'BIG' } } as never);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  t.equal(inspector.clients, 0, 'dropped');
  t.equal(inspector.dropped, 1);
  req.destroy();
});

t.test('beyond maxClients a stream is refused with 503 in the registry shape; closing the server ends the streams', async (t) => {
  const { http, inspector } = await setup(t, { maxClients: 1 });
  const first = sse(`${http.url}/inspector/events`);
  t.teardown(() => first.close());
  await first.next('the snapshot', () => true);
  t.match(first.headers?.get('x-request-id'), /\S/, 'the stream carries its request id');
  const refused = await getJson(`${http.url}/inspector/events`);
  t.equal(refused.status, 503);
  t.same(refused.body, { code: 'KLAGG_ERR_INSPECTOR_TOO_MANY_CLIENTS', message: 'too many inspector event streams (at most 1)' });
  t.equal(inspector.clients, 1);
  // The server's close ends the open stream itself (preClose) instead of waiting for it forever.
  await http.close();
  t.equal(inspector.clients, 0, 'the stream was ended by the close');
});

t.test('the page and its assets are served locally; the page references no remote URL', async (t) => {
  const { http } = await setup(t);
  const page = await fetch(`${http.url}/inspector`);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type'), /^text\/html/);
  const html = await page.text();
  t.notMatch(html, /https?:\/\//, 'no http(s) URL in the page');
  const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((ref) => !ref.startsWith('data:'));
  t.same(refs.sort(), ['/inspector/inspector.css', '/inspector/inspector.js', '/inspector/state-chart.js', '/inspector/vendor/elk.bundled.js']);
  for (const ref of refs) {
    const asset = await fetch(`${http.url}${ref}`);
    t.equal(asset.status, 200, `${ref} is served`);
    const text = await asset.text();
    // elkjs's bundle names XML namespaces (eclipse.org, w3.org) it never loads; the browser test checks no request leaves.
    if (!ref.includes('/vendor/')) t.notMatch(text.replaceAll('http://www.w3.org/2000/svg', ''), /https?:\/\//, `${ref} loads nothing remote (the SVG namespace aside)`);
  }
  t.match((await fetch(`${http.url}/inspector/vendor/elk.bundled.js`)).headers.get('content-type'), /javascript/, 'elkjs is served by klagg');
  t.match((await fetch(`${http.url}/inspector/inspector.js`)).headers.get('content-type'), /javascript/);
  t.equal((await fetch(`${http.url}/inspector/`)).status, 200);
});
