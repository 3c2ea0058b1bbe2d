/** klagg's version, as package.json says (read once; the landing page and the demo's banner show it). */
import { readFileSync } from 'node:fs';

let version: string | undefined;

export function klaggVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  return version;
}
