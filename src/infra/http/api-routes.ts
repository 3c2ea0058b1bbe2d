/** klagg's own read routes: symbols with their lifecycle states, health, Prometheus metrics. */
import type { HttpContext } from './context.ts';
import { METRICS_CONTENT_TYPE, type HttpMetrics } from './metrics.ts';
import { json, type Route } from './router.ts';

export function apiRoutes(context: HttpContext, metrics: HttpMetrics): Route[] {
  return [
    {
      method: 'GET',
      pattern: '/api/symbols',
      handler: () => {
        const entries = Object.values(context.system.registry.getSnapshot().context.symbols).sort((a, b) => a.symbol.localeCompare(b.symbol));
        return json(200, {
          symbols: entries.map((e) => ({
            symbol: e.symbol,
            state: e.state,
            worker: e.worker,
            attempts: e.attempts,
            lastTradeTime: e.lastTradeTime,
            lastError: e.lastError,
            updatedAt: e.updatedAt,
          })),
        });
      },
    },
    {
      method: 'GET',
      pattern: '/health',
      handler: () => {
        const actors = Object.values(context.system.health.getSnapshot().context.actors).sort((a, b) => a.actor.localeCompare(b.actor));
        const failing = actors.filter((a) => a.status === 'error');
        const status = failing.length > 0 ? 'error' : actors.some((a) => a.status === 'degraded') ? 'degraded' : 'ok';
        return json(failing.length > 0 ? 503 : 200, {
          status,
          service: context.system.state,
          time: context.clock.now(),
          actors: actors.map((a) => ({ actor: a.actor, status: a.status, detail: a.detail, reportedAt: a.reportedAt, fatal: a.fatal })),
        });
      },
    },
    {
      method: 'GET',
      pattern: '/metrics',
      handler: async () => ({ status: 200, text: await metrics.text(), contentType: METRICS_CONTENT_TYPE }),
    },
  ];
}
