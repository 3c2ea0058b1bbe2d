/**
 * The landing page's static files (`/`): what runs, the symbols and their states, and the ways in (chart, inspector,
 * API, health, metrics). Served by klagg itself, no CDN; paths resolve from the project root, whatever the working
 * directory. The page reads `/api/status`, `/api/symbols` and `/health`.
 */
import { fileURLToPath } from 'node:url';
import type { StaticFile } from './http-server.ts';

const ROOT = new URL('../../../', import.meta.url);
const at = (path: string): string => fileURLToPath(new URL(path, ROOT));

export function homeStaticRoutes(): Map<string, StaticFile> {
  return new Map<string, StaticFile>([
    ['/', { file: at('static/home/index.html'), contentType: 'text/html; charset=utf-8' }],
    ['/home/home.js', { file: at('static/home/home.js'), contentType: 'text/javascript; charset=utf-8' }],
    ['/home/home.css', { file: at('static/home/home.css'), contentType: 'text/css; charset=utf-8' }],
    ['/favicon.ico', { file: at('static/home/favicon.svg'), contentType: 'image/svg+xml' }],
  ]);
}
