/**
 * Loads klagg's configuration: defaults < JSON file < environment < flags, validated once, with every problem reported
 * at once (a ConfigError with one line per bad field, naming where the bad value came from).
 *
 * The parts: the file (config-file.ts), the environment and its variable names (env.ts), the merge that remembers
 * each value's source (layers.ts), and zod's issues turned into klagg's (issues.ts). Environment strings are converted
 * explicitly by the target setting's type (schema-walk.ts): numbers only from numerals, booleans only from
 * true/false/1/0/yes/no/on/off, lists by splitting on commas; anything else is passed through unchanged, so the schema
 * rejects it with the setting's own expectation and the variable's name.
 */
import { ConfigError, type ConfigIssue } from './config-error.ts';
import { readConfigFile } from './config-file.ts';
import { applyEnv, CONFIG_FILE_ENV } from './env.ts';
import { schemaIssues, scrub, secretsIn } from './issues.ts';
import { isPlainObject, Layers } from './layers.ts';
import { klaggConfigSchema, type DeepPartial, type KlaggConfig } from './schema.ts';

export { CONFIG_FILE_ENV, ENV_ALIASES, ENV_PREFIX, configEnvVars, envVarName } from './env.ts';
export { maskUrlPassword } from './issues.ts';

export interface ConfigSources {
  /** Path of a JSON config file (must end in `.json`). Defaults to `env.KLAGG_CONFIG` when that is set. */
  readonly file?: string | undefined;
  /** Usually `process.env`; omitted means no environment. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Parsed command-line flags; `undefined` leaves are ignored. */
  readonly flags?: DeepPartial<KlaggConfig> | undefined;
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
