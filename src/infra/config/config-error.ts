/**
 * The one error configuration loading throws. It carries every problem found (not just the first), one issue per bad
 * field, each naming the setting's path, what is wrong, what was given and where it was given. Its code is the
 * registry's KLAGG_ERR_CONFIG_INVALID; its message lists the issues one per line.
 */
import { KlaggError } from '../../domain/errors.ts';

export type ConfigSource = 'file' | 'env' | 'flag' | 'default';

export interface ConfigIssue {
  /** Dotted path of the setting (`gateway.pullTimeoutMs`, `intervals[1]`); empty for a problem with the whole file. */
  readonly path: string;
  /** What is wrong, with the value given (`must be an integer from 1 to 64, got 0`). Never contains a secret. */
  readonly message: string;
  readonly source: ConfigSource;
  /** Where exactly: the environment variable's name, the file's path or the flag's path. Absent for defaults. */
  readonly from?: string;
}

/** One line: `path: message (from env NAME)`, or `config file NAME: message` for a problem with the whole file. */
export function formatConfigIssue(issue: ConfigIssue): string {
  const where =
    issue.source === 'default' ? 'default' : issue.from === undefined ? `from ${issue.source}` : `from ${issue.source} ${issue.from}`;
  if (issue.path !== '') return `${issue.path}: ${issue.message} (${where})`;
  if (issue.source === 'file' && issue.from !== undefined) return `config file ${issue.from}: ${issue.message}`;
  return `${issue.message} (${where})`;
}

export class ConfigError extends KlaggError<'KLAGG_ERR_CONFIG_INVALID'> {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super('KLAGG_ERR_CONFIG_INVALID', { count: issues.length, lines: issues.map(formatConfigIssue) });
    this.name = 'ConfigError';
    this.issues = Object.freeze([...issues]);
  }
}
