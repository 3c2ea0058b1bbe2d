/**
 * Fuzzing the configuration loader with property-based tests: config files holding arbitrary JSON at every setting,
 * unknown keys (`__proto__` and other names an object already has included), wrong types, garbage text and bytes; and
 * environments of every setting's variable (plus unknown `KLAGG_` names and the aliases) holding arbitrary strings.
 *
 * Properties: loading gives a valid configuration or a ConfigError — never another exception; the error has one line
 * per issue (no path or message breaks its line), each blamed on the source that gave the value (the file by its path,
 * the variable by its name); every unknown key or variable is named; an accepted file's values are the configuration's
 * values; and nothing leaks into Object.prototype. A few generated bad files go through the real CLI: exit 2 and
 * exactly the lines the loader reports.
 */
import t from 'tap';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { ConfigError, type ConfigIssue } from '../../src/infra/config/config-error.ts';
import { configEnvVars, ENV_ALIASES, loadConfig, type ConfigSources } from '../../src/infra/config/load-config.ts';
import { defaultConfig, type KlaggConfig } from '../../src/infra/config/schema.ts';
import { fuzzParameters, fuzzRuns, fuzzTitle } from '../support/fuzz.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const SETTINGS = configEnvVars().filter(({ name }) => !Object.hasOwn(ENV_ALIASES, name));
const SECTIONS = [...new Set(SETTINGS.filter(({ path }) => path.includes('.')).map(({ path }) => path.split('.')[0]!))];
const TOP_KEYS = new Set(SETTINGS.map(({ path }) => path.split('.')[0]!));
const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

type Outcome = { ok: true; config: KlaggConfig } | { ok: false; error: ConfigError };

/** Loads, failing the property on anything but a configuration or a ConfigError. */
function load(sources: ConfigSources): Outcome {
  try {
    return { ok: true, config: loadConfig(sources) };
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, error };
    throw new Error(`not a ConfigError: ${error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : String(error)}`);
  }
}

/** The shape every ConfigError must have, whatever the input; returns its issues. */
function checkError(error: ConfigError, check: (issue: ConfigIssue) => void): readonly ConfigIssue[] {
  if (error.code !== 'KLAGG_ERR_CONFIG_INVALID') throw new Error(`code ${error.code}`);
  if (error.issues.length === 0) throw new Error('a ConfigError without issues');
  const lines = error.message.split('\n');
  if (lines.length !== error.issues.length + 1) throw new Error(`${error.issues.length} issues but ${lines.length - 1} lines:\n${error.message}`);
  for (const issue of error.issues) {
    if (issue.message === '') throw new Error(`an issue without a message at ${issue.path}`);
    if (!['file', 'env', 'flag', 'default'].includes(issue.source)) throw new Error(`source ${issue.source}`);
    check(issue);
  }
  return error.issues;
}

function checkPrototype(): void {
  const keys = Object.getOwnPropertyNames(Object.prototype).sort();
  if (!isDeepStrictEqual(keys, PROTOTYPE_KEYS)) throw new Error(`Object.prototype was changed: ${keys.join(', ')}`);
}

/** How an issue spells the path of an unknown key: dotted, a key that is not a plain name quoted (`a["x.y"]`). */
function displayPath(segments: readonly string[]): string {
  return segments.map((key, i) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${i === 0 ? '' : '.'}${key}` : `[${JSON.stringify(key)}]`)).join('');
}

function valueAt(config: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], config);
}

// ---- generators ------------------------------------------------------------------------------------------------------

/** Keys that are not settings: names Object.prototype has, unicode, empty, dotted, with line breaks. */
const unknownKey: fc.Arbitrary<string> = fc
  .oneof(
    fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', 'length', '', ' ', 'a.b', 'intervals ', 'Venue', 'line\nbreak', 'tab\tkey', 'ünïcødé', '😀'),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
  )
  .filter((key) => !TOP_KEYS.has(key));

/** Values for settings: arbitrary JSON, plus plausible ones so that valid files occur too. */
const settingValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.integer({ min: -10, max: 100_000 }),
  fc.double(),
  fc.constantFrom('1m', '5m', '1h', 'binance', 'usdm', 'info', 'auto', 'debug', 'postgres://u:secretpw@h/db', 'http://127.0.0.1:1', 'ws://127.0.0.1:2', 'nats://x:4222', true, false, null, ['1m', '5m'], ['1m', '1m'], [], {}),
);

/** A config object: some settings at their paths, unknown keys at the top and inside sections, whole sections replaced. */
const configObject: fc.Arbitrary<{ object: Record<string, unknown>; given: Map<string, unknown>; unknown: string[] }> = fc
  .record({
    settings: fc.uniqueArray(fc.tuple(fc.constantFrom(...SETTINGS.map(({ path }) => path)), settingValue), { maxLength: 8, selector: ([path]) => path }),
    unknownTop: fc.uniqueArray(fc.tuple(unknownKey, fc.jsonValue({ maxDepth: 2 })), { maxLength: 2, selector: ([key]) => key }),
    unknownInSection: fc.uniqueArray(fc.tuple(fc.constantFrom(...SECTIONS), unknownKey, fc.jsonValue({ maxDepth: 1 })), { maxLength: 2, selector: ([s, key]) => `${s}.${key}` }),
  })
  .map(({ settings, unknownTop, unknownInSection }) => {
    const object: Record<string, unknown> = {};
    const given = new Map<string, unknown>();
    const put = (path: readonly string[], value: unknown): void => {
      let target = object;
      for (const key of path.slice(0, -1)) {
        const next = Object.hasOwn(target, key) ? target[key] : undefined;
        if (typeof next !== 'object' || next === null || Array.isArray(next)) Object.defineProperty(target, key, { value: {}, enumerable: true, writable: true, configurable: true });
        target = target[key] as Record<string, unknown>;
      }
      Object.defineProperty(target, path.at(-1)!, { value, enumerable: true, writable: true, configurable: true });
    };
    for (const [path, value] of settings) {
      put(path.split('.'), value);
      given.set(path, value);
    }
    const unknown: string[] = [];
    for (const [section, key, value] of unknownInSection) {
      if (given.has(section) || !SECTIONS.includes(section)) continue;
      put([section, key], value);
      unknown.push(displayPath([section, key]));
    }
    for (const [key, value] of unknownTop) {
      put([key], value);
      unknown.push(displayPath([key]));
    }
    return { object, given, unknown };
  });

/** Files that are not a JSON object: garbage bytes and text, broken JSON, other JSON values, a BOM. */
const garbageFile: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }).map((text) => Buffer.from(text)),
  configObject.chain(({ object }) => {
    const text = JSON.stringify(object);
    return fc.nat({ max: Math.max(0, text.length - 1) }).map((cut) => Buffer.from(text.slice(0, cut)));
  }),
  fc.jsonValue().filter((value) => typeof value !== 'object' || value === null || Array.isArray(value)).map((value) => Buffer.from(JSON.stringify(value))),
  fc.constantFrom('', ' ', '\uFEFF', '\uFEFF{}', '{}//x', '{"a":1,}', '{/*c*/}', "{'a':1}", 'NaN', '{"venue":"binance"}{}').map((text) => Buffer.from(text)),
);

// ---- properties --------------------------------------------------------------------------------------------------------

t.test(fuzzTitle(fuzzRuns(3000), 'config files with arbitrary values and unknown keys: a valid configuration or a precise ConfigError'), async (t) => {
  const runs = fuzzRuns(3000);
  const file = `${t.testdir()}/klagg.json`;
  let valid = 0;
  fc.assert(
    fc.property(configObject, ({ object, given, unknown }) => {
      writeFileSync(file, JSON.stringify(object));
      const outcome = load({ file, env: {} });
      checkPrototype();
      if (outcome.ok) {
        valid++;
        if (unknown.length > 0) throw new Error(`unknown keys accepted: ${unknown.join(', ')}`);
        for (const [path, value] of given) if (!isDeepStrictEqual(valueAt(outcome.config, path), value)) throw new Error(`${path}: configured ${JSON.stringify(valueAt(outcome.config, path))}, the file said ${JSON.stringify(value)}`);
        return;
      }
      const issues = checkError(outcome.error, (issue) => {
        if (issue.source === 'env' || issue.source === 'flag') throw new Error(`blamed on ${issue.source} without one: ${JSON.stringify(issue)}`);
        if (issue.source === 'file' && issue.from !== file) throw new Error(`blamed on another file: ${JSON.stringify(issue)}`);
        // Whatever is wrong with a value the file gave is blamed on the file.
        if (issue.source === 'default' && [...given.keys(), ...unknown].some((path) => issue.path === path)) throw new Error(`a value of the file blamed on the defaults: ${JSON.stringify(issue)}`);
      });
      for (const path of unknown) if (!issues.some((issue) => issue.path === path)) throw new Error(`unknown key ${JSON.stringify(path)} not reported: ${outcome.error.message}`);
    }),
    fuzzParameters(runs),
  );
  t.ok(valid > 0 && valid < runs, `both outcomes occur (${valid} valid of ${runs})`);
});

t.test(fuzzTitle(fuzzRuns(2000), 'garbage config files: one issue naming the file, never another exception'), async (t) => {
  const runs = fuzzRuns(2000);
  const file = `${t.testdir()}/klagg.json`;
  fc.assert(
    fc.property(garbageFile, (bytes) => {
      writeFileSync(file, bytes);
      const outcome = load({ file, env: {} });
      checkPrototype();
      if (outcome.ok) {
        // Only a file that is a JSON object (after an optional BOM) can be valid.
        const text = Buffer.from(bytes).toString('utf8').replace(/^\uFEFF/, '');
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`accepted ${JSON.stringify(text)}`);
        return;
      }
      checkError(outcome.error, (issue) => {
        if (issue.source !== 'file' || issue.from !== file) throw new Error(`not blamed on the file: ${JSON.stringify(issue)}`);
      });
    }),
    fuzzParameters(runs),
  );
  t.pass(`${runs} garbage files`);
});

/** Environment strings: numerals in every spelling, booleans, lists, unicode, whitespace, huge. */
const envString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.constantFrom('1', '0', '-1', '1e3', '0x10', '1_000', ' 42 ', 'NaN', 'Infinity', '9'.repeat(400), 'true', 'FALSE', 'yes', 'off', 'maybe', '1m,5m', '1m,,5m', ',', ' , ', '1m, 1h', 'auto', 'http://127.0.0.1:9', 'postgres://user:hunter22@db/x', 'x'.repeat(10_000)),
);

const envRecord: fc.Arbitrary<{ env: Record<string, string>; unknown: string[] }> = fc
  .record({
    known: fc.uniqueArray(fc.tuple(fc.constantFrom(...configEnvVars().map(({ name }) => name)), envString), { maxLength: 6, selector: ([name]) => name }),
    unknown: fc.uniqueArray(fc.tuple(fc.oneof(fc.constantFrom('KLAGG_', 'KLAGG_X', 'KLAGG_LOG__LEVL', 'KLAGG___PROTO__', 'KLAGG_CONSTRUCTOR', 'KLAGG_GATEWAY__', 'KLAGG_GATEWAY'), fc.stringMatching(/^KLAGG_[A-Z_]{1,20}$/)), fc.string({ minLength: 1, maxLength: 8 })), { maxLength: 2, selector: ([name]) => name }),
  })
  .map(({ known, unknown }) => {
    const env: Record<string, string> = Object.fromEntries(known);
    const names: string[] = [];
    const knownNames = new Set(configEnvVars().map(({ name }) => name));
    for (const [name, value] of unknown) {
      if (knownNames.has(name) || name === 'KLAGG_CONFIG' || Object.hasOwn(env, name)) continue;
      env[name] = value;
      names.push(name);
    }
    return { env, unknown: names };
  });

t.test(fuzzTitle(fuzzRuns(3000), 'environments of every setting with arbitrary strings: a valid configuration or a ConfigError naming each variable'), async (t) => {
  const runs = fuzzRuns(3000);
  let valid = 0;
  fc.assert(
    fc.property(envRecord, ({ env, unknown }) => {
      const outcome = load({ env });
      checkPrototype();
      if (outcome.ok) {
        valid++;
        if (unknown.length > 0) throw new Error(`unknown variables accepted: ${unknown.join(', ')}`);
        return;
      }
      const issues = checkError(outcome.error, (issue) => {
        if (issue.source === 'file' || issue.source === 'flag') throw new Error(`blamed on ${issue.source} without one: ${JSON.stringify(issue)}`);
        if (issue.source === 'env' && (issue.from === undefined || env[issue.from] === undefined)) throw new Error(`blamed on a variable not set: ${JSON.stringify(issue)}`);
        // Secrets never appear: the admin token is only ever described by its length.
        const token = env['KLAGG_ADMIN_TOKEN'];
        if (token !== undefined && token.length >= 6 && issue.message.includes(token)) throw new Error(`the admin token leaked: ${issue.message}`);
      });
      for (const name of unknown) if (!issues.some((issue) => issue.source === 'env' && issue.from === name)) throw new Error(`unknown variable ${name} not reported: ${outcome.error.message}`);
    }),
    fuzzParameters(runs),
  );
  t.ok(valid > 0 && valid < runs, `both outcomes occur (${valid} valid of ${runs})`);
});

t.test(fuzzTitle(fuzzRuns(6), 'bad config files through the real CLI: exit 2, exactly one line per issue'), async (t) => {
  const runs = fuzzRuns(6);
  const dir = t.testdir();
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('KLAGG_') && name !== 'DATABASE_URL'));
  const samples = fc.sample(
    configObject.filter(({ object }) => {
      writeFileSync(`${dir}/probe.json`, JSON.stringify(object));
      return !load({ file: `${dir}/probe.json`, env: {} }).ok;
    }),
    { numRuns: runs, seed: fuzzParameters(runs).seed },
  );
  await Promise.all(
    samples.map(async ({ object }, i) => {
      const file = `${dir}/bad-${i}.json`;
      writeFileSync(file, JSON.stringify(object));
      const expected = load({ file, env: {} });
      if (expected.ok) throw new Error('sample unexpectedly valid');
      const child = spawn(process.execPath, [MAIN, '--config', file, 'fake-exchange', '--symbols', '1'], { stdio: ['ignore', 'pipe', 'pipe'], env });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const [code] = (await once(child, 'exit')) as [number | null];
      clearTimeout(timer);
      t.equal(code, 2, `sample ${i}: exit 2`);
      t.equal(stderr, `${expected.error.message}\n`, `sample ${i}: the ${expected.error.issues.length} issue line(s) and nothing else`);
    }),
  );
});

t.test('found by fuzzing: `__proto__` in a config file is an unknown key, never the prototype', async (t) => {
  const file = `${t.testdir()}/klagg.json`;
  writeFileSync(file, '{"__proto__": {"polluted": 1}, "gateway": {"__proto__": {"x": 1}}}');
  const outcome = load({ file, env: {} });
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype untouched');
  t.notOk(outcome.ok);
  if (!outcome.ok) {
    t.same(
      outcome.error.issues.map((issue) => [issue.path, issue.source, issue.from]),
      [
        ['gateway.__proto__', 'file', file],
        ['__proto__', 'file', file],
      ],
      'each reported once, blamed on the file (not on the defaults of every section)',
    );
  }
});

t.test('found by fuzzing: an unknown key holding an object or a line break is blamed on the file, on one line', async (t) => {
  const file = `${t.testdir()}/klagg.json`;
  writeFileSync(file, JSON.stringify({ 'line\nbreak': {}, intervals: { length: 2 } }));
  const outcome = load({ file, env: {} });
  t.notOk(outcome.ok);
  if (!outcome.ok) {
    const lines = outcome.error.message.split('\n').slice(1);
    t.equal(lines.length, 2, 'one line per issue');
    t.equal(lines[0], `  intervals: must be a list of intervals, got an object (from file ${file})`);
    // The known keys are the schema's (they grow with it); the point is the quoted key, one line, the file named.
    const known = lines[1]?.match(/^ {2}\["line\\nbreak"\]: unknown setting \(known here: ([\w, ]+)\) \(from file (.*)\)$/);
    t.ok(known, `the line-break key quoted, on one line: ${lines[1]}`);
    t.equal(known?.[2], file, 'blamed on the file');
    t.ok(Object.keys(defaultConfig()).every((key) => known?.[1]?.split(', ').includes(key)), 'the known keys listed');
  }
});
