import t from 'tap';
import { DecimalError, scaleOf } from '../../src/domain/decimal.ts';
import { decimalsOf, formatDecimal, formatKline, formatKlineChecked, klineFormatter, scalesFromSizes } from '../../src/domain/kline-format.ts';
import type { Kline } from '../../src/domain/kline.ts';
import { uint32Source } from '../support/random.ts';

const base: Kline = {
  symbol: 'BTCUSDT',
  interval: '1m',
  openTime: 1_700_000_040_000,
  closeTime: 1_700_000_099_999,
  open: '134090',
  high: '134100.5',
  low: '134000.10',
  close: '134050.1',
  volume: '0.5',
  quoteVolume: '67045.05',
  tradeCount: 7,
  takerBuyVolume: '0',
  takerBuyQuoteVolume: '0',
  firstTradeId: 100,
  lastTradeId: 106,
  lastAggId: 55,
  isFinal: true,
};
const BTC = { priceScale: 2, qtyScale: 3 };

/** The exact value of a plain decimal as (digits, decimals) → digits · 10^(K − decimals), K = 40. */
function exactValue(text: string): bigint {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new Error(`not a plain decimal: ${text}`);
  const fraction = match[3] ?? '';
  const magnitude = BigInt(match[2]! + fraction) * 10n ** BigInt(40 - fraction.length);
  return match[1] === '-' ? -magnitude : magnitude;
}

t.test('formatDecimal: pads and trims zeros only', async (t) => {
  const cases: [string, number, string][] = [
    ['134090', 2, '134090.00'],
    ['134090', 0, '134090'],
    ['0.5', 3, '0.500'],
    ['0', 0, '0'],
    ['0', 8, '0.00000000'],
    ['0.00000000', 0, '0'],
    ['0.00000000', 2, '0.00'],
    ['15282.00000000', 2, '15282.00'],
    ['15282.00000000', 8, '15282.00000000'],
    ['15282.10000000', 1, '15282.1'],
    ['0.0000000000000001', 16, '0.0000000000000001'],
    ['12345678901234567890123.5', 3, '12345678901234567890123.500'],
    ['007.50', 1, '7.5'],
    ['000', 2, '0.00'],
    ['00.001', 3, '0.001'],
  ];
  for (const [input, scale, want] of cases) t.equal(formatDecimal(input, scale), want, `${input} at ${scale}`);
});

t.test('formatDecimal: more significant decimals than the scale are kept exact, never rounded', async (t) => {
  t.equal(formatDecimal('1.5', 0), '1.5');
  t.equal(formatDecimal('0.123456789', 8), '0.123456789');
  t.equal(formatDecimal('0.1234567890000', 8), '0.123456789', 'trailing zeros beyond the value are still trimmed');
  t.equal(formatDecimal('2.999999999', 2), '2.999999999', 'not rounded up to 3.00');
  t.equal(formatDecimal('0.001', 2), '0.001', 'not rounded down to 0.00');
  t.equal(decimalsOf(formatDecimal('0.001', 2)), 3, 'the caller can see it is beyond the scale');
});

t.test('formatDecimal: negatives (defensive) keep their sign, except zero', async (t) => {
  t.equal(formatDecimal('-1.5', 3), '-1.500');
  t.equal(formatDecimal('-134090', 1), '-134090.0');
  t.equal(formatDecimal('-0.25000', 2), '-0.25');
  t.equal(formatDecimal('-0.001', 2), '-0.001');
  t.equal(formatDecimal('-0', 2), '0.00', 'negative zero is zero');
  t.equal(formatDecimal('-0.000', 0), '0');
});

t.test('formatDecimal: anything but a plain decimal is refused with a DecimalError', async (t) => {
  for (const bad of ['1e-7', '1E7', '1.5e3', '.5', '5.', '+5', '', ' 1', '1 ', '1,5', 'NaN', 'Infinity', '-', '--1', '0x10', '1.2.3', '١٢']) {
    t.throws(() => formatDecimal(bad, 2), DecimalError, JSON.stringify(bad));
  }
  t.throws(() => formatDecimal('1', -1), DecimalError, 'negative scale');
  t.throws(() => formatDecimal('1', 1.5), DecimalError, 'fractional scale');
  t.throws(() => formatDecimal('1', 37), DecimalError, 'scale beyond 36');
  t.equal(formatDecimal('1', 36), `1.${'0'.repeat(36)}`, 'scale 36 (18 + 18) is allowed');
});

t.test('formatDecimal: random values keep their exact value and get max(scale, significant decimals) decimals', async (t) => {
  const next = uint32Source(20241);
  let failures = 0;
  for (let i = 0; i < 20_000; i++) {
    const intDigits = next() % 12;
    const fracDigits = next() % 19;
    const digit = (): string => String(next() % 10);
    const integer = intDigits === 0 ? '0' : Array.from({ length: intDigits }, digit).join('');
    let fraction = Array.from({ length: fracDigits }, digit).join('');
    if (next() % 3 === 0) fraction += '0'.repeat(next() % 6);
    const input = (next() % 10 === 0 ? '-' : '') + integer + (fraction === '' ? '' : `.${fraction}`);
    const scale = next() % 19;
    const out = formatDecimal(input, scale);
    const significant = fraction.replace(/0+$/, '').length;
    const ok =
      /^-?(0|[1-9]\d*)(\.\d+)?$/.test(out) &&
      exactValue(out) === exactValue(input) &&
      decimalsOf(out) === Math.max(scale, significant) &&
      !(out.startsWith('-') && exactValue(out) === 0n);
    if (!ok && failures++ < 5) t.fail('formatDecimal broke an invariant', { input, scale, out });
  }
  t.equal(failures, 0, '20,000 random values');
});

t.test('formatKline: prices at tick decimals, quantities at step decimals, quote volumes at both', async (t) => {
  const k = formatKline(base, BTC);
  t.same(
    [k.open, k.high, k.low, k.close, k.volume, k.quoteVolume, k.takerBuyVolume, k.takerBuyQuoteVolume],
    ['134090.00', '134100.50', '134000.10', '134050.10', '0.500', '67045.05000', '0.000', '0.00000'],
  );
  const { open, high, low, close, volume, quoteVolume, takerBuyVolume, takerBuyQuoteVolume, ...rest } = k;
  const { open: _o, high: _h, low: _l, close: _c, volume: _v, quoteVolume: _q, takerBuyVolume: _tv, takerBuyQuoteVolume: _tq, ...baseRest } = base;
  t.same(rest, baseRest, 'every other field passes through');
  t.not(k, base, 'a new object');
  t.equal(base.open, '134090', 'the input is not modified');
});

t.test('formatKline: engine strings already at the scales are unchanged; extra fields pass through', async (t) => {
  const engine: Kline = { ...base, open: '0.00141342', high: '0.00141400', low: '0.00141300', close: '0.00141350', volume: '15282.00000000', quoteVolume: '21.6011856600000000', takerBuyVolume: '0.00000000', takerBuyQuoteVolume: '0.0000000000000000' };
  t.same(formatKline(engine, { priceScale: 8, qtyScale: 8 }), engine);
  const withRevision = { ...engine, revision: 3 } as Kline & { revision: number };
  t.equal((formatKline(withRevision, { priceScale: 8, qtyScale: 8 }) as Kline & { revision?: number }).revision, 3, 'an unknown field (revision) is kept');
});

t.test('formatKlineChecked: over-scale fields are kept exact and reported', async (t) => {
  const input: Kline = { ...base, high: '134100.555', volume: '0.0005', quoteVolume: '67.0450275', takerBuyQuoteVolume: '1.000000' };
  const { kline, overScale } = formatKlineChecked(input, BTC);
  t.same(overScale, ['high', 'volume', 'quoteVolume']);
  t.equal(kline.high, '134100.555', 'not rounded');
  t.equal(kline.volume, '0.0005');
  t.equal(kline.quoteVolume, '67.0450275', 'quote scale 5: 7 significant decimals kept');
  t.equal(kline.takerBuyQuoteVolume, '1.00000', 'trailing zeros alone are trimmed to the scale');
  t.equal(kline.open, '134090.00', 'the other fields are still formatted');
  t.same(formatKlineChecked(base, BTC).overScale, [], 'nothing to report when everything fits');
});

t.test('formatKlineChecked: malformed text and bad scales throw, naming the field', async (t) => {
  t.throws(() => formatKline({ ...base, low: '1e-7' }, BTC), { name: 'DecimalError', message: /BTCUSDT 1m 1700000040000 low: not a plain decimal: "1e-7"/ });
  t.throws(() => formatKline({ ...base, takerBuyVolume: '.5' }, BTC), { message: /takerBuyVolume/ });
  t.throws(() => formatKline(base, { priceScale: 19, qtyScale: 0 }), { message: /priceScale must be an integer from 0 to 18/ });
  t.throws(() => formatKline(base, { priceScale: 2, qtyScale: -1 }), { message: /qtyScale/ });
});

t.test('formatKline: the XRPETH fixture format (price 8, qty 8, quote 16)', async (t) => {
  const rest: Kline = { ...base, symbol: 'XRPETH', open: '0.00141342', high: '0.001414', low: '0.001413', close: '0.0014135', volume: '15282', quoteVolume: '21.60118566', takerBuyVolume: '0', takerBuyQuoteVolume: '0' };
  const k = formatKline(rest, { priceScale: scaleOf('0.00000001'), qtyScale: scaleOf('0.00000001') });
  t.same(
    [k.open, k.high, k.low, k.close, k.volume, k.quoteVolume, k.takerBuyVolume, k.takerBuyQuoteVolume],
    ['0.00141342', '0.00141400', '0.00141300', '0.00141350', '15282.00000000', '21.6011856600000000', '0.00000000', '0.0000000000000000'],
  );
});

t.test('klineFormatter: per symbol; unknown symbols pass through; over-scale reported', async (t) => {
  const seen: string[] = [];
  const format = klineFormatter(
    (symbol) => (symbol === 'BTCUSDT' ? BTC : undefined),
    (kline, fields) => seen.push(`${kline.symbol}:${fields.join(',')}`),
  );
  t.equal(format(base).open, '134090.00');
  const other = { ...base, symbol: 'ETHUSDT' };
  t.equal(format(other), other, 'unknown scales: the very same kline');
  format({ ...base, close: '1.001' });
  t.same(seen, ['BTCUSDT:close']);
});

t.test('scalesFromSizes: as the SymbolManager computes them', async (t) => {
  t.same(scalesFromSizes({ tickSize: '0.10', stepSize: '0.001' }), { priceScale: 2, qtyScale: 3 }, 'tick "0.10" counts 2 decimals, as scaleOf');
  t.same(scalesFromSizes({ tickSize: '1', stepSize: '1' }), { priceScale: 0, qtyScale: 0 });
  t.equal(scalesFromSizes({ tickSize: undefined, stepSize: '0.1' }), undefined);
  t.equal(scalesFromSizes({ tickSize: '0.1' }), undefined);
  t.equal(scalesFromSizes(undefined), undefined);
  t.equal(scalesFromSizes({ tickSize: '1e-8', stepSize: '1' }), undefined, 'malformed: unknown, not an exception');
});
