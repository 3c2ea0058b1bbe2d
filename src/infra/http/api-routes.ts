/** klagg's own read routes: what runs (status), symbols with their lifecycle states, health, Prometheus metrics. */
import type { FastifyInstance } from 'fastify';
import type { HttpContext } from './context.ts';
import { METRICS_CONTENT_TYPE, type HttpMetrics } from './metrics.ts';

export function registerApiRoutes(app: FastifyInstance, context: HttpContext, metrics: HttpMetrics): void {
  app.get('/api/symbols', async () => {
    const entries = Object.values(context.system.registry.getSnapshot().context.symbols).sort((a, b) => a.symbol.localeCompare(b.symbol));
    return {
      symbols: entries.map((e) => ({
        symbol: e.symbol,
        state: e.state,
        worker: e.worker,
        attempts: e.attempts,
        lastTradeTime: e.lastTradeTime,
        lastError: e.lastError,
        updatedAt: e.updatedAt,
      })),
    };
  });

  // One small answer for the landing page: what runs, and how many symbols are in each lifecycle state.
  app.get('/api/status', async () => {
    const states: Record<string, number> = {};
    const symbols = Object.values(context.system.registry.getSnapshot().context.symbols);
    for (const entry of symbols) states[entry.state] = (states[entry.state] ?? 0) + 1;
    const about = context.about;
    const now = context.clock.now();
    return {
      version: about?.version ?? null,
      mode: about?.mode ?? null,
      venue: context.venue,
      market: context.market,
      intervals: context.intervals,
      database: about?.database ?? null,
      exchange: about?.exchange ?? null,
      service: context.system.state,
      startedAt: about?.startedAt ?? null,
      uptimeMs: about === undefined ? null : Math.max(0, now - about.startedAt),
      time: now,
      symbols: { total: symbols.length, states },
    };
  });

  app.get('/health', async (_request, reply) => {
    const actors = Object.values(context.system.health.getSnapshot().context.actors).sort((a, b) => a.actor.localeCompare(b.actor));
    const failing = actors.filter((a) => a.status === 'error');
    const status = failing.length > 0 ? 'error' : actors.some((a) => a.status === 'degraded') ? 'degraded' : 'ok';
    reply.code(failing.length > 0 ? 503 : 200);
    return {
      status,
      service: context.system.state,
      time: context.clock.now(),
      actors: actors.map((a) => ({ actor: a.actor, status: a.status, detail: a.detail, reportedAt: a.reportedAt, fatal: a.fatal })),
    };
  });

  app.get('/metrics', async (_request, reply) => reply.type(METRICS_CONTENT_TYPE).send(await metrics.text()));
}
