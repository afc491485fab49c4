// The canonical serialisation of a sealed bundle (ledger/evidence/sealed.py `canonical_json`,
// i.e. Python's json.dumps with sorted keys, compact separators and ensure_ascii=False): a
// checker refuses any file that is not exactly it, so no byte can change without changing a
// checked value. Numbers keep their source text (JSON.parse gives it to the reviver) and are
// written as Python writes the number it parses.
import { PlaceError } from './place.js';

class RawNumber {
  constructor(source) { this.source = source; }
}

const INT = /^-?(0|[1-9][0-9]*)$/;

/** Python's repr of the float `x` (shortest round-trip digits; exponent form below 1e-4 and
 * from 1e16 on). */
export function pyFloat(x) {
  if (!Number.isFinite(x)) return null;
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expText] = Math.abs(x).toExponential().split('e');
  const digits = mant.replace('.', '');
  const exp = Number(expText);
  const sign = x < 0 ? '-' : '';
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, '0');
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${e}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return `${sign}${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

function number(source) {
  if (INT.test(source)) return source === '-0' ? '0' : source;
  const out = pyFloat(Number(source));
  return out === null ? source + '?' : out; // Infinity is no JSON: never equal to the source
}

function write(v) {
  if (v instanceof RawNumber) return number(v.source);
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(write).join(',') + ']';
  const keys = Object.keys(v).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + write(v[k])).join(',') + '}';
}

/** The UTF-8 text of `raw` (bytes), refusing bytes that are not UTF-8 (place: the byte). */
export function decodeUtf8(raw) {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    const again = new TextEncoder().encode(new TextDecoder('utf-8', { ignoreBOM: true }).decode(raw));
    let at = 0;
    while (at < raw.length && raw[at] === again[at]) at++;
    throw new PlaceError(`byte ${at}`, `not UTF-8 at byte ${at}`);
  }
}

/** Refuse `text` (the file, decoded) unless it is the canonical serialisation of its JSON. */
export function checkCanonical(text, raw) {
  let value;
  try {
    // Without the source text (older engines), a number is written from its value: exact for
    // every safe integer, and a float as Python writes it.
    value = JSON.parse(text, (key, v, context) => (typeof v !== 'number' ? v
      : new RawNumber(context && typeof context.source === 'string' ? context.source
        : Number.isSafeInteger(v) ? String(v) : pyFloat(v) || 'NaN')));
  } catch (exc) {
    const m = /position (\d+)/.exec(exc.message || '');
    const place = m ? `byte ${new TextEncoder().encode(text.slice(0, Number(m[1]))).length}` : 'file';
    throw new PlaceError(place, `not JSON: ${exc.message}`);
  }
  const canon = new TextEncoder().encode(write(value));
  const n = Math.min(canon.length, raw.length);
  let at = 0;
  while (at < n && canon[at] === raw[at]) at++;
  if (at < n || canon.length !== raw.length) {
    const near = new TextDecoder().decode(raw.subarray(Math.max(0, at - 24), at + 24));
    throw new PlaceError(`byte ${at}`, `not the canonical serialisation of its content (first difference at byte ${at}: ${JSON.stringify(near)})`);
  }
}
