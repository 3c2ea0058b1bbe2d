/**
 * The HTTP port taken, as KLAGG_ERR_START_PORT_IN_USE. Kept free of heavy imports: the check runs before the service's
 * modules are loaded, so a taken port is reported within a second or two.
 */
import { createServer } from 'node:net';
import { KlaggError } from '../domain/errors.ts';

function isAddressInUse(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
}

/** A listen failure as PORT_IN_USE when the port is taken; other errors unchanged. */
export function portFailure(host: string, port: number, error: unknown): unknown {
  return isAddressInUse(error) ? new KlaggError('KLAGG_ERR_START_PORT_IN_USE', { host, port }, { cause: error }) : error;
}

/**
 * Fails fast when the HTTP port is taken, before anything slow starts (the service's own listen comes last, after the
 * symbols are activated). Port 0 (any free port) cannot be taken.
 */
export async function ensurePortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ host, port, exclusive: true }, () => resolve());
    });
  } catch (error) {
    throw portFailure(host, port, error);
  } finally {
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  }
}
