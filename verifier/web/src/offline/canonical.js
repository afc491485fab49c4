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

// --- where Python's json module says a file stops being JSON ---------------------------------
// The Python checker names a broken file's place as json.loads reports it (CPython's C
// scanner: the position it stopped at, a duplicate key or NaN/Infinity as the whole "file");
// the browser's JSON.parse words and places errors differently, or not at all. This scanner
// follows the C scanner's rules, so both checkers name the same byte.
const WS = new Set([' ', '\t', '\n', '\r']);
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const HEX4 = /^[0-9a-fA-F]{4}$/;

class JsonStop extends Error {
  constructor(pos, msg) { super(msg); this.pos = pos; }
}

function pyScan(s) {
  const len = s.length;
  const ws = (i) => { while (i < len && WS.has(s[i])) i++; return i; };
  const expecting = (i) => new JsonStop(i, 'Expecting value');
  function string(begin) { // s[begin - 1] is the opening quote
    let i = begin;
    for (;;) {
      while (i < len && s[i] !== '"' && s[i] !== '\\') {
        if (s.charCodeAt(i) < 0x20) throw new JsonStop(i, 'Invalid control character at');
        i++;
      }
      if (i >= len) throw new JsonStop(begin - 1, 'Unterminated string starting at');
      if (s[i] === '"') return i + 1;
      i++; // past the backslash
      if (i >= len) throw new JsonStop(begin - 1, 'Unterminated string starting at');
      const c = s[i];
      if (c !== 'u') {
        if (!ESCAPES.has(c)) throw new JsonStop(i - 1, 'Invalid \\escape');
        i++;
        continue;
      }
      i++; // past the u
      let end = i + 4;
      if (end >= len) throw new JsonStop(i - 1, 'Unterminated \\uXXXX escape');
      if (!HEX4.test(s.slice(i, end))) throw new JsonStop(end - 5, 'Invalid \\uXXXX escape');
      const code = parseInt(s.slice(i, end), 16);
      if (code >= 0xd800 && code <= 0xdbff && end + 6 < len && s[end] === '\\' && s[end + 1] === 'u') {
        if (!HEX4.test(s.slice(end + 2, end + 6))) throw new JsonStop(end + 1, 'Invalid \\uXXXX escape');
        const low = parseInt(s.slice(end + 2, end + 6), 16);
        if (low >= 0xdc00 && low <= 0xdfff) end += 6;
      }
      i = end;
    }
  }
  function value(i) {
    if (i >= len) throw expecting(i);
    const c = s[i];
    if (c === '"') return string(i + 1);
    if (c === '{') return object(i + 1);
    if (c === '[') return array(i + 1);
    if (s.startsWith('null', i)) return i + 4;
    if (s.startsWith('true', i)) return i + 4;
    if (s.startsWith('false', i)) return i + 5;
    if (s.startsWith('NaN', i) || s.startsWith('Infinity', i) || s.startsWith('-Infinity', i)) {
      throw new JsonStop(null, 'NaN and Infinity are not JSON');
    }
    let j = i;
    if (s[j] === '-') j++;
    if (j < len && s[j] >= '1' && s[j] <= '9') { while (j < len && s[j] >= '0' && s[j] <= '9') j++; } else if (s[j] === '0') j++;
    else throw expecting(i);
    if (s[j] === '.' && s[j + 1] >= '0' && s[j + 1] <= '9') { j += 2; while (j < len && s[j] >= '0' && s[j] <= '9') j++; }
    if (s[j] === 'e' || s[j] === 'E') {
      let k = j + 1;
      if (s[k] === '+' || s[k] === '-') k++;
      if (s[k] >= '0' && s[k] <= '9') { while (k < len && s[k] >= '0' && s[k] <= '9') k++; j = k; }
    }
    return j;
  }
  function object(i) {
    const seen = new Set();
    let duplicate = false;
    i = ws(i);
    if (i < len && s[i] === '}') return i + 1;
    for (;;) {
      if (i >= len || s[i] !== '"') throw new JsonStop(i, 'Expecting property name enclosed in double quotes');
      const keyEnd = string(i + 1);
      const key = s.slice(i, keyEnd);
      i = ws(keyEnd);
      if (i >= len || s[i] !== ':') throw new JsonStop(i, "Expecting ':' delimiter");
      i = ws(value(ws(i + 1)));
      const name = JSON.parse(key);
      if (seen.has(name)) duplicate = true;
      seen.add(name);
      if (i < len && s[i] === '}') break;
      if (i >= len || s[i] !== ',') throw new JsonStop(i, "Expecting ',' delimiter");
      i = ws(i + 1);
    }
    // The pairs hook runs once the object is read: a duplicate stops the reading there.
    if (duplicate) throw new JsonStop(null, 'duplicate key');
    return i + 1;
  }
  function array(i) {
    i = ws(i);
    if (i < len && s[i] === ']') return i + 1;
    for (;;) {
      i = ws(value(i));
      if (i < len && s[i] === ']') return i + 1;
      if (i >= len || s[i] !== ',') throw new JsonStop(i, "Expecting ',' delimiter");
      i = ws(i + 1);
    }
  }
  if (s.startsWith('\ufeff')) throw new JsonStop(0, 'Unexpected UTF-8 BOM');
  const start = ws(0);
  const end = ws(value(start));
  if (end !== len) throw new JsonStop(end, 'Extra data');
}

/** Throw PlaceError where Python's json.loads (with the sealed reader's hooks: no duplicate
 * keys, no NaN or Infinity) stops reading `text`; return if it reads it all. */
export function checkJsonAsPython(text) {
  try {
    pyScan(text);
  } catch (exc) {
    if (!(exc instanceof JsonStop)) throw exc;
    const place = exc.pos === null ? 'file' : `byte ${new TextEncoder().encode(text.slice(0, exc.pos)).length}`;
    throw new PlaceError(place, `not JSON: ${exc.message}`);
  }
}
