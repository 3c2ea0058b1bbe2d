/**
 * The chart page's static files: the page, its stylesheet and scripts (ES modules) and lightweight-charts' standalone
 * build from node_modules (served by klagg itself, no CDN). Paths resolve from the project root, whatever the working
 * directory.
 */
import { fileURLToPath } from 'node:url';
import type { StaticFile } from './http-server.ts';

const ROOT = new URL('../../../', import.meta.url);
const at = (path: string): string => fileURLToPath(new URL(path, ROOT));
const SCRIPT = 'text/javascript; charset=utf-8';

/** The page's modules, each served at /chart/<name>. */
const MODULES = ['chart.js', 'decimal.js', 'legend.js', 'live-stream.js', 'symbol-picker.js'];

export function chartStaticRoutes(): Map<string, StaticFile> {
  return new Map<string, StaticFile>([
    ['/chart', { file: at('static/chart/index.html'), contentType: 'text/html; charset=utf-8' }],
    ['/chart/chart.css', { file: at('static/chart/chart.css'), contentType: 'text/css; charset=utf-8' }],
    ...MODULES.map((name): [string, StaticFile] => [`/chart/${name}`, { file: at(`static/chart/${name}`), contentType: SCRIPT }]),
    ['/vendor/lightweight-charts.js', { file: at('node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js'), contentType: SCRIPT }],
  ]);
}
