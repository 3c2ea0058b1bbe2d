/**
 * The tree's own rules, beside the dependency check (`npm run lint:deps`): no file in src over 400 lines but the two
 * whose speed depends on being one piece (the byte parser and the kline engine), and every src folder a known layer.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const MAX_LINES = 400;
const EXEMPT = new Set(['domain/agg-trade-parser.ts', 'domain/kline-engine.ts']);
const LAYERS = ['actors', 'app', 'cli', 'domain', 'infra', 'machines'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(`${dir}${entry.name}/`) : entry.name.endsWith('.ts') ? [`${dir}${entry.name}`] : [],
  );
}

t.test(`no file in src is over ${MAX_LINES} lines (but ${[...EXEMPT].join(', ')})`, async (t) => {
  const over = sourceFiles(SRC)
    .map((file) => ({ file: relative(SRC, file), lines: readFileSync(file, 'utf8').split('\n').length - 1 }))
    .filter(({ file, lines }) => lines > MAX_LINES && !EXEMPT.has(file));
  t.same(over, []);
});

t.test('src holds the layers and nothing else', async (t) => {
  const folders = readdirSync(SRC, { withFileTypes: true }).map((entry) => (entry.isDirectory() ? entry.name : `${entry.name} (a file)`));
  t.same(folders.sort(), LAYERS);
});
