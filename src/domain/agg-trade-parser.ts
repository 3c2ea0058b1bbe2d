/**
 * Parses aggTrade frames straight from the bytes the socket hands over, plain (`{"e":"aggTrade",…}`) or
 * combined-stream wrapped (`{"stream":"…","data":{…}}`).
 *
 * Why not JSON.parse: it builds an object and two strings per frame and then the decimals still need parsing;
 * this scanner reads the fields it needs in one pass, turns prices and quantities into exact (mantissa, decimals)
 * integers directly, and allocates nothing. It is still a real JSON scanner — any field order, unknown fields of
 * any shape skipped, escapes in strings honoured — and rejects what is not valid JSON. A bad or unexpected frame
 * yields a reason code, never an exception.
 */

/** Why a frame was not a usable aggTrade. */
export const FrameError = {
  None: 0,
  /** Not valid JSON (or its strings are not valid UTF-8). */
  Malformed: 1,
  /** Valid JSON, but not an object. */
  NotAnObject: 2,
  /** A valid event of another kind (`e` is not aggTrade), or a control reply such as `{"result":null,"id":1}`. */
  NotAggTrade: 3,
  /** A required field is absent. */
  MissingField: 4,
  /** A field has the wrong type or an impossible value. */
  BadField: 5,
} as const;
export type FrameError = (typeof FrameError)[keyof typeof FrameError];

const ERROR_NAMES: Record<FrameError, string> = {
  0: 'none',
  1: 'malformed',
  2: 'not-an-object',
  3: 'not-aggtrade',
  4: 'missing-field',
  5: 'bad-field',
};

export function frameErrorName(error: FrameError): string {
  return ERROR_NAMES[error];
}

/** The fields of one parsed trade. One instance is reused for every frame. */
export class ParsedTrade {
  aggId = 0;
  priceMantissa = 0;
  priceDecimals = 0;
  qtyMantissa = 0;
  qtyDecimals = 0;
  firstTradeId = 0;
  lastTradeId = 0;
  tradeTime = 0;
  eventTime = 0;
  buyerIsMaker = false;
  /** The symbol's bytes are `frame[symbolStart, symbolEnd)`. */
  symbolStart = 0;
  symbolEnd = 0;
  /** After a failure: the reason, and the field concerned (a key such as `p`), for the message. */
  error: FrameError = FrameError.None;
  errorField = '';
}

// Bytes.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

// Known keys, each held as a bit so presence is one integer.
const K_E = 1; // "e"
const K_S = 2; // "s"
const K_A = 4; // "a"
const K_P = 8; // "p"
const K_Q = 16; // "q"
const K_F = 32; // "f"
const K_L = 64; // "l"
const K_T = 128; // "T"
const K_M = 256; // "m"
const K_EVENT_TIME = 512; // "E"
const REQUIRED = K_S | K_A | K_P | K_Q | K_F | K_L | K_T | K_M;
const REQUIRED_ORDER: readonly [number, string][] = [
  [K_S, 's'],
  [K_A, 'a'],
  [K_P, 'p'],
  [K_Q, 'q'],
  [K_F, 'f'],
  [K_L, 'l'],
  [K_T, 'T'],
  [K_M, 'm'],
];

const AGG_TRADE = Buffer.from('aggTrade');
const DATA = Buffer.from('data');
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * A reusable parser. `parse` fills `trade` and returns true, or records why not in `trade.error` and returns false.
 */
export class AggTradeParser {
  readonly trade = new ParsedTrade();
  #b: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #end = 0;
  #seen = 0;
  #isAggTrade = false;

  parse(frame: Uint8Array): boolean {
    this.#b = frame;
    this.#pos = 0;
    this.#end = frame.length;
    const t = this.trade;
    t.error = FrameError.None;
    t.errorField = '';
    t.eventTime = 0;
    this.#ws();
    if (this.#pos >= this.#end) return this.#fail(FrameError.Malformed, '');
    if (this.#b[this.#pos] !== OPEN_BRACE) {
      if (!this.#skipValue(0)) return this.#fail(FrameError.Malformed, '');
      this.#ws();
      return this.#fail(this.#pos === this.#end ? FrameError.NotAnObject : FrameError.Malformed, '');
    }
    const outer = this.#scanObject(true);
    if (outer < 0) return false;
    this.#ws();
    if (this.#pos !== this.#end) return this.#fail(FrameError.Malformed, '');
    if (outer === 1) return t.error === FrameError.None;
    return this.#check();
  }

  /** The field set found at the level just scanned must be a complete aggTrade. */
  #check(): boolean {
    const t = this.trade;
    if ((this.#seen & K_E) === 0 || !this.#isAggTrade) {
      // An object that is not an aggTrade event at all (a reply, another stream's event) is "unexpected", not
      // broken, even when its fields of the same names hold other types (a miniTicker's "l" is a price string).
      t.error = FrameError.NotAggTrade;
      t.errorField = '';
      return false;
    }
    if (t.error !== FrameError.None) return false;
    if ((this.#seen & REQUIRED) !== REQUIRED) {
      for (const [bit, name] of REQUIRED_ORDER) if ((this.#seen & bit) === 0) return this.#fail(FrameError.MissingField, name);
    }
    if (t.lastTradeId < t.firstTradeId) return this.#fail(FrameError.BadField, 'l');
    if (t.priceMantissa === 0) return this.#fail(FrameError.BadField, 'p');
    if (t.qtyMantissa === 0) return this.#fail(FrameError.BadField, 'q');
    return true;
  }

  /**
   * Scans the object at `#pos` ('{'). At the top level a `data` object is scanned as the trade (combined stream).
   * Returns -1 on failure, 1 when a wrapped trade was found and checked, 0 when the fields were at this level.
   */
  #scanObject(top: boolean): number {
    const b = this.#b;
    this.#pos++; // '{'
    this.#seen = 0;
    this.#isAggTrade = false;
    let wrapped = 0;
    this.#ws();
    if (b[this.#pos] === CLOSE_BRACE) {
      this.#pos++;
      return 0;
    }
    for (;;) {
      this.#ws();
      if (b[this.#pos] !== QUOTE) return this.#failN(FrameError.Malformed);
      const keyStart = this.#pos + 1;
      if (!this.#skipString()) return this.#failN(FrameError.Malformed);
      const keyEnd = this.#pos - 1;
      this.#ws();
      if (b[this.#pos] !== COLON) return this.#failN(FrameError.Malformed);
      this.#pos++;
      this.#ws();
      if (this.#pos >= this.#end) return this.#failN(FrameError.Malformed);
      const keyLength = keyEnd - keyStart;
      let handled = false;
      if (keyLength === 1 && wrapped === 0) {
        handled = this.#field(b[keyStart]!);
        if (this.trade.error === FrameError.Malformed) return -1;
      } else if (top && keyLength === 4 && equalBytes(b, keyStart, DATA) && b[this.#pos] === OPEN_BRACE) {
        // This is a wrapper: whatever its own one-letter keys said does not concern the trade inside.
        this.trade.error = FrameError.None;
        this.trade.errorField = '';
        if (this.#scanObject(false) < 0) return -1;
        // The payload decides: a complete trade, or the payload's own reason for not being one.
        this.#check();
        wrapped = 1;
        handled = true;
      }
      if (!handled && !this.#skipValue(0)) return this.#failN(FrameError.Malformed);
      this.#ws();
      const c = b[this.#pos];
      if (c === COMMA) {
        this.#pos++;
        continue;
      }
      if (c === CLOSE_BRACE) {
        this.#pos++;
        return wrapped;
      }
      return this.#failN(FrameError.Malformed);
    }
  }

  /** Reads the value of a one-letter key; returns false for a key it does not know (the caller skips the value). */
  #field(key: number): boolean {
    const t = this.trade;
    switch (key) {
      case 0x61: // a
        t.aggId = this.#integer('a');
        this.#seen |= K_A;
        return true;
      case 0x70: // p
        if (this.#decimal('p')) {
          t.priceMantissa = this.#mantissa;
          t.priceDecimals = this.#decimals;
        }
        this.#seen |= K_P;
        return true;
      case 0x71: // q
        if (this.#decimal('q')) {
          t.qtyMantissa = this.#mantissa;
          t.qtyDecimals = this.#decimals;
        }
        this.#seen |= K_Q;
        return true;
      case 0x66: // f
        t.firstTradeId = this.#integer('f');
        this.#seen |= K_F;
        return true;
      case 0x6c: // l
        t.lastTradeId = this.#integer('l');
        this.#seen |= K_L;
        return true;
      case 0x54: // T
        t.tradeTime = this.#integer('T');
        this.#seen |= K_T;
        return true;
      case 0x45: // E
        t.eventTime = this.#integer('E');
        this.#seen |= K_EVENT_TIME;
        return true;
      case 0x6d: // m
        t.buyerIsMaker = this.#boolean('m');
        this.#seen |= K_M;
        return true;
      case 0x73: {
        // s
        const b = this.#b;
        if (b[this.#pos] !== QUOTE) {
          this.#badField('s');
          return false;
        }
        const start = this.#pos + 1;
        if (!this.#skipString()) {
          t.error = FrameError.Malformed;
          return true;
        }
        t.symbolStart = start;
        t.symbolEnd = this.#pos - 1;
        if (t.symbolEnd === t.symbolStart) this.#badField('s');
        this.#seen |= K_S;
        return true;
      }
      case 0x65: {
        // e
        const b = this.#b;
        if (b[this.#pos] !== QUOTE) return false;
        const start = this.#pos + 1;
        if (!this.#skipString()) {
          t.error = FrameError.Malformed;
          return true;
        }
        this.#isAggTrade = this.#pos - 1 - start === AGG_TRADE.length && equalBytes(b, start, AGG_TRADE);
        this.#seen |= K_E;
        return true;
      }
      default:
        return false;
    }
  }

  #mantissa = 0;
  #decimals = 0;

  /** A quoted plain decimal (`"0.00141342"`): digits, optionally one '.', more digits. */
  #decimal(name: string): boolean {
    const b = this.#b;
    if (b[this.#pos] !== QUOTE) {
      this.#badField(name);
      if (!this.#skipValue(0)) this.trade.error = FrameError.Malformed;
      return false;
    }
    let p = this.#pos + 1;
    let mantissa = 0;
    let decimals = 0;
    let digits = 0;
    let afterDot = false;
    for (;;) {
      const c = b[p];
      if (c === undefined) {
        this.trade.error = FrameError.Malformed;
        return false;
      }
      if (c >= ZERO && c <= NINE) {
        mantissa = mantissa * 10 + (c - ZERO);
        digits++;
        if (afterDot) decimals++;
      } else if (c === DOT && !afterDot && digits > 0) {
        afterDot = true;
      } else if (c === QUOTE) {
        break;
      } else {
        // Not a plain decimal; skip the string (it may still be valid JSON) and report the field.
        this.#badField(name);
        return this.#skipString() ? false : ((this.trade.error = FrameError.Malformed), false);
      }
      p++;
    }
    this.#pos = p + 1;
    if (digits === 0 || (afterDot && b[p - 1] === DOT) || mantissa > MAX_SAFE) {
      this.#badField(name);
      return false;
    }
    this.#mantissa = mantissa;
    this.#decimals = decimals;
    return true;
  }

  /** A non-negative JSON integer. */
  #integer(name: string): number {
    const b = this.#b;
    let p = this.#pos;
    let value = 0;
    const start = p;
    while (p < this.#end) {
      const c = b[p]!;
      if (c < ZERO || c > NINE) break;
      value = value * 10 + (c - ZERO);
      p++;
    }
    if (p === start || value > MAX_SAFE || (b[start] === ZERO && p - start > 1)) {
      this.#badField(name);
      if (!this.#skipValue(0)) this.trade.error = FrameError.Malformed;
      return 0;
    }
    const next = b[p];
    if (next === DOT || next === 0x65 || next === 0x45) {
      this.#badField(name);
      if (!this.#skipValue(0)) this.trade.error = FrameError.Malformed;
      return 0;
    }
    this.#pos = p;
    return value;
  }

  #boolean(name: string): boolean {
    const b = this.#b;
    const p = this.#pos;
    if (b[p] === 0x74 && b[p + 1] === 0x72 && b[p + 2] === 0x75 && b[p + 3] === 0x65) {
      this.#pos = p + 4;
      return true;
    }
    if (b[p] === 0x66 && b[p + 1] === 0x61 && b[p + 2] === 0x6c && b[p + 3] === 0x73 && b[p + 4] === 0x65) {
      this.#pos = p + 5;
      return false;
    }
    this.#badField(name);
    if (!this.#skipValue(0)) this.trade.error = FrameError.Malformed;
    return false;
  }

  #badField(name: string): void {
    if (this.trade.error === FrameError.None) {
      this.trade.error = FrameError.BadField;
      this.trade.errorField = name;
    }
  }

  /** Skips one JSON value of any kind, validating its syntax. */
  #skipValue(depth: number): boolean {
    if (depth > 64) return false;
    const b = this.#b;
    const c = b[this.#pos];
    if (c === QUOTE) return this.#skipString();
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const close = c === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET;
      this.#pos++;
      this.#ws();
      if (b[this.#pos] === close) {
        this.#pos++;
        return true;
      }
      for (;;) {
        this.#ws();
        if (c === OPEN_BRACE) {
          if (b[this.#pos] !== QUOTE || !this.#skipString()) return false;
          this.#ws();
          if (b[this.#pos] !== COLON) return false;
          this.#pos++;
          this.#ws();
        }
        if (!this.#skipValue(depth + 1)) return false;
        this.#ws();
        const next = b[this.#pos];
        this.#pos++;
        if (next === COMMA) continue;
        return next === close;
      }
    }
    if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) return this.#skipNumber();
    for (const literal of LITERALS) {
      if (equalBytes(b, this.#pos, literal)) {
        this.#pos += literal.length;
        return true;
      }
    }
    return false;
  }

  #skipNumber(): boolean {
    const b = this.#b;
    let p = this.#pos;
    if (b[p] === MINUS) p++;
    const intStart = p;
    while (p < this.#end && b[p]! >= ZERO && b[p]! <= NINE) p++;
    if (p === intStart || (b[intStart] === ZERO && p - intStart > 1)) return false;
    if (b[p] === DOT) {
      const fracStart = ++p;
      while (p < this.#end && b[p]! >= ZERO && b[p]! <= NINE) p++;
      if (p === fracStart) return false;
    }
    if (b[p] === 0x65 || b[p] === 0x45) {
      p++;
      if (b[p] === 0x2b || b[p] === MINUS) p++;
      const expStart = p;
      while (p < this.#end && b[p]! >= ZERO && b[p]! <= NINE) p++;
      if (p === expStart) return false;
    }
    this.#pos = p;
    return true;
  }

  /** Skips the string starting at `#pos` (a '"'), leaving `#pos` after its closing quote. */
  #skipString(): boolean {
    const b = this.#b;
    let p = this.#pos + 1;
    while (p < this.#end) {
      const c = b[p]!;
      if (c === QUOTE) {
        this.#pos = p + 1;
        return true;
      }
      if (c === BACKSLASH) {
        const escaped = b[p + 1];
        if (escaped === 0x75) {
          // \uXXXX: exactly four hex digits
          for (let i = 2; i < 6; i++) if (!isHex(b[p + i])) return false;
          p += 6;
        } else if (escaped !== undefined && SIMPLE_ESCAPES.has(escaped)) p += 2;
        else return false;
      } else if (c < 0x20) return false;
      else if (c < 0x80) p++;
      else {
        const length = utf8SequenceLength(b, p);
        if (length === 0) return false;
        p += length;
      }
    }
    return false;
  }

  #ws(): void {
    const b = this.#b;
    let p = this.#pos;
    while (p < this.#end) {
      const c = b[p]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      p++;
    }
    this.#pos = p;
  }

  #fail(error: FrameError, field: string): false {
    if (this.trade.error === FrameError.None || error === FrameError.Malformed) {
      this.trade.error = error;
      this.trade.errorField = field;
    }
    return false;
  }

  #failN(error: FrameError): -1 {
    this.#fail(error, '');
    return -1;
  }
}

/** The characters JSON allows after a backslash besides `u`: " \\ / b f n r t. */
const SIMPLE_ESCAPES: ReadonlySet<number> = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

/** Length of the valid UTF-8 sequence at `p` (2–4), or 0 when it is not valid (overlong, surrogate, truncated). */
function utf8SequenceLength(b: Uint8Array, p: number): number {
  const c = b[p]!;
  const c1 = b[p + 1] ?? 0;
  const cont = (x: number | undefined): boolean => x !== undefined && (x & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(c1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const low = c === 0xe0 ? 0xa0 : 0x80;
    const high = c === 0xed ? 0x9f : 0xbf;
    return c1 >= low && c1 <= high && cont(b[p + 2]) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const low = c === 0xf0 ? 0x90 : 0x80;
    const high = c === 0xf4 ? 0x8f : 0xbf;
    return c1 >= low && c1 <= high && cont(b[p + 2]) && cont(b[p + 3]) ? 4 : 0;
  }
  return 0;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

const LITERALS: readonly Uint8Array[] = [Buffer.from('true'), Buffer.from('false'), Buffer.from('null')];

function equalBytes(b: Uint8Array, at: number, word: Uint8Array): boolean {
  if (at + word.length > b.length) return false;
  for (let i = 0; i < word.length; i++) if (b[at + i] !== word[i]) return false;
  return true;
}

/** A readable reason for the last failure, e.g. `bad-field p`. */
export function describeFailure(trade: ParsedTrade): string {
  const name = frameErrorName(trade.error);
  return trade.errorField ? `${name} ${trade.errorField}` : name;
}
