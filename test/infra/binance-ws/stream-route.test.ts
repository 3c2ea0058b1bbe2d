import t from 'tap';
import { parseStreamRoute } from '../../../src/infra/binance-ws/stream-route.ts';

const parse = (path: string, prefixes = ['market', 'public']) => parseStreamRoute(new URL(path, 'http://x'), prefixes);

t.test('raw, combined and bare routes, with or without a prefix', async (t) => {
  t.same(parse('/market/ws/a@aggTrade/b@kline_1m'), { prefix: 'market', combined: false, streams: ['a@aggTrade', 'b@kline_1m'] });
  t.same(parse('/ws'), { prefix: undefined, combined: false, streams: [] });
  t.same(parse('/public/stream?streams=a@aggTrade/b@aggTrade'), { prefix: 'public', combined: true, streams: ['a@aggTrade', 'b@aggTrade'] });
  t.same(parse('/stream'), { prefix: undefined, combined: true, streams: [] });
  t.same(parse('/market/ws/a@aggTrade/a@aggTrade'), { prefix: 'market', combined: false, streams: ['a@aggTrade'] }, 'a stream once');
  t.same(parse('/stream?streams=a//b/'), { prefix: undefined, combined: true, streams: ['a', 'b'] }, 'empty names dropped');
  t.same(parse('/ws/%21miniTicker%40arr'), { prefix: undefined, combined: false, streams: ['!miniTicker@arr'] }, 'path streams are decoded');
});

t.test('other paths are not ours; a prefix counts only when the server has it', async (t) => {
  for (const path of ['/', '/nope', '/market', '/market/stream/extra', '/api/ws', '/private/ws']) t.equal(parse(path), 'not-ours', path);
  t.same(parse('/private/ws', ['market', 'public', 'private']), { prefix: 'private', combined: false, streams: [] });
  t.equal(parse('/market/ws/%E0%A4%A'), 'malformed', 'a stream that is not valid percent-encoding');
});
