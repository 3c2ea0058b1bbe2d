import { readFileSync } from 'node:fs';
import t from 'tap';
import { ERRORS, errorsMarkdown, KlaggError } from '../../src/domain/errors.ts';

t.test('docs/errors.md equals the registry (regenerate with node scripts/errors-doc.ts)', async (t) => {
  t.equal(readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8'), errorsMarkdown());
});

t.test('every code is KLAGG_ERR_<AREA>_<WHAT>, in order within the registry', async (t) => {
  const codes = Object.keys(ERRORS);
  for (const code of codes) t.match(code, /^KLAGG_ERR_[A-Z]+_[A-Z_]+$/);
  t.same(codes, [...codes].sort(), 'codes sorted (areas, then codes)');
});

t.test('a KlaggError carries its code, status, message and fix', async (t) => {
  const error = new KlaggError('KLAGG_ERR_START_PORT_IN_USE', { host: '127.0.0.1', port: 8080 });
  t.equal(error.code, 'KLAGG_ERR_START_PORT_IN_USE');
  t.equal(error.status, 500);
  t.equal(error.message, 'port 8080 on 127.0.0.1 is already in use');
  t.match(error.oneLine(), /^KLAGG_ERR_START_PORT_IN_USE: port 8080 on 127\.0\.0\.1 is already in use — Stop the other process/);
  const notFound = new KlaggError('KLAGG_ERR_HTTP_NOT_FOUND', { method: 'GET', path: '/x' });
  t.equal(notFound.status, 404);
  t.same(JSON.parse(JSON.stringify(notFound)), { code: 'KLAGG_ERR_HTTP_NOT_FOUND', message: 'no route for GET /x' });
});

t.test('every code is raised or answered somewhere in src (the registry lists nothing dead)', async (t) => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const src = new URL('../../src/', import.meta.url);
  const texts: string[] = [];
  const walk = (dir: URL): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(new URL(`${entry.name}/`, dir));
      else if (entry.name.endsWith('.ts') && !(dir.pathname.endsWith('/domain/') && entry.name === 'errors.ts')) texts.push(readFileSync(new URL(entry.name, dir), 'utf8'));
    }
  };
  walk(src);
  const all = texts.join('\n');
  const unused = Object.keys(ERRORS).filter((code) => !all.includes(`'${code}'`));
  t.same(unused, []);
});
