// GS1 identifiers as the verifier reads them: the scanned Digital Link (ledger/epcis/gs1.py
// DigitalLink.parse), canonical EPCs (ledger/epcis/event_hash.py _gs1_key_uri, the forms Zhenzhi
// events use), event_epcs (ledger/epcis/document.py), code leaf and lot key (ledger/proofs/codes.py).
import { keccak, utf8 } from './bytes.js';

export class CodeError extends Error {}

const CSET82 = /^[!"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$/;
const SHORT = { gtin: '01', lot: '10', ser: '21', cpv: '22' };
const QUALIFIERS = new Set(['22', '10', '21', '235']);

export function checkDigit(digits) {
  let total = 0;
  const rev = digits.split('').reverse();
  rev.forEach((d, i) => { total += Number(d) * (i % 2 === 0 ? 3 : 1); });
  return String((10 - (total % 10)) % 10);
}

const validMod10 = (key, length) => key.length === length && /^[0-9]+$/.test(key) && checkDigit(key.slice(0, -1)) === key.slice(-1);

export function normaliseGtin(gtin) {
  const key = gtin.trim();
  if (!/^[0-9]+$/.test(key) || ![8, 12, 13, 14].includes(key.length)) throw new CodeError(`'${key}' is not a GTIN (8 or 12 or 13 or 14 digits)`);
  if (checkDigit(key.slice(0, -1)) !== key.slice(-1)) throw new CodeError(`GTIN ${key} has a wrong check digit (expected ${checkDigit(key.slice(0, -1))})`);
  return key.padStart(14, '0');
}

/** {gtin14, serial, lot, key} of a GTIN-based Digital Link (throws CodeError). */
export function parseLink(uri) {
  let url;
  try { url = new URL(String(uri).trim()); } catch { throw new CodeError(`'${uri}' is not a URI`); }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CodeError(`'${uri}' is not an http(s) Digital Link`);
  let segments = url.pathname.split('/').filter((s) => s);
  const start = segments.findIndex((s) => (SHORT[s] || s) === '01');
  if (start < 0) throw new CodeError(`'${uri}' carries no GTIN (AI 01)`);
  segments = segments.slice(start);
  if (segments.length % 2) throw new CodeError(`'${uri}': AI without a value`);
  const values = {};
  for (let i = 0; i < segments.length; i += 2) {
    const ai = SHORT[segments[i]] || segments[i];
    if (ai !== '01' && !QUALIFIERS.has(ai)) throw new CodeError(`'${uri}': AI ${ai} is not a GTIN qualifier`);
    if (ai in values) throw new CodeError(`'${uri}': AI ${ai} repeated`);
    let v;
    try { v = decodeURIComponent(segments[i + 1]); } catch { throw new CodeError(`'${uri}': bad escape`); }
    values[ai] = v;
  }
  const serial = values['21'] ?? null;
  const lot = values['10'] ?? null;
  for (const [what, v] of [['serial', serial], ['lot', lot]]) {
    if (v !== null && !CSET82.test(v)) throw new CodeError(`${what} '${v}' must be 1-20 characters of the GS1 AI character set 82`);
  }
  const gtin14 = normaliseGtin(values['01']);
  const key = serial !== null ? `01/${gtin14}/21/${serial}` : lot !== null ? `01/${gtin14}/10/${lot}` : `01/${gtin14}`;
  return { gtin14, serial, lot, key, values };
}

// Python's urllib.parse.quote(value, safe="'-._;<=>?\""): UTF-8, %XX in upper case.
const QUOTE_SAFE = /[A-Za-z0-9_.~'\-;<=>?"]/;
function quote(value) {
  let out = '';
  for (const ch of value) {
    if (QUOTE_SAFE.test(ch)) out += ch;
    else for (const b of new TextEncoder().encode(ch)) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** ledger/epcis/gs1.py `DigitalLink.canonical_uri`: https://id.gs1.org/01/<gtin14>[/22/..][/10/..][/21/..][/235/..]. */
export function canonicalUri(link) {
  let uri = 'https://id.gs1.org/01/' + link.gtin14;
  for (const ai of ['22', '10', '21', '235']) {
    const v = link.values[ai];
    if (v !== undefined) uri += `/${ai}/` + quote(v);
  }
  return uri;
}

export function codeLeaf(gtin14, serial) {
  if (!validMod10(gtin14, 14)) throw new CodeError(`not a GTIN-14: ${gtin14}`);
  if (!CSET82.test(serial)) throw new CodeError(`serial must be 1-20 characters of GS1 set 82`);
  return keccak(keccak(utf8(`01/${gtin14}/21/${serial}`)));
}

// ledger/proofs/codes.py's set 82 pattern ([!"%-?A-Z_a-z]): the contract's lot alphabet.
const LOT_SET = /^[!"%-?A-Z_a-z]{1,20}$/;

export function lotKey(gtin14, lot) {
  if (!validMod10(gtin14, 14)) throw new CodeError(`not a GTIN-14: ${gtin14}`);
  if (typeof lot !== 'string' || !LOT_SET.test(lot)) throw new CodeError(`lot must be 1-20 characters of GS1 set 82`);
  return keccak(utf8(`${gtin14}/10/${lot}`));
}

// --- canonical EPCs -------------------------------------------------------------------------

const SHORT_NAMES = [['/gtin/', '/01/'], ['/gln/', '/414/'], ['/party/', '/417/'], ['/sscc/', '/00/']];
const REBASE = ['/00/', '/01/', '/414/', '/417/'];
const X = "[\\x22\\x27\\x2D\\x2E\\x30-\\x39\\x3B-\\x3F\\x41-\\x5A\\x5F\\x61-\\x7A]";
const LOT_AND_SERIAL = new RegExp(`^https://id\\.gs1\\.org/01/\\d{14}/10/${X}{0,20}/21/${X}{0,20}$`);
const CPV = new RegExp(`^(https://id\\.gs1\\.org/01/\\d{14})/22/${X}{0,20}(/.*)?$`);
const FINAL = new RegExp(`^https://id\\.gs1\\.org/(?:00/\\d{18}|01/\\d{14}(?:/21/${X}{0,20}|/10/${X}{0,20}|/235/${X}{0,28})?|414/\\d{13}(?:/254/${X}{0,20})?|417/\\d{13})$`);
const GATE = /^https?:[^?#]*\/(?:01|gtin|414|gln|417|party|00|sscc)\/\d{4}[^/]+/;

function digitalLink(uri) {
  if (!GATE.test(uri)) return null;
  const q = uri.indexOf('?');
  if (q >= 0) uri = uri.slice(0, q);
  for (const [s, ai] of SHORT_NAMES) uri = uri.split(s).join(ai);
  if (!/^https:\/\/id\.gs1\.org\/(?:01|414|417|00)\/\d{4}[^/]/.test(uri)) {
    for (const ai of REBASE) {
      const at = uri.indexOf(ai);
      if (at !== -1) { uri = 'https://id.gs1.org' + uri.slice(at); break; }
    }
  }
  const m = /^https:\/\/id\.gs1\.org\/01\/(\d*)/.exec(uri);
  if (m) {
    const n = m[1].length;
    const pad = n === 13 ? '0' : n === 12 ? '00' : n >= 8 && n < 12 ? '000000' : '';
    if (pad) uri = uri.replace('/01/', '/01/' + pad);
  }
  const cpv = CPV.exec(uri);
  if (cpv) uri = cpv[1] + (cpv[2] || '');
  if (uri.includes('/10/') && LOT_AND_SERIAL.test(uri)) {
    const at = uri.indexOf('/10/');
    const rest = uri.slice(at + 4);
    uri = uri.slice(0, at) + rest.slice(rest.indexOf('/'));
  }
  return FINAL.test(uri) ? uri : null;
}

const ESC = { '!': '%21', '(': '%28', ')': '%29', '*': '%2A', '+': '%2B', ',': '%2C', ':': '%3A' };
const escape = (s) => s.replace(/[!()*+,:]/g, (c) => ESC[c]);

function epcUrn(scheme, body) {
  const p = body.split('.');
  if (scheme === 'sgtin' && p.length >= 3 && /^\d{6,12}$/.test(p[0]) && /^\d{1,7}$/.test(p[1]) && p[0].length + p[1].length === 13) {
    const serial = p.slice(2).join('.');
    const base = p[1][0] + p[0] + p[1].slice(1);
    return `https://id.gs1.org/01/${base}${checkDigit(base)}/21/${escape(serial)}`;
  }
  if (scheme === 'sscc' && p.length === 2 && p[0].length + p[1].length === 17 && /^\d+$/.test(p[0] + p[1])) {
    const raw = p[1][0] + p[0] + p[1].slice(1);
    return `https://id.gs1.org/00/${raw}${checkDigit(raw)}`;
  }
  if ((scheme === 'sgln' || scheme === 'pgln') && p.length >= 2 && p[0].length + p[1].length === 12 && /^\d+$/.test(p[0] + p[1])) {
    const gln = p[0] + p[1] + checkDigit(p[0] + p[1]);
    if (scheme === 'pgln') return `https://id.gs1.org/417/${gln}`;
    const ext = p.slice(2).join('.');
    return ext === '0' || ext === '' ? `https://id.gs1.org/414/${gln}` : `https://id.gs1.org/414/${gln}/254/${escape(ext)}`;
  }
  return null;
}

export function gs1KeyUri(uri) {
  if (!uri.includes('.')) return null;
  if (uri.startsWith('urn:epc:id:')) {
    const rest = uri.slice(11);
    const i = rest.indexOf(':');
    return i < 0 ? null : epcUrn(rest.slice(0, i), rest.slice(i + 1));
  }
  if (uri.startsWith('http')) return digitalLink(uri);
  return null;
}

export function canonicalEpc(value) {
  const v = value.trim();
  return gs1KeyUri(v) || v;
}

const EPC_ROLES = [['epcList', 'epc'], ['parentID', 'parent'], ['childEPCs', 'child'], ['inputEPCList', 'input'], ['outputEPCList', 'output']];
const CLASS_LISTS = ['quantityList', 'childQuantityList', 'inputQuantityList', 'outputQuantityList'];
const uniq = (xs) => Array.from(new Set(xs));

export function eventEpcs(event) {
  const out = {};
  for (const [key, role] of EPC_ROLES) {
    const v = event[key];
    if (typeof v === 'string') out[role] = [canonicalEpc(v)];
    else if (!Array.isArray(v) || !v.length) out[role] = [];
    else out[role] = uniq(v.filter((x) => typeof x === 'string').map(canonicalEpc));
  }
  const classes = [];
  for (const key of CLASS_LISTS) {
    for (const el of Array.isArray(event[key]) ? event[key] : []) {
      if (el && typeof el === 'object' && typeof el.epcClass === 'string') classes.push(canonicalEpc(el.epcClass));
    }
  }
  out.class = uniq(classes);
  return out;
}
