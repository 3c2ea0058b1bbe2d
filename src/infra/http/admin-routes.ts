/**
 * Admin routes (token required): force-activate, deactivate, repair a symbol's range. Without a configured token
 * they do not exist (404); a peer other than loopback that `adminAccess` does not allow is 403 (admin-access.ts);
 * a missing or wrong `Authorization: Bearer <token>` is 401 (Binance's -2015, as Binance
 * answers a bad API key). Every action is logged on the request's logger (with its request id).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KlaggError } from '../../domain/errors.ts';
import { isIntervalName } from '../../domain/interval.ts';
import { invalidApiKey } from '../binance/binance-replies.ts';
import { AdminAccess } from './admin-access.ts';
import type { HttpContext } from './context.ts';

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Constant-time comparison of the presented token with the configured one (hashed first, so lengths match). */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}

const bad = (reason: string): KlaggError => new KlaggError('KLAGG_ERR_ADMIN_BAD_REQUEST', { reason });
const unknown = (symbol: string, detail: string): KlaggError => new KlaggError('KLAGG_ERR_ADMIN_UNKNOWN_SYMBOL', { symbol, detail });

const LOOPBACK_ONLY = new AdminAccess();

function authorize(context: HttpContext, request: FastifyRequest): void {
  if (context.adminToken === undefined || context.adminToken === '') throw new KlaggError('KLAGG_ERR_ADMIN_DISABLED', {});
  const peer = request.socket.remoteAddress;
  if (!(context.adminAccess ?? LOOPBACK_ONLY).allows(peer)) {
    request.log.warn({ peer, url: request.url.slice(0, 200) }, 'admin: refused a request from a remote address');
    throw new KlaggError('KLAGG_ERR_ADMIN_REMOTE_FORBIDDEN', { address: peer ?? 'an unknown address' });
  }
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (match === null || !tokenMatches(match[1]!, context.adminToken)) throw invalidApiKey();
}

function symbolParam(request: FastifyRequest): string {
  const raw = (request.params as Record<string, string | undefined>)['symbol'] ?? '';
  const symbol = raw.toUpperCase();
  if (!/^[A-Z0-9_]{1,32}$/.test(symbol)) throw bad(`invalid symbol ${JSON.stringify(raw.slice(0, 40))}: expected 1-32 letters, digits or _`);
  return symbol;
}

function timeParam(query: URLSearchParams, name: string): number {
  const raw = query.get(name);
  if (raw === null || raw === '') throw bad(`parameter '${name}' is required (milliseconds since the epoch)`);
  if (!/^[0-9]{1,16}$/.test(raw)) throw bad(`parameter '${name}' must be milliseconds since the epoch, got ${JSON.stringify(raw.slice(0, 40))}`);
  return Number(raw);
}

const registered = (context: HttpContext, symbol: string): boolean => context.system.registry.getSnapshot().context.symbols[symbol] !== undefined;

export function registerAdminRoutes(app: FastifyInstance, context: HttpContext): void {
  const stateOf = (symbol: string) => context.system.symbolState(symbol) ?? null;

  app.post('/admin/symbols/:symbol/activate', async (request) => {
    authorize(context, request);
    const symbol = symbolParam(request);
    const activation = await context.activationFor(symbol);
    if (activation === undefined) throw unknown(symbol, 'the exchange does not list it');
    request.log.info({ action: 'activate', symbol, previous: stateOf(symbol) }, 'admin: force-activate');
    context.system.activate({ ...activation, symbol, force: true });
    return { symbol, action: 'activate', accepted: true, state: stateOf(symbol) };
  });

  app.post('/admin/symbols/:symbol/deactivate', async (request) => {
    authorize(context, request);
    const symbol = symbolParam(request);
    if (!registered(context, symbol)) throw unknown(symbol, 'it was never activated');
    request.log.info({ action: 'deactivate', symbol, previous: stateOf(symbol) }, 'admin: deactivate');
    context.system.deactivate(symbol);
    return { symbol, action: 'deactivate', accepted: true, state: stateOf(symbol) };
  });

  app.post('/admin/symbols/:symbol/repair', async (request) => {
    authorize(context, request);
    const symbol = symbolParam(request);
    const query = request.query as URLSearchParams;
    const interval = query.get('interval');
    if (interval === null || interval === '') throw bad("parameter 'interval' is required");
    if (!isIntervalName(interval) || !context.intervals.includes(interval)) throw bad(`invalid interval ${JSON.stringify(interval.slice(0, 40))}: served intervals are ${context.intervals.join(' ')}`);
    const from = timeParam(query, 'from');
    const to = timeParam(query, 'to');
    if (from > to) throw bad(`'from' (${from}) is after 'to' (${to})`);
    if (!registered(context, symbol) && !context.symbols().some((s) => s.symbol === symbol)) throw unknown(symbol, 'neither served nor known to the system');
    if (context.repair === undefined) throw new KlaggError('KLAGG_ERR_ADMIN_REPAIR_UNAVAILABLE', {});
    request.log.info({ action: 'repair', symbol, interval, from, to }, 'admin: repair');
    const started = Date.now();
    const result = await context.repair(symbol, interval, from, to);
    request.log.info({ action: 'repair', symbol, interval, from, to, klines: result.klines, ms: Date.now() - started }, 'admin: repair done');
    return { symbol, action: 'repair', interval, from, to, klines: result.klines };
  });
}
