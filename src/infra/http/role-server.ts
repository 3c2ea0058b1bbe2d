/**
 * The small HTTP face of a cluster role that serves nothing else (ingest, aggregate, write): `/health` — the role's
 * checks, 200 while it works (`ok` or `degraded`), 503 when it cannot (`error`) — and `/metrics` (Prometheus, a
 * registry of its own), plus whatever is mounted (the aggregator's inspector).
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import client from 'prom-client';
import type { Logger } from '../logger.ts';

export interface RoleCheck {
  readonly name: string;
  readonly status: 'ok' | 'degraded' | 'error';
  readonly detail: string;
}

export interface RoleServerOptions {
  readonly role: string;
  readonly node: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly checks: () => readonly RoleCheck[];
  readonly logger: Logger;
  readonly now: () => number;
  readonly mounts?: readonly ((app: FastifyInstance) => void)[];
}

export class RoleServer {
  readonly registry = new client.Registry();
  readonly app: FastifyInstance;
  #url = '';

  private constructor(options: RoleServerOptions) {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'klagg_' });
    this.app = Fastify({ loggerInstance: options.logger.child({ component: 'http' }), logController: new LogController({ disableRequestLogging: true }), forceCloseConnections: true }) as unknown as FastifyInstance;
    this.app.get('/health', async (_request, reply) => {
      const checks = options.checks();
      const status = checks.some((c) => c.status === 'error') ? 'error' : checks.some((c) => c.status === 'degraded') ? 'degraded' : 'ok';
      reply.header('cache-control', 'no-store').code(status === 'error' ? 503 : 200);
      return { status, role: options.role, node: options.node, time: options.now(), checks };
    });
    this.app.get('/metrics', async (_request, reply) => reply.type(client.Registry.PROMETHEUS_CONTENT_TYPE).send(await this.registry.metrics()));
    for (const mount of options.mounts ?? []) mount(this.app);
  }

  static async start(options: RoleServerOptions): Promise<RoleServer> {
    const server = new RoleServer(options);
    await server.app.listen({ host: options.host, port: options.port });
    const address = server.app.server.address();
    server.#url = typeof address === 'object' && address !== null ? `http://${options.host}:${address.port}` : '';
    return server;
  }

  get url(): string {
    return this.#url;
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}
