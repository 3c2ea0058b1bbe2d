/**
 * Reads the JSON config file. A malformed file is reported with the parser's reason and the line, column and offset of
 * the first bad character, never with the file's text (it may hold secrets).
 */
import { readFileSync } from 'node:fs';
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import type { ConfigIssue } from './config-error.ts';
import { isPlainObject, type PlainObject } from './layers.ts';

/** Describes a value's kind for a message (`list`, `null`, `number`). */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  return typeof value;
}

const LITERALS = ['true', 'false', 'null'];

/**
 * Where JSON.parse stopped, when its message does not say (V8 omits it for "Unexpected token"): jsonc-parser's first
 * error in strict JSON mode. For a bad word it points at the word; JSON.parse stops at the first character that cannot
 * continue a literal (`tru}` at `}`, `nope` at `o`), so the word's longest literal prefix is skipped to agree with it.
 */
function firstErrorOffset(text: string): number {
  const errors: ParseError[] = [];
  parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (first === undefined) return text.length;
  if (printParseErrorCode(first.error) !== 'InvalidSymbol') return first.offset;
  const word = text.slice(first.offset, first.offset + first.length);
  const prefix = Math.max(0, ...LITERALS.map((literal) => commonPrefixLength(word, literal)));
  return first.offset + prefix;
}

function commonPrefixLength(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n += 1;
  return n;
}

/** A JSON.parse failure as `reason at line L column C (position P)`. */
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
    position = firstErrorOffset(text);
  }
  const before = text.slice(0, position).split('\n');
  const column = (before[before.length - 1]?.length ?? 0) + 1;
  return `${reason} at line ${before.length} column ${column} (position ${position})`;
}

/** The file's settings, or undefined with the problem pushed on `issues`. */
export function readConfigFile(file: string, issues: ConfigIssue[]): PlainObject | undefined {
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
