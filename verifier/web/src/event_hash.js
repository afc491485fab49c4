// The GS1 CBV 2.0 event hash of a JSON event, `ni:///sha-256;<hex>?ver=CBV2.0`: a port of
// ledger/epcis/event_hash.py (its JSON path; the XML binding is not read in the browser). The
// pre-hash string is defined by the GS1 reference implementation rather than by prose, so this
// reproduces the Python module's string exactly, quirks included, and is checked against the
// GS1 vectors and against the Python module (tests/unit/verifier/test_event_hash_js.py).
//
// What the port must do that JavaScript does not do by itself, to read values as Python does:
// - numbers: Python reads a JSON `5.0` as a float (written "5.0") and `5` as an int (written
//   "5"); JSON.parse gives 5 for both. `readJson` keeps a float as `PyFloat` and an integer past
//   2**53 as a BigInt (from the source text, Chromium 114+); a plain number is read as an int
//   when it is integral, else as a float.
// - strings: sorted by code point (not UTF-16 unit); `\d` and `int()` take any decimal digit
//   of Python's Unicode tables; `str.strip`, `\s` and `float()` use Python's whitespace; `.` in
//   a regular expression is anything but "\n"; lengths count code points.
// Only the Python module's tree path is ported: its fast path writes the same string (a Python
// test checks both on every vector), so one path here is the faithful one.
// Known limits. repr() (of a `#text` given as an object or a list) escapes what the browser's
// Unicode tables call unprintable, Python's its own (Unicode 14.0): a character assigned since
// is written out by one and escaped by the other. And JavaScript lists an object's array-index keys ("0", "17") first, in numeric
// order; Python keeps the written order. The string depends on key order only inside an object
// with a bizTransaction, source or destination key, in an object given as `#text`, and for
// in-line `@xmlns` declarations; in a sealed file (keys sorted) only against keys sorting before
// "0" (such as "#text") or between two such keys.
import { sha256 } from '@noble/hashes/sha2';
import { pyFloat } from './offline/canonical.js';

const NI_PREFIX = 'ni:///sha-256;';
const NI_SUFFIX = '?ver=CBV2.0';

/** An event that has no hash: not an object (`invalid-input`) or a time outside UTC years 1
 * to 9999 (`unrepresentable-time`); Python raises a LedgerError for both. A value Python cannot
 * add to a string (a namespace declared as a non-string) is `unreadable`. */
export class EventHashError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/** A JSON number Python reads as a float (written with "." or an exponent). */
export class PyFloat {
  constructor(value) { this.value = value; }
}

const isDict = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof PyFloat);
const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

/** JSON text → values as Python's json module reads them: floats as PyFloat, integers past
 * 2**53 as BigInt (both need the reviver's source text; without it a number is its value). */
export function readJson(text) {
  return JSON.parse(text, (key, value, context) => {
    if (typeof value !== 'number' || !context || typeof context.source !== 'string') return value;
    if (/[.eE]/.test(context.source)) return new PyFloat(value);
    return Number.isSafeInteger(value) ? value : BigInt(context.source);
  });
}

// --- Python's reading of text ------------------------------------------------------------------
// str.isspace() / str.strip() / re's \s on str
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');
const IS_SPACE = new RegExp(`^[${PY_SPACE}]$`);
const strip = (s) => s.replace(STRIP, '');
// re's \d, int() and float() on str take any decimal digit (category Nd) of Python's own
// Unicode tables: 14.0 in Python 3.11 (tests/e2e/test_browser_event_hash.py compares them), not
// the browser's \p{Nd}, which knows later digits. Each run: its first code point, then "+n" for
// n runs of ten (0 to 9 each) back to back.
const DIGIT_RUNS = ('30 660 6f0 7c0 966 9e6 a66 ae6 b66 be6 c66 ce6 d66 de6 e50 ed0 f20 1040 1090 17e0 '
  + '1810 1946 19d0 1a80 1a90 1b50 1bb0 1c40 1c50 a620 a8d0 a900 a9d0 a9f0 aa50 abf0 ff10 104a0 10d30 '
  + '11066 110f0 11136 111d0 112f0 11450 114d0 11650 116c0 11730 118e0 11950 11c50 11d50 11da0 16a60 '
  + '16ac0 16b50 1d7ce+5 1e140 1e2f0 1e950 1fbf0').split(' ').map((run) => {
  const [start, tens = '1'] = run.split('+');
  return [parseInt(start, 16), parseInt(start, 16) + 10 * Number(tens) - 1];
});
const D = '[' + DIGIT_RUNS.map(([a, b]) => `\\u{${a.toString(16)}}-\\u{${b.toString(16)}}`).join('') + ']';
const DOT = '[^\\n]'; // re's unescaped `.`
const ND = new RegExp(`^${D}$`, 'u');

/** int() of one decimal digit. */
function digitValue(ch) {
  const cp = ch.codePointAt(0);
  if (cp >= 0x30 && cp <= 0x39) return cp - 0x30;
  const run = DIGIT_RUNS.find(([a, b]) => cp >= a && cp <= b);
  return (cp - run[0]) % 10;
}

/** int() of a string of decimal digits (as matched by \d+). */
function int(s) {
  let n = 0;
  for (const ch of s) n = n * 10 + digitValue(ch);
  return n;
}

const firstCp = (s) => String.fromCodePoint(s.codePointAt(0));

/** Python's `<` on str: code point order (JavaScript's compares UTF-16 units). */
function cmp(a, b) {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      const xs = x >= 0xd800 && x <= 0xdfff;
      const ys = y >= 0xd800 && y <= 0xdfff;
      if (xs !== ys) return xs ? 1 : -1; // a surrogate is part of a code point above U+FFFF
      return x < y ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : 1;
}

/** `str.partition(sep)`. */
function partition(s, sep) {
  const at = s.indexOf(sep);
  return at < 0 ? [s, '', ''] : [s.slice(0, at), sep, s.slice(at + sep.length)];
}

/** float(text) as Python reads a str, or null where Python raises ValueError. */
function pyFloatOf(text) {
  let t = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    if (cp < 127) t += ch;
    else if (IS_SPACE.test(ch)) t += ' ';
    else if (ND.test(ch)) t += String(digitValue(ch));
    else return null;
  }
  t = t.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '');
  if (t.includes('_')) {
    // an underscore only between two digits (CPython _Py_string_to_number_with_underscores)
    if (!/^(?:[^_]|(?<=[0-9])_(?=[0-9]))*$/.test(t)) return null;
    t = t.replace(/_/g, '');
  }
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(t);
  if (special) return special[2].toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  if (!/^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(t)) return null;
  return Number(t);
}

function floatText(x) {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  return pyFloat(x);
}

const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** repr() of a str. */
function reprStr(s) {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0);
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp < 0x7f || (ch !== ' ' && !NOT_PRINTABLE.test(ch))) out += ch;
    else if (cp < 0x100) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp < 0x10000) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out + quote;
}

/** repr() of a JSON value as Python holds it. */
export function pyRepr(v) {
  if (typeof v === 'string') return reprStr(v);
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (Array.isArray(v)) return '[' + v.map(pyRepr).join(', ') + ']';
  if (isDict(v)) return '{' + Object.keys(v).map((k) => `${reprStr(k)}: ${pyRepr(v[k])}`).join(', ') + '}';
  return pyStr(v);
}

/** str() of a JSON value as Python holds it (a bool is handled by the caller). */
function pyStr(v) {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return 'None';
  if (v instanceof PyFloat) return floatText(v.value);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v).toString() : floatText(v);
  return pyRepr(v);
}

// --- field order (event_hash.py _ORDER) ------------------------------------------------------
// A pair [name, sub]: sub null is a leaf; OPAQUE marks the (type, value) lists the reference
// emits with the generic part.
const OPAQUE = [];
const EPC = [['epc', null]];
const QUANTITY = [['quantityElement', [['epcClass', null], ['quantity', null], ['uom', null]]]];
const leaves = (names) => names.split(' ').map((n) => [n, null]);
const ORDER = [
  ['eventTime', null], ['eventTimeZoneOffset', null], ['certificationInfo', null], ['parentID', null],
  ['epcList', EPC], ['inputEPCList', EPC], ['childEPCs', EPC], ['quantityList', QUANTITY],
  ['childQuantityList', QUANTITY], ['inputQuantityList', QUANTITY], ['outputEPCList', EPC],
  ['outputQuantityList', QUANTITY], ['action', null], ['transformationID', null], ['bizStep', null],
  ['disposition', null], ['persistentDisposition', [['set', null], ['unset', null]]],
  ['readPoint', [['id', null]]], ['bizLocation', [['id', null]]], ['bizTransactionList', OPAQUE],
  ['sourceList', OPAQUE], ['destinationList', OPAQUE],
  ['sensorElementList', [['sensorElement', [
    ['sensorMetadata', leaves('time startTime endTime deviceID deviceMetadata rawData dataProcessingMethod bizRules')],
    ['sensorReport', leaves('type exception deviceID deviceMetadata rawData dataProcessingMethod time '
      + 'microorganism chemicalSubstance value component stringValue booleanValue hexBinaryValue uriValue '
      + 'minValue maxValue meanValue sDev percRank percValue uom coordinateReferenceSystem')],
  ]]]],
];
const IGNORED_TOP = new Set(['recordTime', 'eventID', 'type', 'errorDeclaration']);
const UNSORTED_KEYS = new Set(['bizTransaction', 'source', 'destination']);
const SKIPPED_KEYS = new Set(['#text', 'rdfs:comment', 'comment']);

// --- bare CBV terms (event_hash.py _BIZSTEPS … _vocab_iri) --------------------------------------
const CBV = 'https://ref.gs1.org/cbv/';
const VOC = 'https://gs1.org/voc/';
const words = (s) => new Set(s.trim().split(/\s+/));
const BIZSTEPS = words(`accepting arriving assembling collecting commissioning consigning
  creating_class_instance cycle_counting decommissioning departing destroying disassembling
  dispensing encoding entering_exiting holding inspecting installing killing loading other
  packing picking receiving removing repackaging repairing replacing reserving retail_selling
  sampling sensor_reporting shipping staging_outbound stock_taking stocking storing
  transporting unloading unpacking void_shipping`);
const DISPOSITIONS = words(`active available completeness_verified completeness_inferred
  conformant container_closed container_open damaged destroyed dispensed disposed encoded
  expired in_progress in_transit inactive mismatch_instance mismatch_class mismatch_quantity
  needs_replacement no_pedigree_match non_conformant non_sellable_other partially_dispensed
  recalled reserved retail_sold returned sellable_accessible sellable_not_accessible stolen
  unavailable unknown`);
const BTTS = words('bol cert desadv inv pedigree po poc prodorder recadv rma testprd testres upevt');
const SDTS = words('owning_party possessing_party location');
const MEASUREMENTS = words(`AbsoluteHumidity AbsorbedDose AbsorbedDoseRate Acceleration
  Radioactivity Altitude AmountOfSubstance AmountOfSubstancePerUnitVolume Angle
  AngularAcceleration AngularMomentum AngularVelocity Area Capacitance Conductance Conductivity
  Count Density Dimensionless DoseEquivalent DoseEquivalentRate DynamicViscosity ElectricCharge
  ElectricCurrent ElectricCurrentDensity ElectricFieldStrength Energy Exposure Force Frequency
  Illuminance Inductance Irradiance KinematicViscosity Length LinearMomentum Luminance
  LuminousFlux LuminousIntensity MagneticFlux MagneticFluxDensity MagneticVectorPotential Mass
  MassConcentration MassFlowRate MassPerAreaTime MemoryCapacity MolalityOfSolute MolarEnergy
  MolarMass MolarVolume Power Pressure RadiantFlux RadiantIntensity RelativeHumidity Resistance
  Resistivity SolidAngle SpecificVolume Speed SurfaceDensity SurfaceTension Temperature Time
  Torque Voltage Volume VolumeFlowRate VolumeFraction VolumetricFlux Wavenumber`);
const EXCEPTIONS = words('ALARM_CONDITION ERROR_CONDITION');
const COMPONENTS = words(`x y z axial_distance azimuth height spherical_radius polar_angle
  elevation_angle easting northing latitude longitude altitude`);
const REASONS = words('did_not_occur incorrect_data');
const V_BIZSTEP = [BIZSTEPS, CBV + 'BizStep-'];
const V_DISP = [DISPOSITIONS, CBV + 'Disp-'];
const V_BTT = [BTTS, CBV + 'BTT-'];
const V_SDT = [SDTS, CBV + 'SDT-'];
const V_MEASURE = [MEASUREMENTS, VOC];
const V_EXCEPTION = [EXCEPTIONS, VOC];
const V_COMPONENT = [COMPONENTS, CBV + 'Comp-'];
const V_REASON = [REASONS, CBV + 'ER-'];
const CURIES = new Map([['cbv', CBV], ['gs1', VOC]]);

/** event_hash.py `_vocab_iri`. */
function vocabIri(value, [terms, prefix]) {
  if (terms.has(value)) return prefix + value;
  const [head, sep, tail] = partition(value, ':');
  if (sep && CURIES.has(head)) return CURIES.get(head) + tail;
  return null;
}

/** event_hash.py `_collect_vocab`: the vocabulary IRIs the event mentions. */
function collectVocab(event) {
  const found = new Set();
  collectLiterals(event, found);
  const add = (value, vocab) => {
    if (typeof value === 'string') {
      const iri = vocabIri(value, vocab);
      if (iri !== null) found.add(iri);
    } else if (Array.isArray(value)) {
      for (const v of value) add(v, vocab);
    }
  };
  const get = (obj, key) => (has(obj, key) ? obj[key] : undefined);
  add(get(event, 'bizStep'), V_BIZSTEP);
  add(get(event, 'disposition'), V_DISP);
  const pd = get(event, 'persistentDisposition');
  if (isDict(pd)) {
    add(get(pd, 'set'), V_DISP);
    add(get(pd, 'unset'), V_DISP);
  }
  for (const [key, vocab] of [['bizTransactionList', V_BTT], ['sourceList', V_SDT], ['destinationList', V_SDT]]) {
    const entries = get(event, key);
    if (Array.isArray(entries)) for (const entry of entries) if (isDict(entry)) add(get(entry, 'type'), vocab);
  }
  const sensors = get(event, 'sensorElementList');
  if (Array.isArray(sensors)) {
    for (const element of sensors) {
      if (!isDict(element)) continue;
      const reports = get(element, 'sensorReport');
      for (const report of Array.isArray(reports) ? reports : [reports]) {
        if (isDict(report)) {
          add(get(report, 'type'), V_MEASURE);
          add(get(report, 'exception'), V_EXCEPTION);
          add(get(report, 'component'), V_COMPONENT);
        }
      }
    }
  }
  const error = get(event, 'errorDeclaration');
  if (isDict(error)) add(get(error, 'reason'), V_REASON);
  return found;
}

/** event_hash.py `_collect_literals`: vocabulary IRIs written out in full anywhere. */
function collectLiterals(node, found) {
  const stack = [isDict(node) ? Object.values(node) : node];
  while (stack.length) {
    for (const value of stack.pop()) {
      if (typeof value === 'string') {
        if (value.startsWith('https://ref.gs1.org/cbv') || value.startsWith('https://gs1.org/voc')) found.add(value);
      } else if (Array.isArray(value)) {
        stack.push(value);
      } else if (isDict(value)) {
        stack.push(Object.values(value));
      }
    }
  }
}

const resolverCache = new Map();

/** event_hash.py `_resolver`: bare string → IRI, when exactly one IRI ends in -string or /string. */
function resolver(iris) {
  const key = JSON.stringify([...iris].sort());
  let resolved = resolverCache.get(key);
  if (resolved) return resolved;
  const candidates = new Map();
  for (const iri of iris) {
    for (let i = 0; i < iri.length; i++) {
      if (iri[i] === '-' || iri[i] === '/') {
        const bare = iri.slice(i + 1);
        if (!candidates.has(bare)) candidates.set(bare, new Set());
        candidates.get(bare).add(iri);
      }
    }
  }
  resolved = new Map();
  for (const [bare, m] of candidates) if (m.size === 1) resolved.set(bare, m.values().next().value);
  if (resolverCache.size > 4096) resolverCache.clear();
  resolverCache.set(key, resolved);
  return resolved;
}

/** event_hash.py `_namespaces`: prefix → IRI from a list-form @context (gs1: and cbv: always). */
function namespaces(context) {
  const ns = new Map(CURIES);
  if (Array.isArray(context)) {
    for (const item of context) {
      if (typeof item === 'string') ns.set(item, item);
      else if (isDict(item)) for (const [prefix, iri] of Object.entries(item)) if (typeof iri === 'string') ns.set(prefix, iri);
    }
  }
  return ns;
}

// --- the event as a tree of [name, text, children] (event_hash.py _Build) ----------------------
// A bizTransaction/source/destination entry, after `restructure`, is a Pair (the tuple of at
// most two nodes that Python tells from a node by its length).
class Pair {
  constructor(nodes) { this.nodes = nodes; }
}

/** Python's tuple order on [name, text, children] nodes. */
function cmpNode(a, b) {
  return cmp(a[0], b[0]) || cmp(a[1], b[1]) || cmpChildren(a[2], b[2]);
}

function cmpChildren(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = cmpNode(a[i], b[i]);
    if (c) return c;
  }
  return a.length - b.length;
}

class Build {
  constructor(ns, resolve) {
    this.ns = ns;
    this.resolve = resolve;
  }

  /** The IRI `head` is declared as, or null; Python cannot concatenate any other value. */
  iri(head) {
    const iri = this.ns.get(head);
    if (iri === undefined || iri === null) return null;
    if (typeof iri !== 'string') throw new EventHashError('unreadable', `namespace ${JSON.stringify(head)} is declared as a non-string`);
    return iri;
  }

  key(key) {
    if (key.includes(':')) {
      const [head, , tail] = partition(key, ':');
      const iri = this.iri(head);
      if (iri !== null) return '{' + iri + '}' + tail;
    }
    return key;
  }

  scalar(value) {
    if (typeof value === 'string') {
      const replaced = this.resolve.get(value);
      if (replaced !== undefined) return replaced;
      if (value.includes(':')) {
        const [head, , tail] = partition(value, ':');
        const iri = this.iri(head);
        if (iri !== null) return iri + tail;
      }
      return value;
    }
    // JSON's spelling (Python's would be "True"), as in the Python module
    if (value === true || value === false) return value ? 'true' : 'false';
    return pyStr(value);
  }

  node(obj) {
    if (isDict(obj)) return this.obj(obj);
    if (Array.isArray(obj)) return ['', '', obj.map((v) => this.node(v))];
    return ['', this.scalar(obj), []];
  }

  obj(obj) {
    let name = has(obj, 'type') ? obj.type : '';
    if (typeof name !== 'string') name = '';
    else if (this.resolve.has(name)) name = this.resolve.get(name);
    const text = has(obj, '#text') ? this.scalar(obj['#text']) : '';
    const children = [];
    for (const [key, val] of Object.entries(obj)) {
      if (SKIPPED_KEYS.has(key)) continue;
      if (key.startsWith('@xmlns')) {
        // an in-line declaration applies from here on (a running table, as in the reference)
        this.ns = new Map(this.ns).set(key.slice(7), val);
        name = this.key(name);
        continue;
      }
      if (Array.isArray(val)) {
        const k = this.key(key);
        for (const element of val) {
          if (isDict(element)) {
            const [, t, c] = this.obj(element);
            children.push([k, t, c]);
          } else if (Array.isArray(element)) {
            children.push([k, '', element.map((v) => this.node(v))]);
          } else {
            children.push([k, this.scalar(element), []]);
          }
        }
      } else if (isDict(val)) {
        const [, t, c] = this.obj(val); // before the key: the value may declare a namespace
        children.push([this.key(key), t, c]);
      } else {
        children.push([this.key(key), this.scalar(val), []]);
      }
    }
    if (!(has(obj, 'bizTransaction') || has(obj, 'source') || has(obj, 'destination'))) children.sort(cmpNode);
    return [name, text, children];
  }
}

/** event_hash.py `_typed_pair`: an entry as (type, value), type first. */
function typedPair(fields) {
  const typed = fields.filter((f) => f[0] === 'type');
  return new Pair([...typed, ...fields.filter((f) => f[0] !== 'type')].slice(0, 2));
}

/** event_hash.py `_restructure`: the JSON shape mapped onto the XML one. */
function restructure([name, text, children]) {
  const plain = [];
  const lists = new Map();
  const childEpcs = [];
  for (const child of children) {
    const cname = child[0];
    if (cname.endsWith('List') && cname[0] !== '{') {
      if (!lists.has(cname)) lists.set(cname, []);
      lists.get(cname).push([cname.slice(0, -4), child[1], child[2]]);
    } else if (cname === 'childEPCs') {
      childEpcs.push(['epc', child[1], []]);
    } else {
      plain.push(child);
    }
  }
  const out = plain.map(restructure);
  for (const [listName, elements] of lists) {
    if (listName === 'sourceList' || listName === 'destinationList' || listName === 'bizTransactionList') {
      out.push([listName, '', elements.map((e) => typedPair(e[2]))]);
    } else {
      out.push(restructure([listName, '', elements]));
    }
  }
  if (childEpcs.length) out.push(['childEPCs', '', childEpcs]);
  if (name === 'inputEPC' || name === 'outputEPC') return ['epc', text, out];
  if (name === 'inputQuantity' || name === 'outputQuantity' || name === 'childQuantity' || (name === 'quantity' && out.length)) {
    return ['quantityElement', text, out];
  }
  return [name, text, out];
}

// --- the pre-hash string (event_hash.py _ordered, _take_extensions, _leaf_text, _generic) ---------
const byCp = (a, b) => cmp(a, b);

/** Emit the children named in `order`, in that order, removing those consumed from `children`. */
function ordered(children, order) {
  const extensions = takeExtensions(children);
  const parts = [];
  const consumed = new Set();
  for (const [name, sub] of order) {
    const values = [];
    for (const child of children) {
      if (child[0] === name) {
        const text = leafText(child, sub);
        if (text) values.push(text);
        if (!child[2].length) consumed.add(child); // after leafText, which may empty it
      }
    }
    if (values.length) parts.push(...values.sort(byCp));
  }
  if (consumed.size) replaceAll(children, children.filter((c) => !consumed.has(c)));
  let pre = parts.join('');
  if (extensions.length) pre += generic(extensions);
  return pre;
}

function replaceAll(list, items) {
  list.length = 0;
  list.push(...items);
}

/** User extensions nested in a standard field go right after its own values. */
function takeExtensions(children) {
  if (children.length <= 1) return [];
  for (const child of children) {
    const name = child[0];
    if (typeof name === 'string' && (name.includes('eventTime') || name.includes('action'))) return [];
  }
  const ext = children.filter((c) => typeof c[0] === 'string' && c[0].includes('{') && c[0].includes('/}'));
  if (ext.length) {
    const ids = new Set(ext);
    replaceAll(children, children.filter((c) => !ids.has(c)));
  }
  return ext;
}

function leafText(child, sub) {
  const [name, raw0, grand] = child;
  const nested = sub && sub.length ? ordered(grand, sub) : '';
  let text = '';
  if (raw0) {
    const raw = strip(raw0);
    const lowered = name.toLowerCase();
    text = lowered.includes('time') && !lowered.includes('offset') ? timestamp(raw) : canonicalValue(raw);
    if (text) text = '=' + text;
  }
  return text || nested ? name + text + nested : '';
}

function generic(children) {
  const values = [];
  let keepOrder = false;
  for (const child of children) {
    if (child instanceof Pair) { // a (type, value) entry, not a node
      values.push(generic(child.nodes));
      continue;
    }
    const name = child[0];
    if (UNSORTED_KEYS.has(name)) keepOrder = true;
    let text = strip(child[1]);
    if (text) text = '=' + canonicalValue(text);
    values.push(name + text + (child[2].length ? generic(child[2]) : ''));
  }
  if (children.length > 1 && !keepOrder) values.sort(byCp);
  return values.join('');
}

// --- values (event_hash.py _canonical_value, canonical_value) ----------------------------------
const OLD_CBV = [
  ['urn:epcglobal:cbv:bizstep:', CBV + 'BizStep-'], ['urn:epcglobal:cbv:disp:', CBV + 'Disp-'],
  ['urn:epcglobal:cbv:btt:', CBV + 'BTT-'], ['urn:epcglobal:cbv:sdt:', CBV + 'SDT-'],
  ['urn:epcglobal:cbv:er:', CBV + 'ER-'],
];
const NOT_NUMERIC_START = new Set('abcdefghjklmopqrstuvwxyzABCDEFGHJKLMOPQRSTUVWXYZ');
const CACHE_LIMIT = 1 << 17;
const valueCache = new Map();

/** The spelling the hash reads a string value as (a GS1 key as its canonical Digital Link, a
 * number as its shortest form, an old CBV URN as the CBV 2.0 term). */
export function canonicalValue(text) {
  const cached = valueCache.get(text);
  if (cached !== undefined) return cached;
  let value = text;
  if (value.includes('urn:epcglobal:cbv:')) for (const [old, now] of OLD_CBV) value = value.split(old).join(now);
  if (value && !NOT_NUMERIC_START.has(value[0])) {
    const number = pyFloatOf(value);
    // int() of inf raises OverflowError, of nan ValueError: the value is then kept as written
    if (number !== null && Number.isFinite(number)) value = Number.isInteger(number) ? BigInt(number).toString() : pyFloat(number);
  }
  value = gs1KeyUri(value) || value;
  if (valueCache.size >= CACHE_LIMIT) valueCache.clear();
  valueCache.set(text, value);
  return value;
}

// --- times (event_hash.py _timestamp) ---------------------------------------------------------
const TIME_RE = new RegExp(`^(${D}{4})-(${D}${D})-(${D}${D})[Tt ](${D}${D}):(${D}${D})(?::(${D}${D})(?:[.,](${D}+))?)?`
  + `[${PY_SPACE}]*(?:([Zz])|([+-])(${D}${D})(?::?(${D}${D}))?)?$`, 'u');
const DAY_MS = 86400000;
const MIN_MS = daysFromCivil(1, 1, 1) * DAY_MS;
const MAX_MS = (daysFromCivil(9999, 12, 31) + 1) * DAY_MS - 1;
const timeCache = new Map();

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y, m, d) {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z) {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const daysIn = (y, m) => (m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [31, 0, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]);

/** UTC, millisecond precision, `Z`; microseconds round half to even at the millisecond. */
function timestamp(text) {
  const cached = timeCache.get(text);
  if (cached !== undefined) return cached;
  const m = TIME_RE.exec(text);
  if (m === null) return text; // not a time: kept as written, like the reference
  const [, year, month, day, hour, minute, second, fraction, , sign, oh, om] = m;
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second || '0'].map(int);
  // datetime(...) raises ValueError: kept as written
  if (y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || s > 59) return text;
  const six = [...(fraction || '')].slice(0, 6); // code points, as Python slices
  const micro = int(six.join('') + '0'.repeat(6 - six.length));
  let ms = daysFromCivil(y, mo, d) * DAY_MS + ((h * 60 + mi) * 60 + s) * 1000;
  const unrepresentable = () => new EventHashError('unrepresentable-time',
    `'${text}' is before 0001-01-01 or after 9999-12-31 in UTC`);
  if (sign) {
    const offset = (int(oh) * 60 + int(om || '0')) * 60000;
    ms = sign === '+' ? ms - offset : ms + offset;
    if (ms < MIN_MS || ms > MAX_MS) throw unrepresentable();
  }
  // Python's round(micro, -3): half to even
  let q = Math.floor(micro / 1000);
  const r = micro % 1000;
  if (r > 500 || (r === 500 && q % 2 === 1)) q += 1;
  ms += q;
  if (ms > MAX_MS) throw unrepresentable();
  const days = Math.floor(ms / DAY_MS);
  const [yy, mm, dd] = civilFromDays(days);
  let rest = ms - days * DAY_MS;
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  const msPart = rest % 1000;
  rest = (rest - msPart) / 1000;
  const fixed = `${pad(yy, 4)}-${pad(mm)}-${pad(dd)}T${pad(Math.floor(rest / 3600))}:${pad(Math.floor(rest / 60) % 60)}:${pad(rest % 60)}.${pad(msPart, 3)}Z`;
  if (timeCache.size >= CACHE_LIMIT) timeCache.clear();
  timeCache.set(text, fixed);
  return fixed;
}

// --- GS1 keys → canonical Digital Link (event_hash.py _gs1_key_uri and its helpers) -------------
const C = "(?:%2[125-9A-Fa-f]|%3[0-9A-Fa-f]|%4[1-9A-Fa-f]|%5[0-9AaFf]|%6[1-9A-Fa-f]|%7[0-9Aa]|[!')(*+,.0-9:;=A-Za-z_\\-])";
const CPI = '(?:%2[3dfDF]|%3[0-9]|%4[1-9A-Fa-f]|%5[0-9Aa]|[0-9A-Z\\-])';
const DL_ESCAPES = { '!': '%21', '(': '%28', ')': '%29', '*': '%2A', '+': '%2B', ',': '%2C', ':': '%3A' };
const escapeDl = (s) => s.replace(/[!()*+,:]/g, (ch) => DL_ESCAPES[ch]);
const full = (src) => new RegExp(`^(?:${src})$`, 'u');
const checkCache = new Map();

/** GS1 mod-10 check digit (weights 3,1,3,… from the right). */
function checkDigit(digits) {
  let cd = checkCache.get(digits);
  if (cd === undefined) {
    let total = 0;
    [...digits].reverse().forEach((ch, i) => { total += digitValue(ch) * (i % 2 === 0 ? 3 : 1); });
    cd = String((10 - (total % 10)) % 10);
    if (checkCache.size >= CACHE_LIMIT) checkCache.clear();
    checkCache.set(digits, cd);
  }
  return cd;
}

function gtin(cp, ref) {
  const head = firstCp(ref);
  const raw = head + cp + ref.slice(head.length);
  return raw + checkDigit(raw);
}

const EPC_BODY = {
  sgtin: full(`(${D}{6,12})\\.(${D}{1,7})\\.(${C}{1,20})`),
  sscc: full(`(${D}{6,12})\\.(${D}{5,11})`),
  sgln: full(`(${D}{6,12})\\.(${D}{0,6})\\.(${C}{1,20})`),
  grai: full(`(${D}{6,11})\\.(${D}{1,6})\\.(${C}{1,16})`),
  giai: full(`(${D}{6,12})\\.(${C}{1,24})`),
  gsrn: full(`(${D}{6,12})\\.(${D}{5,11})`),
  gsrnp: full(`(${D}{6,12})\\.(${D}{5,11})`),
  gdti: full(`(${D}{6,11})\\.(${D}{1,6})\\.(${C}{0,19})`),
  cpi: full(`(${D}{6,12})\\.(${CPI}{1,24})\\.(${D}{1,12})`),
  sgcn: full(`(${D}{6,12})\\.(${D}{0,6})\\.(${D}{1,12})`),
  ginc: full(`(${D}{6,12})\\.(${C}{1,24})`),
  gsin: full(`(${D}{6,12})\\.(${D}{4,10})`),
  itip: full(`(${D}{6,12})\\.(${D}{1,7})\\.(${D}${D})\\.(${D}${D})\\.(${C}{1,20})`),
  upui: full(`(${D}{6,12})\\.(${D}{1,7})\\.(${C}{1,28})`),
  pgln: full(`(${D}{6,12})\\.(${D}{0,6})`),
};
// With a 12-digit company prefix the reference reads GRAI and GDTI with one dot more.
const EPC_BODY_CP12 = {
  grai: full(`(${D}{12})\\.\\.(\\.${C}{1,16})`),
  gdti: full(`(${D}{12})\\.\\.(${C}{1,20})`),
};

/** event_hash.py `_plain_sgtin`: the common SGTIN without the regular expression. */
function plainSgtin(body) {
  const [cp, , rest] = partition(body, '.');
  const [ref, dot, serial] = partition(rest, '.');
  if (dot && cp.length >= 6 && cp.length <= 12 && cp.length + ref.length === 13 && serial.length >= 1 && serial.length <= 20
      && /^[0-9]+$/.test(cp) && /^[0-9]+$/.test(ref) && /^[A-Za-z0-9]+$/.test(serial)) {
    return 'https://id.gs1.org/01/' + gtin(cp, ref) + '/21/' + serial;
  }
  return null;
}

const len = (s) => [...s].length;

function epcId(scheme, body) {
  if (scheme === 'sgtin') {
    const plain = plainSgtin(body);
    if (plain !== null) return plain;
  }
  if (!has(EPC_BODY, scheme)) return null;
  const m = EPC_BODY[scheme].exec(body);
  if (m === null && has(EPC_BODY_CP12, scheme)) {
    const m12 = EPC_BODY_CP12[scheme].exec(body);
    if (m12 === null) return null;
    const [, cp, serial] = m12;
    if (scheme === 'grai') return 'https://id.gs1.org/8003/0' + cp + checkDigit('0' + cp) + escapeDl(serial);
    return 'https://id.gs1.org/253/' + cp + checkDigit(cp) + escapeDl(serial);
  }
  if (m === null) return null;
  const g = m.slice(1);
  const cp = g[0];
  const n = len(cp);
  switch (scheme) {
    case 'sgtin':
      return n + len(g[1]) !== 13 ? null : 'https://id.gs1.org/01/' + gtin(cp, g[1]) + '/21/' + escapeDl(g[2]);
    case 'sscc': {
      if (n + len(g[1]) !== 17) return null;
      const head = firstCp(g[1]);
      const raw = head + cp + g[1].slice(head.length);
      return 'https://id.gs1.org/00/' + raw + checkDigit(raw);
    }
    case 'sgln': {
      if (n + len(g[1]) !== 12) return null;
      const gln = cp + g[1] + checkDigit(cp + g[1]);
      return g[2] === '0' ? 'https://id.gs1.org/414/' + gln : 'https://id.gs1.org/414/' + gln + '/254/' + escapeDl(g[2]);
    }
    case 'grai': {
      if (n + len(g[1]) !== 12) return null;
      const raw = '0' + cp + g[1];
      return 'https://id.gs1.org/8003/' + raw + checkDigit(raw) + escapeDl(g[2]);
    }
    case 'giai': case 'ginc':
      if (len(g[1]) > 30 - n) return null;
      return 'https://id.gs1.org/' + (scheme === 'giai' ? '8004' : '401') + '/' + cp + escapeDl(g[1]);
    case 'gsrn': case 'gsrnp':
      if (n + len(g[1]) !== 17) return null;
      return 'https://id.gs1.org/' + (scheme === 'gsrn' ? '8018' : '8017') + '/' + cp + g[1] + checkDigit(cp + g[1]);
    case 'gdti':
      if (n + len(g[1]) !== 12) return null;
      return 'https://id.gs1.org/253/' + cp + g[1] + checkDigit(cp + g[1]) + escapeDl(g[2]);
    case 'cpi':
      if (len(g[1]) > 30 - n) return null;
      return 'https://id.gs1.org/8010/' + escapeDl(cp + g[1]) + '/8011/' + g[2];
    case 'sgcn':
      if (n + len(g[1]) !== 12) return null;
      return 'https://id.gs1.org/255/' + cp + g[1] + checkDigit(cp + g[1]) + g[2];
    case 'gsin':
      if (n + len(g[1]) !== 16) return null;
      return 'https://id.gs1.org/402/' + cp + g[1] + checkDigit(cp + g[1]);
    case 'itip':
      if (n + len(g[1]) !== 13) return null;
      return 'https://id.gs1.org/8006/' + gtin(cp, g[1]) + g[2] + g[3] + '/21/' + escapeDl(g[4]);
    case 'upui':
      if (n + len(g[1]) !== 13) return null;
      return 'https://id.gs1.org/01/' + gtin(cp, g[1]) + '/235/' + escapeDl(g[2]);
    default: // pgln
      if (n + len(g[1]) !== 12) return null;
      return 'https://id.gs1.org/417/' + cp + g[1] + checkDigit(cp + g[1]);
  }
}

const LGTIN = full(`(${D}{6,12})\\.(${D}{1,7})\\.(${C}{1,20})`);
const IDPAT = {
  sgtin: full(`(${D}{6,12})\\.(${D}{1,7})\\.\\*`),
  upui: full(`(${D}{6,12})\\.(${D}{1,7})\\.\\*`),
  grai: full(`(${D}{6,11})\\.(${D}{1,6})\\.\\*`),
  gdti: full(`(${D}{6,11})\\.(${D}{1,6})\\.\\*`),
  sgcn: full(`(${D}{6,11})\\.(${D}{1,6})\\.\\*`),
  cpi: full(`(${D}{6,12})\\.(${CPI}{1,24})\\.\\*`),
  itip: full(`(${D}{6,12})\\.(${D}{1,7})\\.(${D}${D})\\.(${D}${D})\\.\\*`),
};
const IDPAT_CP12 = full(`(${D}{12})\\.\\.\\.\\*`);

function epcPattern(scheme, body) {
  const m = has(IDPAT, scheme) ? IDPAT[scheme].exec(body) : null;
  if (m === null && ['grai', 'gdti', 'sgcn'].includes(scheme)) {
    const m12 = IDPAT_CP12.exec(body);
    if (m12 === null) return null;
    const cp = m12[1];
    if (scheme === 'grai') return 'https://id.gs1.org/8003/0' + cp + checkDigit('0' + cp);
    return 'https://id.gs1.org/' + (scheme === 'gdti' ? '253' : '255') + '/' + cp + checkDigit(cp);
  }
  if (m === null) return null;
  const g = m.slice(1);
  const cp = g[0];
  const n = len(cp);
  if (scheme === 'sgtin' || scheme === 'upui' || scheme === 'itip') {
    if (n + len(g[1]) !== 13) return null;
    const key = gtin(cp, g[1]);
    return scheme === 'itip' ? 'https://id.gs1.org/8006/' + key + g[2] + g[3] : 'https://id.gs1.org/01/' + key;
  }
  if (scheme === 'cpi') return len(g[1]) > 30 - n ? null : 'https://id.gs1.org/8010/' + escapeDl(cp + g[1]);
  if (n + len(g[1]) !== 12) return null;
  if (scheme === 'grai') {
    const raw = '0' + cp + g[1];
    return 'https://id.gs1.org/8003/' + raw + checkDigit(raw);
  }
  return 'https://id.gs1.org/' + (scheme === 'gdti' ? '253' : '255') + '/' + cp + g[1] + checkDigit(cp + g[1]);
}

const DL_KEYS = '01|gtin|8006|itip|8010|cpid|414|gln|417|party|8017|gsrnp|8018|gsrn|255|gcn|00|sscc|'
  + '253|gdti|401|ginc|402|gsin|8003|grai|8004|giai';
const DL_GATE = new RegExp(`^https?:[^?#]*/(?:${DL_KEYS})/${D}{4}[^/]+`, 'u');
const DL_SHORT_NAMES = [
  ['/gtin/', '/01/'], ['/itip/', '/8006/'], ['/cpid/', '/8010/'], ['/gln/', '/414/'],
  ['/party/', '/417/'], ['/gsrnp/', '/8017/'], ['/gsrn/', '/8018/'], ['/gcn/', '/255/'],
  ['/sscc/', '/00/'], ['/gdti/', '/253/'], ['/ginc/', '/401/'], ['/gsin/', '/402/'],
  ['/grai/', '/8003/'], ['/giai/', '/8004/'], ['/cpv/', '/22/'], ['/lot/', '/10/'],
  ['/ser/', '/21/']];
// the reference writes the host with unescaped dots: kept, so that the same inputs qualify
const HOST = `https://id${DOT}gs1${DOT}org`;
const DL_CANONICAL_HOST = new RegExp(`^${HOST}/(?:01|8006|8010|414|417|8017|8018|255|00|253|401|402|8003|8004)/${D}{4}[^/]`, 'u');
const DL_REBASE_ORDER = ['/00/', '/01/', '/253/', '/255/', '/401/', '/402/', '/414/', '/417/',
  '/8003/', '/8004/', '/8006/', '/8010/', '/8017/', '/8018/'];
const X = '[\\x22\\x27\\x2D\\x2E\\x30-\\x39\\x3B-\\x3F\\x41-\\x5A\\x5F\\x61-\\x7A]';
const KEY_WITH = `${HOST}/(?:8006/${D}{18}|01/${D}{14})`;
const CPV_ONLY = full(`${KEY_WITH}/22/${X}{0,20}`);
const CPV_THEN = full(`${KEY_WITH}/22/[\\x2F\\x22\\x27\\x2D\\x2E\\x30-\\x39\\x3B-\\x3F\\x41-\\x5A\\x5F\\x61-\\x7A]{0,20}`);
const LOT_AND_SERIAL = full(`${KEY_WITH}/10/${X}{0,20}/21/${X}{0,20}`);
const DL_FINAL = full(`${HOST}/(?:`
  + `00/${D}{18}`
  + `|01/${D}{14}(?:/21/${X}{0,20}|/10/${X}{0,20}|/235/${X}{0,28})?`
  + `|253/${D}{13}${X}{0,17}`
  + `|255/${D}{13}${D}{0,12}`
  + `|401/${X}{0,30}`
  + `|402/${D}{17}`
  + `|414/${D}{13}(?:/254/${X}{0,20})?`
  + `|417/${D}{13}`
  + `|8003/${D}{14}${X}{0,16}`
  + `|8004/${X}{0,30}`
  + `|8006/${D}{18}(?:/21/${X}{0,20}|/10/${X}{0,20})?`
  + '|8010/[\\x23\\x2D\\x2F\\x30-\\x39\\x41-\\x5A]{0,30}(?:/8011/' + D + '{0,12})?'
  + `|8017/${D}{18}`
  + `|8018/${D}{18})`);
const GTIN_DIGITS = new RegExp(`^${HOST}/01/(${D}*)`, 'u');

function digitalLink(uri0) {
  let uri = uri0;
  if (!DL_GATE.test(uri)) return null;
  const q = uri.indexOf('?');
  if (q >= 0) uri = uri.slice(0, q);
  for (const [short, ai] of DL_SHORT_NAMES) if (uri.includes(short)) uri = uri.split(short).join(ai);
  if (!DL_CANONICAL_HOST.test(uri)) {
    for (const ai of DL_REBASE_ORDER) {
      const at = uri.indexOf(ai);
      if (at !== -1) {
        uri = 'https://id.gs1.org' + uri.slice(at);
        break;
      }
    }
  }
  const m = GTIN_DIGITS.exec(uri);
  if (m !== null) {
    const n = len(m[1]);
    if (n < 14) {
      const pad = n === 13 ? '0' : n === 12 ? '00' : n >= 8 ? '000000' : '';
      if (pad) uri = uri.split('/01/').join('/01/' + pad);
    }
  }
  if (uri.includes('/22/')) {
    const at = uri.indexOf('/22/');
    const rest = uri.slice(at + 4);
    if (CPV_ONLY.test(uri)) {
      uri = uri.slice(0, at);
    } else if (CPV_THEN.test(uri)) {
      const slash = rest.indexOf('/');
      uri = uri.slice(0, at) + (slash >= 0 ? rest.slice(slash) : rest.slice(-1));
    }
  }
  if (uri.includes('/10/') && LOT_AND_SERIAL.test(uri)) {
    const at = uri.indexOf('/10/');
    const rest = uri.slice(at + 4);
    uri = uri.slice(0, at) + rest.slice(rest.indexOf('/'));
  }
  return DL_FINAL.test(uri) ? uri : null;
}

/** Canonical Digital Link of a GS1 key written as EPC URN, class, pattern or Digital Link. */
function gs1KeyUri(uri) {
  if (!uri.includes('.')) return null;
  if (uri.startsWith('urn:epc:')) {
    const [kind, , rest] = partition(uri.slice(8), ':');
    const [scheme, , body] = partition(rest, ':');
    if (kind === 'id') return epcId(scheme, body);
    if (kind === 'class' && scheme === 'lgtin') {
      const m = LGTIN.exec(body);
      if (m === null || len(m[1]) + len(m[2]) !== 13) return null;
      return 'https://id.gs1.org/01/' + gtin(m[1], m[2]) + '/10/' + escapeDl(m[3]);
    }
    if (kind === 'idpat') return epcPattern(scheme, body);
    return null;
  }
  if (uri.startsWith('http')) return digitalLink(uri);
  return null;
}

// --- public API (event_hash.py prehash, event_hash, event_id, prehashes, event_ids) -------------

/** The canonical pre-hash string of one EPCIS event (a JSON object). `context` is the enclosing
 * document's @context (it declares the extension namespaces); `ignoreFields` are top-level keys
 * excluded from the hash (a document's ignoreFields). Throws EventHashError. */
export function prehash(event, context = null, { ignoreFields = [] } = {}) {
  return prehashWith(event, namespaces(context), new Set(ignoreFields));
}

function prehashWith(event0, ns, ignore0) {
  if (!isDict(event0)) throw new EventHashError('invalid-input', 'an EPCIS event must be a JSON object');
  let event = event0;
  let ignore = ignore0;
  // (a single event's own @context is never read: `ns` always holds gs1 and cbv, as in Python)
  if (has(event, '@context')) ignore = new Set([...ignore, '@context']);
  if (ignore.size) event = Object.fromEntries(Object.entries(event).filter(([k]) => !ignore.has(k)));
  const build = new Build(ns, resolver(collectVocab(event)));
  const [name, , children] = restructure(build.obj(event));
  const head = 'eventType=' + name + ordered(children, ORDER);
  const rest = children.filter((c) => !IGNORED_TOP.has(c[0]));
  return head + (rest.length ? generic(rest) : '');
}

/** The UTF-8 bytes of a pre-hash string; a lone surrogate has none (Python's encode raises). */
function utf8(pre) {
  if (!pre.isWellFormed()) throw new EventHashError('unreadable', 'the event holds a lone surrogate: it has no UTF-8 form');
  return new TextEncoder().encode(pre);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const hex = (bytes) => { let s = ''; for (const b of bytes) s += HEX[b]; return s; };

/** The 32-byte sha-256 event hash. */
export function eventHash(event, context = null, options = {}) {
  return sha256(utf8(prehash(event, context, options)));
}

/** `ni:///sha-256;<hex>?ver=CBV2.0` of one event. */
export function eventId(event, context = null, options = {}) {
  return NI_PREFIX + hex(eventHash(event, context, options)) + NI_SUFFIX;
}

/** event_hash.py `_document_parts`: (@context, events, ignore fields) of an EPCISDocument, a
 * query document or a single event. */
function documentParts(doc) {
  if (!isDict(doc)) throw new EventHashError('invalid-input', 'an EPCIS document must be a JSON object');
  const context = has(doc, '@context') ? doc['@context'] : null;
  const ignore = new Set();
  ignoreFieldsOf(doc, ignore);
  const body = has(doc, 'epcisBody') ? doc.epcisBody : undefined;
  let events;
  if (isDict(body)) {
    if (has(body, 'eventList')) {
      events = body.eventList;
    } else if (has(body, 'queryResults')) {
      const results = body.queryResults;
      ignoreFieldsOf(results, ignore);
      const rb = isDict(results) && has(results, 'resultsBody') ? results.resultsBody : {};
      events = isDict(rb) && has(rb, 'eventList') ? rb.eventList : [];
    } else if (has(body, 'event')) {
      events = [body.event];
    } else {
      events = [];
    }
  } else if ((body === undefined || body === null) && has(doc, 'eventTime')) {
    events = [doc];
  } else {
    throw new EventHashError('invalid-input', 'no epcisBody in the EPCIS document');
  }
  if (!Array.isArray(events)) throw new EventHashError('invalid-input', 'eventList must be an array');
  return [context, events, ignore];
}

function ignoreFieldsOf(obj, into) {
  // `<prefix>:ignoreFields` names extension fields a repository adds after capture
  if (!isDict(obj)) return;
  for (const [key, value] of Object.entries(obj)) {
    if ((key === 'ignoreFields' || key.endsWith(':ignoreFields')) && Array.isArray(value)) {
      for (const v of value) if (typeof v === 'string') into.add(v);
    }
  }
}

/** Pre-hash strings of every event of a document, in document order. */
export function prehashes(doc) {
  const [context, events, ignore] = documentParts(doc);
  const ns = namespaces(context);
  return events.map((e) => prehashWith(e, ns, ignore));
}

/** `ni:///sha-256;…?ver=CBV2.0` ids of every event of a document, in document order. */
export function eventIds(doc) {
  return prehashes(doc).map((p) => NI_PREFIX + hex(sha256(utf8(p))) + NI_SUFFIX);
}
