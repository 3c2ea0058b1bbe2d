/**
 * NATS servers that a test starts and owns (scale-out.md §5): a single JetStream node, or a 3-node JetStream cluster
 * (`server_name` n1..n3, one `cluster.name`, full-mesh routes) for fault tests — kill the server leading a stream,
 * restart it with its data, freeze one with SIGSTOP.
 *
 * Everything lives under one temp directory per call (`os.tmpdir()/klagg-nats-*`), removed by `stop()`. Servers are
 * stopped by pid, never by name: the machine's own nats-server on :4222 is someone else's. A test calls `stop()` in
 * `t.teardown`; the child reaper (child-reaper.ts) and a process 'exit' hook catch what a crashed test leaves.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { removeDirOnDeath } from './child-reaper.ts';
import { freePorts, natsServerBin, NatsServer, type NatsServerPorts } from './nats-server-process.ts';

export { NatsServer, type NatsServerPorts } from './nats-server-process.ts';

export interface StartNatsServerOptions {
  /** Default 'n1'. */
  readonly name?: string;
  /** Ports to use; any not given is a free port found here. */
  readonly ports?: Partial<NatsServerPorts>;
  /** JetStream on (default true). */
  readonly jetstream?: boolean;
  readonly readyTimeoutMs?: number;
}

export interface StartNatsClusterOptions {
  /** Number of servers, default 3 (a Raft group of 3 survives one loss). */
  readonly size?: number;
  /** `cluster.name`, default a unique one. */
  readonly name?: string;
  /** Per server, in order: ports to use; any not given is a free port found here. */
  readonly ports?: readonly Partial<NatsServerPorts>[];
  /** How long to wait for every server's /healthz and a JetStream meta leader. Default 30 s. */
  readonly readyTimeoutMs?: number;
}

/** Directories created in this process and not yet removed: removed on exit even if a test forgot `stop()`. */
const liveRoots = new Set<string>();
process.on('exit', () => {
  for (const root of liveRoots) rmSync(root, { recursive: true, force: true });
});

function makeRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'klagg-nats-'));
  liveRoots.add(root);
  removeDirOnDeath(root);
  return root;
}

function removeRoot(root: string): void {
  if (process.env.KLAGG_KEEP_NATS_DIRS === '1') return;
  rmSync(root, { recursive: true, force: true });
  liveRoots.delete(root);
}

/** A single JetStream node. `stop()` ends it and removes its directory. */
export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServer> {
  const bin = natsServerBin();
  const root = makeRoot();
  const free = await freePorts(2);
  const ports = { client: options.ports?.client ?? free[0]!, http: options.ports?.http ?? free[1]! };
  try {
    // The server's own stop() removes its directory, the root; the exit hook still covers a forgotten stop().
    return await NatsServer.start({ name: options.name ?? 'n1', index: 0, ports, dir: root, bin, jetstream: options.jetstream, readyTimeoutMs: options.readyTimeoutMs });
  } catch (error) {
    removeRoot(root);
    throw error;
  }
}

/** A JetStream cluster of `size` servers, each ready and agreeing on a meta leader. */
export async function startNatsCluster(options: StartNatsClusterOptions = {}): Promise<NatsCluster> {
  const size = options.size ?? 3;
  const bin = natsServerBin();
  const root = makeRoot();
  const name = options.name ?? `klagg-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const free = await freePorts(3 * size);
  const ports = Array.from({ length: size }, (_, i): Required<NatsServerPorts> => ({
    client: options.ports?.[i]?.client ?? free[3 * i]!,
    cluster: options.ports?.[i]?.cluster ?? free[3 * i + 1]!,
    http: options.ports?.[i]?.http ?? free[3 * i + 2]!,
  }));
  const routePorts = ports.map((p) => p.cluster);
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  // Started together: a member's /healthz waits for JetStream, which needs the others (a meta quorum) to be up.
  const started = await Promise.allSettled(
    ports.map((p, i) =>
      NatsServer.start({ name: `n${i + 1}`, index: i, ports: p, dir: join(root, `n${i + 1}`), bin, readyTimeoutMs, cluster: { name, routePorts } }),
    ),
  );
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const cluster = new NatsCluster(name, servers, root);
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  try {
    if (failed !== undefined) throw failed.reason;
    await cluster.waitForMetaLeader(readyTimeoutMs);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

interface JszMeta {
  meta_cluster?: { leader?: string; cluster_size?: number };
}

export class NatsCluster {
  readonly name: string;
  readonly servers: readonly NatsServer[];
  readonly #root: string;
  #admin: Promise<{ nc: NatsConnection; jsm: JetStreamManager }> | undefined;

  constructor(name: string, servers: readonly NatsServer[], root: string) {
    this.name = name;
    this.servers = servers;
    this.#root = root;
  }

  /** Every client URL, for a client's `servers` list (so it can fail over). */
  get urls(): string[] {
    return this.servers.map((server) => server.url);
  }

  /** A server by name ('n2') or index. */
  server(which: string | number): NatsServer {
    const found = typeof which === 'number' ? this.servers[which] : this.servers.find((s) => s.name === which);
    if (found === undefined) throw new Error(`no server ${which} in cluster ${this.name}`);
    return found;
  }

  /**
   * Waits until every running server reports the same JetStream meta leader and the full cluster size in /jsz: before
   * that, creating an R3 stream can fail for want of peers.
   */
  async waitForMetaLeader(timeoutMs = 30_000): Promise<NatsServer> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const running = this.servers.filter((s) => s.running);
      const metas = await Promise.all(running.map((s) => s.monitor<JszMeta>('/jsz').then((j) => j.meta_cluster, () => undefined)));
      const leaders = new Set(metas.map((m) => m?.leader ?? ''));
      last = JSON.stringify(metas);
      const [leader] = leaders;
      if (leaders.size === 1 && leader !== '' && metas.every((m) => m?.cluster_size === this.servers.length)) {
        return this.server(leader!);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`cluster ${this.name}: no agreed JetStream meta leader within ${timeoutMs} ms (last /jsz meta: ${last})\n${this.#logs()}`);
  }

  /**
   * A NATS connection to the cluster for the harness's own questions (stream info), made on first use and closed by
   * `stop()`. It reconnects forever, so a killed server only moves it to another.
   */
  admin(): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
    this.#admin ??= (async () => {
      const nc = await connect({ servers: this.urls, name: 'klagg-test-harness', maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 5_000 });
      return { nc, jsm: await jetstreamManager(nc, { timeout: 2_000 }) };
    })();
    return this.#admin;
  }

  /**
   * The server leading a stream's Raft group now ($JS.API.STREAM.INFO → cluster.leader), or undefined while there is
   * none (an election) or the request fails (no quorum, a server mid-restart).
   */
  async streamLeader(stream: string): Promise<NatsServer | undefined> {
    const { jsm } = await this.admin();
    try {
      const leader = (await jsm.streams.info(stream)).cluster?.leader;
      return leader === undefined || leader === '' ? undefined : this.server(leader);
    } catch {
      return undefined;
    }
  }

  /** Waits for a stream to have a leader (other than `notServer`, after that one was killed) and returns it. */
  async waitForStreamLeader(stream: string, notServer?: NatsServer | string, timeoutMs = 20_000): Promise<NatsServer> {
    const excluded = typeof notServer === 'string' ? notServer : notServer?.name;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leader = await this.streamLeader(stream);
      if (leader !== undefined && leader.name !== excluded && leader.running) return leader;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`cluster ${this.name}: stream ${stream} has no leader${excluded === undefined ? '' : ` other than ${excluded}`} within ${timeoutMs} ms\n${this.#logs()}`);
  }

  /** Ends every server (SIGTERM, SIGKILL after a bound; by pid) and removes the whole directory. */
  async stop(): Promise<void> {
    const admin = this.#admin;
    this.#admin = undefined;
    if (admin !== undefined) await admin.then(({ nc }) => nc.close(), () => undefined);
    await Promise.all(this.servers.map((server) => server.terminate()));
    removeRoot(this.#root);
  }

  #logs(): string {
    return this.servers.map((s) => `--- ${s.name} (${s.logPath}):\n${s.logTail(15)}`).join('\n');
  }
}
