/**
 * Environment variables, derived from the schema: `KLAGG_` + the path, sections joined by `__`, each camelCase key
 * upper-cased with `_` between words (`gateway.pullIntervalMs` → `KLAGG_GATEWAY__PULL_INTERVAL_MS`,
 * `intervals` → `KLAGG_INTERVALS=1m,5m`, `adminToken` → `KLAGG_ADMIN_TOKEN`). Conventional aliases: `DATABASE_URL`
 * (database.url) and `KLAGG_LOG_LEVEL` (log.level); the canonical name wins when both are set. `KLAGG_CONFIG` names the
 * config file. Empty values count as unset. Any other `KLAGG_` variable is an error (a typo must not pass silently).
 */
import type { ConfigIssue } from './config-error.ts';
import { closest } from './did-you-mean.ts';
import type { Layers } from './layers.ts';
import { coerceEnvValue, nodeAt, SETTING_PATHS } from './schema-walk.ts';

export const ENV_PREFIX = 'KLAGG_';
/** The environment variable that names the config file. */
export const CONFIG_FILE_ENV = 'KLAGG_CONFIG';
/** Conventional names accepted besides the derived ones. */
export const ENV_ALIASES: Readonly<Record<string, string>> = { DATABASE_URL: 'database.url', KLAGG_LOG_LEVEL: 'log.level' };

/** `['gateway', 'pullIntervalMs']` → `KLAGG_GATEWAY__PULL_INTERVAL_MS`. */
export function envVarName(path: readonly string[] | string): string {
  const segments = typeof path === 'string' ? path.split('.') : path;
  return ENV_PREFIX + segments.map((segment) => segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('__');
}

/** Every environment variable the loader reads, with the setting it sets (derived names first, then the aliases). */
export function configEnvVars(): readonly { readonly name: string; readonly path: string }[] {
  return [
    ...SETTING_PATHS.map((path) => ({ name: envVarName(path), path: path.join('.') })),
    ...Object.entries(ENV_ALIASES).map(([name, path]) => ({ name, path })),
  ];
}

const ENV_TO_PATH: ReadonlyMap<string, readonly string[]> = new Map(SETTING_PATHS.map((path) => [envVarName(path), path]));

/** `KLAGG_GATEWAY__PULL_INTERVAL` → `gateway.pullInterval`: what an unknown variable would have set. */
function pathFromEnvName(name: string): string {
  return name
    .slice(ENV_PREFIX.length)
    .split('__')
    .map((segment) => segment.toLowerCase().replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase()))
    .join('.');
}

/** Sets every setting the environment gives on `layers`; an unknown `KLAGG_` variable becomes an issue. */
export function applyEnv(env: Readonly<Record<string, string | undefined>>, layers: Layers, issues: ConfigIssue[]): void {
  const present = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const setFromEnv = (name: string, path: readonly string[], raw: string): void => {
    const node = nodeAt(path);
    if (node === undefined) return;
    layers.set(path, coerceEnvValue(node, raw), { source: 'env', from: name });
  };
  // Aliases first, so the canonical KLAGG_ name wins when both are set.
  for (const [name, path] of Object.entries(ENV_ALIASES)) {
    const raw = present(name);
    if (raw !== undefined) setFromEnv(name, path.split('.'), raw);
  }
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(ENV_PREFIX)) continue;
    const raw = present(name);
    if (raw === undefined || name === CONFIG_FILE_ENV || Object.hasOwn(ENV_ALIASES, name)) continue;
    const path = ENV_TO_PATH.get(name);
    if (path !== undefined) {
      setFromEnv(name, path, raw);
      continue;
    }
    const suggestion = closest(name, [...ENV_TO_PATH.keys(), ...Object.keys(ENV_ALIASES).filter((alias) => alias.startsWith(ENV_PREFIX))]);
    issues.push({
      path: pathFromEnvName(name),
      message: suggestion === undefined ? 'unknown environment variable' : `unknown environment variable, did you mean ${suggestion}?`,
      source: 'env',
      from: name,
    });
  }
}
