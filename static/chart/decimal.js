// Exact arithmetic on klagg's decimal strings, for the legend's change: BigInt units at the larger scale, so no float
// ever re-formats a price (0.1 + 0.2 stays 0.3, and 51852.70 keeps its trailing zero).

/** '-12.340' → { units: -12340n, scale: 3 } */
function parse(text) {
  const negative = text.startsWith('-');
  const body = negative || text.startsWith('+') ? text.slice(1) : text;
  const dot = body.indexOf('.');
  const whole = dot < 0 ? body : body.slice(0, dot);
  const fraction = dot < 0 ? '' : body.slice(dot + 1);
  const units = BigInt(`${whole || '0'}${fraction}`);
  return { units: negative ? -units : units, scale: fraction.length };
}

function at(value, scale) {
  return value.units * 10n ** BigInt(scale - value.scale);
}

function format(units, scale, sign) {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const body = scale === 0 ? digits : `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
  return `${negative ? '-' : sign && units > 0n ? '+' : ''}${body}`;
}

/** a − b, exactly, at the larger of their scales, with a sign ('+1.20', '-0.50', '0.00'). */
export function difference(a, b) {
  const x = parse(a);
  const y = parse(b);
  const scale = Math.max(x.scale, y.scale);
  return format(at(x, scale) - at(y, scale), scale, true);
}

/** (to − from) / from as a percentage with two decimals, rounded half away from zero ('+0.25', '-1.03'); '' for from = 0. */
export function percentChange(from, to) {
  const x = parse(from);
  const y = parse(to);
  const scale = Math.max(x.scale, y.scale);
  const base = at(x, scale);
  if (base === 0n) return '';
  // Hundredths of a percent, one more digit to round on: (to − from) · 100 · 100 · 10 / from.
  const scaled = ((at(y, scale) - base) * 100_000n) / base;
  const rounded = (scaled + (scaled < 0n ? -5n : 5n)) / 10n;
  return format(rounded, 2, true);
}
