/**
 * Turns zod's issues into klagg's: one per bad setting, its path as the user spells it (`intervals[1]`), the schema's
 * expectation plus what was given (secrets hidden, URL passwords masked) and where it was given; unknown keys get a
 * "did you mean" from the section's known keys.
 */
import type { z } from 'zod';
import type { ConfigIssue } from './config-error.ts';
import { kindOf } from './config-file.ts';
import { closest } from './did-you-mean.ts';
import { isPlainObject, type Layers, type Origin } from './layers.ts';
import { keysAt } from './schema-walk.ts';
import { CREDENTIAL_URL_PATHS, SECRET_PATHS, type RelatedIssueParams } from './schema.ts';

/** A key that reads as itself in a dotted path; any other (empty, dotted, spaced, a line break) is shown quoted. */
const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * `['intervals', 1]` → `intervals[1]`; an unknown key of any other spelling quoted, `gateway["a.b"]`, so that each
 * issue stays one line and says exactly which key is meant.
 */
function displayPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (typeof segment === 'string' && !PLAIN_KEY.test(segment)) text += `[${JSON.stringify(segment)}]`;
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

function unknownKeyMessage(parent: readonly PropertyKey[], key: string): string {
  const known = parent.every((segment) => typeof segment === 'string') ? keysAt(parent as string[]) : [];
  const suggestion = closest(key, known);
  if (suggestion !== undefined) return `unknown setting, did you mean ${displayPath([...parent, suggestion])}?`;
  return known.length > 0 ? `unknown setting (known here: ${known.join(', ')})` : 'unknown setting';
}

interface Pending {
  readonly path: readonly PropertyKey[];
  readonly messages: string[];
  value: { readonly present: boolean; readonly value?: unknown };
  readonly origin: Origin | undefined;
}

/** klagg's issues for zod's (from `safeParse`), each blamed on the source of the value it is about. */
export function schemaIssues(zodIssues: z.ZodError['issues'], layers: Layers): ConfigIssue[] {
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
export function secretsIn(layers: Layers): string[] {
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

/** Replaces every secret in the issue's message by `***`. */
export function scrub(issue: ConfigIssue, secrets: readonly string[]): ConfigIssue {
  let message = issue.message;
  for (const secret of secrets) message = message.split(secret).join('***');
  return message === issue.message ? issue : { ...issue, message };
}
