/**
 * What the loader needs to know about the schema — its setting paths, the keys of each section and the type each
 * environment string converts to — read through zod's public classes (`.shape`, `.unwrap()`, `.element`,
 * `.options`), so a setting added to the schema is found everywhere at once.
 */
import { z } from 'zod';
import { klaggConfigSchema } from './schema.ts';

type Node = z.ZodType;

/** Strips default / prefault / optional / nullable wrappers. */
function unwrap(node: Node): Node {
  let current = node;
  while (current instanceof z.ZodDefault || current instanceof z.ZodPrefault || current instanceof z.ZodOptional || current instanceof z.ZodNullable) {
    current = current.unwrap() as Node;
  }
  return current;
}

function shapeOf(node: Node): Readonly<Record<string, Node>> | undefined {
  const inner = unwrap(node);
  return inner instanceof z.ZodObject ? (inner.shape as Record<string, Node>) : undefined;
}

/** The schema node at `path`, or undefined where the path leaves the schema. */
export function nodeAt(path: readonly string[]): Node | undefined {
  let node: Node | undefined = klaggConfigSchema;
  for (const key of path) {
    const shape: Readonly<Record<string, Node>> | undefined = node === undefined ? undefined : shapeOf(node);
    node = shape !== undefined && Object.hasOwn(shape, key) ? shape[key] : undefined;
  }
  return node;
}

/** The setting names of the section at `path` (empty where there is no section). */
export function keysAt(path: readonly string[]): string[] {
  const node = nodeAt(path);
  return Object.keys((node && shapeOf(node)) ?? {});
}

function leavesOf(node: Node, path: readonly string[]): (readonly string[])[] {
  const shape = shapeOf(node);
  if (shape === undefined) return [path];
  return Object.entries(shape).flatMap(([key, child]) => leavesOf(child, [...path, key]));
}

/** Every setting's path, in schema order. */
export const SETTING_PATHS: readonly (readonly string[])[] = leavesOf(klaggConfigSchema, []);

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

/**
 * Converts an environment string to the type `node` expects when it is a well-formed spelling of one; otherwise
 * returns it unchanged, so the schema rejects it with the setting's own expectation.
 */
export function coerceEnvValue(node: Node, raw: string): unknown {
  const target = unwrap(node);
  if (target instanceof z.ZodNumber) return toNumber(raw);
  if (target instanceof z.ZodBoolean) return toBoolean(raw);
  if (target instanceof z.ZodArray) return raw.split(',').map((part) => coerceEnvValue(target.element as Node, part.trim()));
  if (target instanceof z.ZodUnion) {
    const options = (target.options as readonly Node[]).map(unwrap);
    const literals = options.flatMap((option) => (option instanceof z.ZodLiteral ? [...(option.values as Set<unknown>)] : []));
    if (literals.includes(raw)) return raw;
    for (const option of options) {
      const converted = coerceEnvValue(option, raw);
      if (converted !== raw) return converted;
    }
  }
  return raw;
}
