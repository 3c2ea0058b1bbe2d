/**
 * Admin routes (token required): force-activate, deactivate, repair a symbol's range. Without a configured token
 * they do not exist (404); a missing or wrong `Authorization: Bearer <token>` is 401. Every action is logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIntervalName } from '../../domain/interval.ts';
import type { Logger } from '../logger.ts';
import type { HttpContext } from './context.ts';
import { HttpError, json, type HttpRequest, type Route } from './router.ts';

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Constant-time comparison of the presented token with the configured one (hashed first, so lengths match). */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}

const UNAUTHORIZED = { code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' };
const bad = (msg: string): HttpError => new HttpError(400, { error: msg });
const notFound = (msg: string): HttpError => new HttpError(404, { error: msg });

function authorize(context: HttpContext, request: HttpRequest): void {
  if (context.adminToken === undefined || context.adminToken === '') throw notFound('not found (admin routes are off: no admin token is configured)');
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (match === null || !tokenMatches(match[1]!, context.adminToken)) throw new HttpError(401, UNAUTHORIZED);
}

function symbolParam(request: HttpRequest): string {
  const symbol = (request.params['symbol'] ?? '').toUpperCase();
  if (!/^[A-Z0-9_]{1,32}$/.test(symbol)) throw bad(`invalid symbol ${JSON.stringify(request.params['symbol'] ?? '')}: expected 1-32 letters, digits or _`);
  return symbol;
}

function timeParam(request: HttpRequest, name: string): number {
  const raw = request.query.get(name);
  if (raw === null || raw === '') throw bad(`parameter '${name}' is required (milliseconds since the epoch)`);
  if (!/^[0-9]{1,16}$/.test(raw)) throw bad(`parameter '${name}' must be milliseconds since the epoch, got ${JSON.stringify(raw.slice(0, 40))}`);
  return Number(raw);
}

function knows(context: HttpContext, symbol: string): boolean {
  return context.system.registry.getSnapshot().context.symbols[symbol] !== undefined || context.symbols().some((s) => s.symbol === symbol);
}

export function adminRoutes(context: HttpContext, logger: Logger): Route[] {
  const log = logger.child({ component: 'admin' });
  const stateOf = (symbol: string) => context.system.symbolState(symbol) ?? null;
  return [
    {
      method: 'POST',
      pattern: '/admin/symbols/:symbol/activate',
      handler: async (request) => {
        authorize(context, request);
        const symbol = symbolParam(request);
        const activation = await context.activationFor(symbol);
        if (activation === undefined) throw notFound(`unknown symbol ${symbol}`);
        log.info({ action: 'activate', symbol, previous: stateOf(symbol) }, 'admin: force-activate');
        context.system.activate({ ...activation, symbol, force: true });
        return json(200, { symbol, action: 'activate', accepted: true, state: stateOf(symbol) });
      },
    },
    {
      method: 'POST',
      pattern: '/admin/symbols/:symbol/deactivate',
      handler: (request) => {
        authorize(context, request);
        const symbol = symbolParam(request);
        if (context.system.registry.getSnapshot().context.symbols[symbol] === undefined) throw notFound(`unknown symbol ${symbol} (it was never activated)`);
        log.info({ action: 'deactivate', symbol, previous: stateOf(symbol) }, 'admin: deactivate');
        context.system.deactivate(symbol);
        return json(200, { symbol, action: 'deactivate', accepted: true, state: stateOf(symbol) });
      },
    },
    {
      method: 'POST',
      pattern: '/admin/symbols/:symbol/repair',
      handler: async (request) => {
        authorize(context, request);
        const symbol = symbolParam(request);
        const interval = request.query.get('interval');
        if (interval === null || interval === '') throw bad("parameter 'interval' is required");
        if (!isIntervalName(interval) || !context.intervals.includes(interval)) throw bad(`invalid interval ${JSON.stringify(interval.slice(0, 40))}: served intervals are ${context.intervals.join(' ')}`);
        const from = timeParam(request, 'from');
        const to = timeParam(request, 'to');
        if (from > to) throw bad(`'from' (${from}) is after 'to' (${to})`);
        if (!knows(context, symbol)) throw notFound(`unknown symbol ${symbol}`);
        if (context.repair === undefined) throw new HttpError(501, { error: 'repair is not available in this service (no REST source configured)' });
        log.info({ action: 'repair', symbol, interval, from, to }, 'admin: repair');
        const started = Date.now();
        const result = await context.repair(symbol, interval, from, to);
        log.info({ action: 'repair', symbol, interval, from, to, klines: result.klines, ms: Date.now() - started }, 'admin: repair done');
        return json(200, { symbol, action: 'repair', interval, from, to, klines: result.klines });
      },
    },
  ];
}
