/**
 * Loads klagg's configuration: defaults < JSON file < environment < flags, validated once, with every problem reported
 * at once (a ConfigError with one line per bad field, naming where the bad value came from).
 *
 * Environment variables are derived from the schema: `KLAGG_` + the path, sections joined by `__`, each camelCase key
 * upper-cased with `_` between words (`gateway.pullIntervalMs` → `KLAGG_GATEWAY__PULL_INTERVAL_MS`,
 * `intervals` → `KLAGG_INTERVALS=1m,5m`, `adminToken` → `KLAGG_ADMIN_TOKEN`). Conventional aliases: `DATABASE_URL`
 * (database.url) and `KLAGG_LOG_LEVEL` (log.level); the canonical name wins when both are set. `KLAGG_CONFIG` names the
 * config file when `sources.file` is not given. Empty values count as unset. Any other `KLAGG_` variable is an error.
 *
 * Environment strings are converted explicitly by the target setting's type: numbers only from numerals, booleans only
 * from true/false/1/0/yes/no/on/off, lists by splitting on commas. Anything else is passed through unchanged, so the
 * schema rejects it with the setting's own expectation and the variable's name.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue, type ConfigSource } from './config-error.ts';
import {
  CREDENTIAL_URL_PATHS,
  SECRET_PATHS,
  klaggConfigSchema,
  type DeepPartial,
  type KlaggConfig,
  type RelatedIssueParams,
} from './schema.ts';

export interface ConfigSources {
  /** Path of a JSON config file (must end in `.json`). Defaults to `env.KLAGG_CONFIG` when that is set. */
  readonly file?: string | undefined;
  /** Usually `process.env`; omitted means no environment. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Parsed command-line flags; `undefined` leaves are ignored. */
  readonly flags?: DeepPartial<KlaggConfig> | undefined;
}

export const ENV_PREFIX = 'KLAGG_';
/** The environment variable that names the config file. */
export const CONFIG_FILE_ENV = 'KLAGG_CONFIG';
/** Conventional names accepted besides the derived ones. */
export const ENV_ALIASES: Readonly<Record<string, string>> = { DATABASE_URL: 'database.url', KLAGG_LOG_LEVEL: 'log.level' };

// ---------------------------------------------------------------------------------------------------------------
// Schema walking

type Node = z.core.$ZodType;

function defOf(node: Node): { readonly type: string; readonly [key: string]: unknown } {
  return node._zod.def as unknown as { readonly type: string; readonly [key: string]: unknown };
}

/** Strips default / prefault / optional wrappers. */
function unwrap(node: Node): Node {
  let current = node;
  for (;;) {
    const def = defOf(current);
    if (def.type === 'default' || def.type === 'prefault' || def.type === 'optional' || def.type === 'nullable') {
      current = def.innerType as Node;
    } else {
      return current;
    }
  }
}

function shapeOf(node: Node): Readonly<Record<string, Node>> | undefined {
  const def = defOf(unwrap(node));
  return def.type === 'object' ? (def.shape as Record<string, Node>) : undefined;
}

/** The schema node at `path`, or undefined where the path leaves the schema. */
function nodeAt(path: readonly string[]): Node | undefined {
  let node: Node | undefined = klaggConfigSchema;
  for (const key of path) {
    const shape: Readonly<Record<string, Node>> | undefined = node === undefined ? undefined : shapeOf(node);
    node = shape !== undefined && Object.hasOwn(shape, key) ? shape[key] : undefined;
  }
  return node;
}

interface Leaf {
  readonly path: readonly string[];
  readonly node: Node;
}

function leavesOf(node: Node, path: readonly string[] = []): Leaf[] {
  const shape = shapeOf(node);
  if (shape === undefined) return [{ path, node: unwrap(node) }];
  return Object.entries(shape).flatMap(([key, child]) => leavesOf(child, [...path, key]));
}

const LEAVES: readonly Leaf[] = leavesOf(klaggConfigSchema);

/** `['gateway', 'pullIntervalMs']` → `KLAGG_GATEWAY__PULL_INTERVAL_MS`. */
export function envVarName(path: readonly string[] | string): string {
  const segments = typeof path === 'string' ? path.split('.') : path;
  return ENV_PREFIX + segments.map((segment) => segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('__');
}

/** Every environment variable the loader reads, with the setting it sets (derived names first, then the aliases). */
export function configEnvVars(): readonly { readonly name: string; readonly path: string }[] {
  return [
    ...LEAVES.map((leaf) => ({ name: envVarName(leaf.path), path: leaf.path.join('.') })),
    ...Object.entries(ENV_ALIASES).map(([name, path]) => ({ name, path })),
  ];
}

const ENV_TO_PATH: ReadonlyMap<string, readonly string[]> = new Map(LEAVES.map((leaf) => [envVarName(leaf.path), leaf.path]));

// ---------------------------------------------------------------------------------------------------------------
// Coercion of environment strings, by the target's schema type

const NUMERAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = { true: true, false: false, '1': true, '0': false, yes: true, no: false, on: true, off: false };

function toNumber(raw: string): unknown {
  const text = raw.trim();
  return NUMERAL.test(text) ? Number(text) : raw;
}

function toBoolean(raw: string): unknown {
  const word = raw.trim().toLowerCase();
  return Object.hasOwn(BOOLEAN_WORDS, word) ? BOOLEAN_WORDS[word] : raw;
}

/** Converts `raw` to the type `node` expects when it is a well-formed spelling of one; otherwise returns it unchanged. */
function coerceEnvValue(node: Node, raw: string): unknown {
  const target = unwrap(node);
  const def = defOf(target);
  switch (def.type) {
    case 'number':
      return toNumber(raw);
    case 'boolean':
      return toBoolean(raw);
    case 'array':
      return raw.split(',').map((part) => coerceEnvValue(def.element as Node, part.trim()));
    case 'literal':
    case 'enum':
    case 'string':
      return raw;
    case 'union': {
      const options = (def.options as Node[]).map(unwrap);
      const literals = options.flatMap((option) => {
        const optionDef = defOf(option);
        return optionDef.type === 'literal' ? (optionDef.values as unknown[]) : [];
      });
      if (literals.includes(raw)) return raw;
      for (const option of options) {
        const converted = coerceEnvValue(option, raw);
        if (converted !== raw) return converted;
      }
      return raw;
    }
    default:
      return raw;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Merging, remembering where each value came from

interface Origin {
  readonly source: Exclude<ConfigSource, 'default'>;
  readonly from: string;
}

type PlainObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is PlainObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const originKey = (path: readonly (string | number)[]): string => path.map(String).join('\u0001');

class Layers {
  readonly raw: PlainObject = {};
  readonly #origins = new Map<string, Origin>();

  /** Sets one value (a leaf: anything but a plain object) at `path`. */
  set(path: readonly string[], value: unknown, origin: Origin): void {
    let target = this.raw;
    for (let i = 0; i < path.length - 1; i += 1) target = this.#child(target, path.slice(0, i + 1));
    const key = path[path.length - 1];
    if (key === undefined) return;
    this.#forgetBelow(path);
    target[key] = Array.isArray(value) ? [...(value as unknown[])] : value;
    this.#origins.set(originKey(path), origin);
  }

  /** Deep-merges a plain object: objects merge key by key, everything else (arrays included) replaces. */
  merge(value: PlainObject, originOf: (path: readonly string[]) => Origin, path: readonly string[] = []): void {
    for (const [key, child] of Object.entries(value)) {
      if (child === undefined) continue;
      const childPath = [...path, key];
      if (isPlainObject(child)) {
        this.#walkTo(childPath);
        this.merge(child, originOf, childPath);
      } else {
        this.set(childPath, child, originOf(childPath));
      }
    }
  }

  /** Where the value at `path` (or the nearest enclosing value set as a whole, such as a list) came from. */
  originOf(path: readonly (string | number)[]): Origin | undefined {
    for (let length = path.length; length > 0; length -= 1) {
      const origin = this.#origins.get(originKey(path.slice(0, length)));
      if (origin !== undefined) return origin;
    }
    return undefined;
  }

  #walkTo(path: readonly string[]): PlainObject {
    let target = this.raw;
    for (let i = 0; i < path.length; i += 1) target = this.#child(target, path.slice(0, i + 1));
    return target;
  }

  /** The object at `path` (whose parent is `parent`), replacing a non-object value set there earlier. */
  #child(parent: PlainObject, path: readonly string[]): PlainObject {
    const key = path[path.length - 1] as string;
    const existing = parent[key];
    if (isPlainObject(existing)) return existing;
    const created: PlainObject = {};
    parent[key] = created;
    this.#origins.delete(originKey(path));
    return created;
  }

  #forgetBelow(path: readonly string[]): void {
    const prefix = originKey(path) + '\u0001';
    for (const key of [...this.#origins.keys()]) if (key.startsWith(prefix)) this.#origins.delete(key);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Messages

/** `['intervals', 1]` → `intervals[1]`. */
function displayPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text === '' ? String(segment) : `.${String(segment)}`;
  }
  return text;
}

/** The schema path of a setting without list indices, as SECRET_PATHS spells it. */
const settingPath = (path: readonly PropertyKey[]): string =>
  path.filter((segment) => typeof segment !== 'number').map(String).join('.');

function truncate(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Masks the password of `scheme://user:password@host` (and of `user:password@host`). */
export function maskUrlPassword(value: string): string {
  return value.replace(/^((?:[a-z][a-z0-9+.-]*:\/\/)?[^:/@\s]*:)[^@/\s]*@/i, '$1***@');
}

function describeValue(value: unknown, path: readonly PropertyKey[]): string {
  const setting = settingPath(path);
  if (SECRET_PATHS.has(setting)) {
    return typeof value === 'string' ? `a ${value.length}-character string (value hidden)` : `a ${kindOf(value)} (value hidden)`;
  }
  if (typeof value === 'string') return truncate(JSON.stringify(CREDENTIAL_URL_PATHS.has(setting) ? maskUrlPassword(value) : value));
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Array.isArray(value)) {
    try {
      return truncate(JSON.stringify(value));
    } catch {
      return 'a list';
    }
  }
  return `${kindOf(value) === 'object' ? 'an' : 'a'} ${kindOf(value)}`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  return typeof value;
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(name.length / 3)) + 1; // only near misses (typos), not any short word
  for (const candidate of candidates) {
    const distance = levenshtein(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function unknownKeyMessage(parent: readonly PropertyKey[], key: string): string {
  const shape = parent.every((segment) => typeof segment === 'string') ? nodeAt(parent as string[]) : undefined;
  const known = shape === undefined ? [] : Object.keys(shapeOf(shape) ?? {});
  const suggestion = closest(key, known);
  if (suggestion !== undefined) return `unknown setting, did you mean ${displayPath([...parent, suggestion])}?`;
  return known.length > 0 ? `unknown setting (known here: ${known.join(', ')})` : 'unknown setting';
}

// ---------------------------------------------------------------------------------------------------------------
// Sources

/** A JSON.parse failure as `reason at line L column C (position P)`, without echoing the file's text (it may hold secrets). */
function describeJsonError(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  let reason: string;
  let position: number;
  const positioned = /^(.*?) in JSON at position (\d+)/.exec(message);
  if (positioned !== null) {
    reason = positioned[1] ?? 'syntax error';
    position = Number(positioned[2]);
  } else if (message.startsWith('Unexpected end of JSON input')) {
    reason = 'Unexpected end of input';
    position = text.length;
  } else {
    reason = /^(Unexpected token '.*?'),\s/.exec(message)?.[1] ?? 'Unexpected token';
    position = firstBadOffset(text);
  }
  const before = text.slice(0, position).split('\n');
  const line = before.length;
  const column = (before[before.length - 1]?.length ?? 0) + 1;
  return `${reason} at line ${line} column ${column} (position ${position})`;
}

/** Whether `prefix` is valid JSON or could still become valid (an error only at its very end). */
function isViablePrefix(prefix: string): boolean {
  try {
    JSON.parse(prefix);
    return true;
  } catch (error) {
    const message = error instanceof Error ? error.message : '';
    if (message.startsWith('Unexpected end of JSON input')) return true;
    const at = /at position (\d+)/.exec(message);
    return at !== null && Number(at[1]) >= prefix.length;
  }
}

/** Offset of the first character that makes `text` invalid JSON (binary search over viable prefixes). */
function firstBadOffset(text: string): number {
  let good = 0;
  let bad = text.length;
  while (bad - good > 1) {
    const middle = Math.floor((good + bad) / 2);
    if (isViablePrefix(text.slice(0, middle))) good = middle;
    else bad = middle;
  }
  return bad - 1;
}

function readConfigFile(file: string, issues: ConfigIssue[]): PlainObject | undefined {
  const fail = (message: string): undefined => {
    issues.push({ path: '', message, source: 'file', from: file });
    return undefined;
  };
  if (!file.toLowerCase().endsWith('.json')) return fail('not a .json file (only JSON config files are supported)');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return fail('file not found');
    if (code === 'EISDIR') return fail('is a directory, not a file');
    return fail(`cannot be read (${code ?? (error instanceof Error ? error.message : String(error))})`);
  }
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return fail(`not valid JSON: ${describeJsonError(text, error)}`);
  }
  if (!isPlainObject(parsed)) return fail(`must contain a JSON object, got ${kindOf(parsed) === 'object' ? 'an object' : kindOf(parsed)}`);
  return parsed;
}

/** `KLAGG_GATEWAY__PULL_INTERVAL` → `gateway.pullInterval`: what an unknown variable would have set. */
function pathFromEnvName(name: string): string {
  return name
    .slice(ENV_PREFIX.length)
    .split('__')
    .map((segment) => segment.toLowerCase().replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase()))
    .join('.');
}

function applyEnv(env: Readonly<Record<string, string | undefined>>, layers: Layers, issues: ConfigIssue[]): void {
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

// ---------------------------------------------------------------------------------------------------------------
// Validation

interface Pending {
  readonly path: readonly PropertyKey[];
  readonly messages: string[];
  value: { readonly present: boolean; readonly value?: unknown };
  readonly origin: Origin | undefined;
}

function schemaIssues(zodIssues: readonly z.core.$ZodIssue[], layers: Layers): ConfigIssue[] {
  const pending = new Map<string, Pending>();
  const add = (path: readonly PropertyKey[], message: string, value: Pending['value'], origin: Origin | undefined): void => {
    const key = displayPath(path);
    const existing = pending.get(key);
    if (existing === undefined) {
      pending.set(key, { path, messages: [message], value, origin });
    } else if (!existing.messages.includes(message)) {
      existing.messages.push(message);
    }
  };
  const originOf = (path: readonly PropertyKey[]): Origin | undefined =>
    layers.originOf(path.filter((segment): segment is string | number => typeof segment !== 'symbol'));

  for (const issue of zodIssues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        add(path, unknownKeyMessage(issue.path, key), { present: false }, originOf(path));
      }
      continue;
    }
    const value = { present: issue.input !== undefined, value: issue.input };
    const origin = originOf(issue.path);
    const related = issue.code === 'custom' ? (issue.params as Partial<RelatedIssueParams> | undefined)?.related : undefined;
    if (related !== undefined && origin === undefined) {
      const relatedOrigin = originOf(related.path);
      if (relatedOrigin !== undefined) {
        add(related.path, related.message, { present: true, value: related.input }, relatedOrigin);
        continue;
      }
    }
    add(issue.path, issue.message, value, origin);
  }

  return [...pending.values()].map(({ path, messages, value, origin }) => {
    const got = value.present ? `, got ${describeValue(value.value, path)}` : '';
    const message = messages.join('; ') + got;
    return origin === undefined
      ? { path: displayPath(path), message, source: 'default' as const }
      : { path: displayPath(path), message, source: origin.source, from: origin.from };
  });
}

/** Secret values given anywhere, to be scrubbed from messages as a last line of defence. */
function secretsIn(layers: Layers): string[] {
  const secrets: string[] = [];
  for (const setting of SECRET_PATHS) {
    let value: unknown = layers.raw;
    for (const key of setting.split('.')) value = isPlainObject(value) ? value[key] : undefined;
    if (typeof value === 'string' && value.length >= 6) secrets.push(value);
  }
  for (const setting of CREDENTIAL_URL_PATHS) {
    let value: unknown = layers.raw;
    for (const key of setting.split('.')) value = isPlainObject(value) ? value[key] : undefined;
    if (typeof value !== 'string') continue;
    const password = /^(?:[a-z][a-z0-9+.-]*:\/\/)?[^:/@\s]*:([^@/\s]*)@/i.exec(value)?.[1];
    if (password !== undefined && password.length >= 4) secrets.push(password);
  }
  return secrets;
}

function scrub(issue: ConfigIssue, secrets: readonly string[]): ConfigIssue {
  let message = issue.message;
  for (const secret of secrets) message = message.split(secret).join('***');
  return message === issue.message ? issue : { ...issue, message };
}

/**
 * Builds the configuration from defaults < file < environment < flags and validates it.
 * @throws ConfigError listing every bad field (and a missing or malformed file, and unknown KLAGG_ variables).
 */
export function loadConfig(sources: ConfigSources = {}): KlaggConfig {
  const env = sources.env ?? {};
  const issues: ConfigIssue[] = [];
  const layers = new Layers();

  const configFile = sources.file ?? (env[CONFIG_FILE_ENV] === '' ? undefined : env[CONFIG_FILE_ENV]);
  if (configFile !== undefined) {
    const content = readConfigFile(configFile, issues);
    if (content !== undefined) layers.merge(content, () => ({ source: 'file', from: configFile }));
  }
  applyEnv(env, layers, issues);
  if (sources.flags !== undefined && isPlainObject(sources.flags)) {
    layers.merge(sources.flags, (path) => ({ source: 'flag', from: path.join('.') }));
  }

  const result = klaggConfigSchema.safeParse(layers.raw, { reportInput: true });
  if (!result.success) issues.push(...schemaIssues(result.error.issues, layers));
  if (issues.length > 0) {
    const secrets = secretsIn(layers);
    throw new ConfigError(issues.map((issue) => scrub(issue, secrets)));
  }
  if (!result.success) throw new Error('unreachable: schema failed without issues');
  return result.data;
}
