/**
 * The chart page's static files: the page, its script and lightweight-charts' standalone build from node_modules
 * (served by klagg itself, no CDN). Paths resolve from the project root, whatever the working directory.
 */
import { fileURLToPath } from 'node:url';
import type { StaticFile } from './http-server.ts';

const ROOT = new URL('../../../', import.meta.url);
const at = (path: string): string => fileURLToPath(new URL(path, ROOT));

export function chartStaticRoutes(): Map<string, StaticFile> {
  return new Map<string, StaticFile>([
    ['/chart', { file: at('static/chart/index.html'), contentType: 'text/html; charset=utf-8' }],
    ['/chart/chart.js', { file: at('static/chart/chart.js'), contentType: 'text/javascript; charset=utf-8' }],
    ['/vendor/lightweight-charts.js', { file: at('node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js'), contentType: 'text/javascript; charset=utf-8' }],
  ]);
}
