/**
 * PostgreSQL array literals (`{…}`) built directly from columns of values. The upsert passes each column as one
 * literal for a parameter typed as an array (`$1::int8[]`, parsed once by the server when it is bound): pg's generic
 * array serializer quotes and regex-escapes every element and cost ~35 ms per 5,000-row flush here, a quarter of the
 * whole flush; these builders are a join.
 * Each one rejects what it cannot represent exactly, so a bad value fails loudly here rather than as a vague
 * server-side parse error.
 */

/** Plain decimal notation only: what the exchange sends and klagg's engine produces (no exponent, NaN or spaces). */
const DECIMAL = /^-?\d+(?:\.\d+)?$/;
const NEEDS_ESCAPE = /["\\]/;

export function intArrayLiteral(values: readonly number[], column: string): string {
  for (const value of values) {
    if (!Number.isSafeInteger(value)) throw new TypeError(`${column}: ${value} is not a safe integer`);
  }
  return `{${values.join(',')}}`;
}

export function decimalArrayLiteral(values: readonly string[], column: string): string {
  for (const value of values) {
    if (!DECIMAL.test(value)) throw new TypeError(`${column}: ${JSON.stringify(value)} is not a plain decimal`);
  }
  return `{${values.join(',')}}`;
}

export function boolArrayLiteral(values: readonly boolean[]): string {
  let literal = '{';
  for (let i = 0; i < values.length; i++) literal += (i === 0 ? '' : ',') + (values[i] ? 't' : 'f');
  return `${literal}}`;
}

/** Every element quoted, so empty strings, spaces, commas, braces and the word NULL stay plain text. */
export function textArrayLiteral(values: readonly string[]): string {
  let literal = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    const quoted = NEEDS_ESCAPE.test(value) ? value.replace(/["\\]/g, '\\$&') : value;
    literal += `${i === 0 ? '' : ','}"${quoted}"`;
  }
  return `${literal}}`;
}
