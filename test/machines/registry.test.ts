/** Every machine defined in src/machines is in the registry the inspector draws from, and every machine is there. */
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { StateMachine } from 'xstate';
import { KLAGG_MACHINES } from '../../src/machines/registry.ts';

t.test('the registry lists exactly the machines src/machines defines', async (t) => {
  const dir = new URL('../../src/machines/', import.meta.url);
  const defined = new Set<unknown>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.ts'))) {
    const module = (await import(new URL(file, dir).href)) as Record<string, unknown>;
    for (const value of Object.values(module)) if (value instanceof StateMachine) defined.add(value);
  }
  t.ok(defined.size >= 10, `${defined.size} machines found`);
  t.same(
    [...defined].map((machine) => (machine as StateMachine<any, any, any, any, any, any, any, any, any, any, any, any, any, any>).id).sort(),
    KLAGG_MACHINES.map((machine) => machine.id).sort(),
  );
});

t.test('no machine is defined outside src/machines', async (t) => {
  const offenders: string[] = [];
  const walk = (dir: URL): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(new URL(`${entry.name}/`, dir));
      else if (entry.name.endsWith('.ts') && !dir.pathname.endsWith('/src/machines/')) {
        const text = readFileSync(new URL(entry.name, dir), 'utf8');
        if (/\bcreateMachine\(|\bsetup\(\{/.test(text)) offenders.push(`${dir.pathname.split('/src/')[1]}${entry.name}`);
      }
    }
  };
  walk(new URL('../../src/', import.meta.url));
  t.same(offenders, []);
});
