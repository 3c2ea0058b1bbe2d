import t from 'tap';
import { sql } from 'kysely';
import { DatabaseConnectionError, openDatabase } from '../../../src/infra/db/open-database.ts';
import { createTestDatabase } from '../../support/postgres.ts';
import { TcpProxy } from '../../support/tcp-proxy.ts';

t.test('a database outage through the proxy: queries fail while cut, new connections work after restore', async (t) => {
  const database = await createTestDatabase('klagg_proxy');
  t.teardown(() => database.drop());
  const proxy = await TcpProxy.forUrl(database.url);
  t.teardown(() => proxy.close());
  const handle = await openDatabase({ url: proxy.url(database.url), connectTimeoutMs: 2_000 });
  t.teardown(() => handle.close());
  const ping = async (): Promise<number> => (await sql<{ one: number }>`select 1 as one`.execute(handle.db)).rows[0]!.one;

  t.equal(await ping(), 1, 'a query through the proxy works');
  t.ok(proxy.connections > 0, 'the pool holds a connection through the proxy');

  // A query in flight when the link drops: pg also emits 'error' on the checked-out client, which must not crash us.
  const inFlight = sql`select pg_sleep(5)`.execute(handle.db);
  await new Promise((resolve) => setTimeout(resolve, 50));
  proxy.cut();
  t.equal(proxy.connections, 0);
  await t.rejects(inFlight, 'a query in flight fails');
  await t.rejects(ping(), 'a query on a cut connection fails');
  await t.rejects(ping(), 'a new connection is refused while cut');

  proxy.restore();
  t.equal(await ping(), 1, 'after restore a new connection works');
});

t.test('opening a database that is down names the URL, without its password', async (t) => {
  const database = await createTestDatabase('klagg_proxy_down');
  t.teardown(() => database.drop());
  const proxy = await TcpProxy.forUrl(database.url);
  t.teardown(() => proxy.close());
  proxy.cut();
  const url = new URL(proxy.url(database.url));
  url.password = 's3cret';
  const error = await openDatabase({ url: url.toString(), connectTimeoutMs: 2_000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof DatabaseConnectionError, 'a DatabaseConnectionError');
  const message = (error as Error).message;
  t.match(message, `cannot connect to the database at postgres://postgres@127.0.0.1:${proxy.port}/${database.name}`);
  t.notMatch(message, 's3cret');
  t.comment(message);
});
