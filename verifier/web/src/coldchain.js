// The cold-chain section, computed in the browser from verified facts only: the events the
// verifier kept (proven, signed, anchored, entitled, on the item's path) and the brand's signed
// conditions, whose signer must be a key of the GTIN's prefix owner valid when it signed, read
// at the pinned block, and whose hash must be the version the brand registered on CodeRegistry
// for the item's last reading (ledger/trade/conditions.py `in_force`). A port of ledger/trade/coldchain.py and verifier/coldchain.py: the same
// readings, the same excursions, the same breaches.
import { concat, keccak, uint256, utf8, fromHex, toHex, equal, isZero, ShapeError } from './bytes.js';
import { recoverSigner, SignatureError } from './capture.js';
import { canonicalEpc } from './gs1.js';

const TYPEHASH = keccak(utf8('ProductConditions(bytes32 conditionsHash,bytes32 org,uint64 signedAt)'));
export const MEASUREMENTS = {
  Temperature: ['CEL', { CEL: [1, 0], KEL: [1, -273.15], FAH: [5 / 9, -160 / 9] }],
  RelativeHumidity: ['P1', { P1: [1, 0] }],
  AbsoluteHumidity: ['A93', { A93: [1, 0] }],
  Acceleration: ['MSK', { MSK: [1, 0], K40: [9.80665, 0] }],
};
const PREFIXES = ['https://gs1.org/voc/', 'http://gs1.org/voc/', 'gs1:'];
const STATS = ['value', 'minValue', 'maxValue', 'meanValue'];
const UNIT = { CEL: '°C', P1: '%', A93: 'g/m³', MSK: 'm/s²' };

export function canonicalType(name) {
  if (typeof name !== 'string') return null;
  for (const p of PREFIXES) if (name.startsWith(p)) { name = name.slice(p.length); break; }
  return Object.prototype.hasOwnProperty.call(MEASUREMENTS, name) ? name : null;
}

export function convert(kind, value, uom) {
  const spec = MEASUREMENTS[kind];
  if (!spec || typeof uom !== 'string' || !Object.prototype.hasOwnProperty.call(spec[1], uom)) return null;
  const [factor, offset] = spec[1][uom];
  return value * factor + offset;
}

function when(text) {
  if (typeof text !== 'string' || !/(Z|[+-]\d\d:\d\d)$/i.test(text.trim())) return null;
  const ms = Date.parse(text.trim());
  return Number.isFinite(ms) ? ms : null;
}

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** [readings, unreadable] of one event (ledger/trade/coldchain.py `readings`). */
export function readings(event) {
  const out = [];
  let unreadable = 0;
  const eventTime = when(event.eventTime);
  const elements = event.sensorElementList;
  if (!Array.isArray(elements)) return [out, 0];
  elements.forEach((element, ei) => {
    if (!isObj(element)) return;
    const meta = isObj(element.sensorMetadata) ? element.sensorMetadata : {};
    if (!Array.isArray(element.sensorReport)) return;
    element.sensorReport.forEach((report, ri) => {
      if (!isObj(report)) return;
      const kind = canonicalType(report.type);
      if (kind === null) return;
      let start = when(report.time) ?? when(meta.time);
      let end = start;
      if (start === null) {
        const s = when(meta.startTime);
        const e = when(meta.endTime);
        if (s !== null && e !== null && e >= s) { start = s; end = e; } else if (s !== null || e !== null) { start = s ?? e; end = start; } else { start = eventTime; end = eventTime; }
      }
      const stats = STATS.filter((s) => Object.prototype.hasOwnProperty.call(report, s));
      if (start === null || !stats.length) { unreadable += 1; return; }
      let read = 0;
      for (const stat of stats) {
        const raw = report[stat];
        if (typeof raw !== 'number' || !Number.isFinite(raw)) continue;
        const value = convert(kind, raw, report.uom);
        if (value === null) continue;
        out.push({ type: kind, stat, value, uom: MEASUREMENTS[kind][0], rawValue: raw, rawUom: String(report.uom), start, end, element: ei, report: ri });
        read += 1;
      }
      if (!read) unreadable += 1;
    });
  });
  return [out, unreadable];
}

const iso = (ms) => new Date(ms).toISOString();
const round = (x, d) => Number(x.toFixed(d));

function readingJson(r) {
  return { type: r.type, stat: r.stat, value: r.value, uom: r.uom, reported: { value: r.rawValue, uom: r.rawUom },
    start: iso(r.start), end: iso(r.end), element: r.element, report: r.report };
}

function bounds(range) {
  const lo = range.min === null ? -Infinity : convert(range.type, range.min, range.uom);
  const hi = range.max === null ? Infinity : convert(range.type, range.max, range.uom);
  return [lo, hi];
}

function judge(range, perEvent) {
  const [lo, hi] = bounds(range);
  const timed = [];
  let events = 0;
  let unreadable = 0;
  for (const [pe, found, u] of perEvent) {
    unreadable += u;
    const mine = found.filter((r) => r.type === range.type);
    if (mine.length) events += 1;
    for (const r of mine) timed.push([r, pe]);
  }
  const rangeJson = { type: range.type, uom: range.uom };
  if (range.min !== null) rangeJson.min = range.min;
  if (range.max !== null) rangeJson.max = range.max;
  rangeJson.allowedMinutesOutside = range.allowed;
  const base = { range: rangeJson, canonicalUom: MEASUREMENTS[range.type][0],
    bounds: [Number.isFinite(lo) ? lo : null, Number.isFinite(hi) ? hi : null] };
  if (!timed.length) {
    return { ...base, readings: 0, events: 0, unreadable, lowest: null, highest: null, first: null, last: null, days: null,
      minutesOutside: 0, breached: false, excursions: [] };
  }
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  timed.sort(([a, pa], [b, pb]) => cmp(a.start, b.start) || cmp(a.end, b.end) || cmp(pa.ref, pb.ref)
    || cmp(a.element, b.element) || cmp(a.report, b.report) || cmp(STATS.indexOf(a.stat), STATS.indexOf(b.stat)));
  const starts = [...new Set(timed.map(([r]) => r.start))].sort((a, b) => a - b);
  const nextAfter = (at) => starts.find((s) => s > at) ?? null;
  const excursions = [];
  let cur = null;
  for (const [r, pe] of timed) {
    const outside = r.value < lo || r.value > hi;
    if (!outside) {
      if (cur !== null && r.start > cur.start) { excursions.push(cur); cur = null; }
      continue;
    }
    const until = r.end > r.start ? r.end : (nextAfter(r.start) ?? r.start);
    const bound = r.value < lo ? 'min' : 'max';
    const limit = bound === 'min' ? lo : hi;
    const distance = bound === 'min' ? lo - r.value : r.value - hi;
    if (cur !== null && cur.event === pe.ref && r.start <= cur.end) {
      cur.end = Math.max(cur.end, until);
      cur.count += 1;
      if (distance > cur.distance) Object.assign(cur, { worst: r, bound, limit, distance });
      continue;
    }
    if (cur !== null) excursions.push(cur);
    cur = { type: range.type, event: pe.ref, signer: pe.signer, worst: r, bound, limit, distance, start: r.start, end: until, count: 1 };
  }
  if (cur !== null) excursions.push(cur);
  const spans = excursions.map((x) => [x.start, x.end]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let total = 0;
  let s0 = null;
  let e0 = 0;
  for (const [s, e] of spans) {
    if (s0 === null || s > e0) { if (s0 !== null) total += e0 - s0; s0 = s; e0 = e; } else e0 = Math.max(e0, e);
  }
  if (s0 !== null) total += e0 - s0;
  const minutes = total / 60000;
  const values = timed.map(([r]) => r.value);
  const first = Math.min(...timed.map(([r]) => r.start));
  const last = Math.max(...timed.map(([r]) => r.end));
  const breached = excursions.length > 0 && (range.allowed === 0 || minutes > range.allowed);
  return { ...base, readings: timed.length, events, unreadable, lowest: Math.min(...values), highest: Math.max(...values),
    first: iso(first), last: iso(last), days: round((last - first) / 86400000, 2), minutesOutside: round(minutes, 3), breached,
    excursions: excursions.map((x) => ({ type: x.type, event: x.event, signer: x.signer, reading: readingJson(x.worst), bound: x.bound,
      limit: x.limit, start: iso(x.start), end: iso(x.end), minutesOutside: round((x.end - x.start) / 60000, 3), readings: x.count })) };
}

/** ledger/trade/conditions.py `parse_conditions`: the ranges, or a ShapeError. */
export function parseConditions(text) {
  let raw;
  try { raw = JSON.parse(text); } catch { throw new ShapeError('the conditions text is not JSON'); }
  if (!isObj(raw) || raw.type !== 'ProductConditions') throw new ShapeError('not a ProductConditions text');
  if (Object.keys(raw).some((k) => !['type', 'gtin', 'version', 'ranges'].includes(k))) throw new ShapeError('unknown fields in the conditions');
  if (typeof raw.gtin !== 'string' || !/^\d{14}$/.test(raw.gtin)) throw new ShapeError('gtin must be a GTIN-14');
  if (!Number.isSafeInteger(raw.version) || raw.version < 1 || raw.version >= 2 ** 32) throw new ShapeError('version must be an integer from 1');
  if (!Array.isArray(raw.ranges) || raw.ranges.length < 1 || raw.ranges.length > 8) throw new ShapeError('ranges must be a list of 1-8');
  const num = (v) => (v === null || v === undefined ? null : (typeof v === 'number' && Number.isFinite(v) ? v : (() => { throw new ShapeError('a bound must be a number'); })()));
  const ranges = raw.ranges.map((r) => {
    if (!isObj(r) || !Object.prototype.hasOwnProperty.call(MEASUREMENTS, r.type) || convert(r.type, 0, r.uom) === null) throw new ShapeError('a range names an unknown type or unit');
    const min = num(r.min);
    const max = num(r.max);
    const allowed = r.allowedMinutesOutside ?? 0;
    if ((min === null && max === null) || (min !== null && max !== null && min > max) || !Number.isSafeInteger(allowed) || allowed < 0) throw new ShapeError('a range is malformed');
    return { type: r.type, uom: r.uom, min, max, allowed };
  });
  if (new Set(ranges.map((r) => r.type)).size !== ranges.length) throw new ShapeError('one range per measurement type');
  return { gtin: raw.gtin, version: raw.version, ranges };
}

function named(event, path) {
  if (typeof event.parentID === 'string' && path.has(canonicalEpc(event.parentID))) return true;
  return ['epcList', 'childEPCs', 'inputEPCList', 'outputEPCList'].some((f) => Array.isArray(event[f])
    && event[f].some((v) => typeof v === 'string' && path.has(canonicalEpc(v.trim()))));
}

/** ledger/trade/conditions.py `in_force`: the registered version governing readings up to `atMs`. */
export function inForce(registered, atMs) {
  if (!registered.length) return null;
  if (atMs === null) return registered[registered.length - 1];
  const before = registered.filter((r) => r.registeredAt * 1000 <= atMs);
  return before.length ? before[before.length - 1] : registered[0];
}

async function registeredVersions(reader, gtin14) {
  const key = keccak(utf8(gtin14));
  const [count] = await reader.read('conditionsCount', [key]);
  const out = [];
  for (let i = 0; i < count; i += 1) {
    const [hash, org, version, registeredAt] = await reader.read('conditionsAt', [key, i]);
    out.push({ hash, org, version, registeredAt });
  }
  return out;
}

/**
 * The section, or null when the brand registered no conditions and the proof carries none.
 * conditions, earlier: the signed versions the proof carries; verified: [{event, ref, org}];
 * reader: the pinned ChainReader; separator: the EIP-712 domain separator; ownerOf(gtin14).
 */
export async function coldChainSection({ gtin14, epc, conditions, earlier = [], verified, reader, separator, ownerOf }) {
  // Read like every other chain fact: a failed or unproven read fails the verification.
  const registered = await registeredVersions(reader, gtin14);
  if (!registered.length) {
    if (conditions == null) return null;
    return { status: 'unverified', reason: `the brand registered no conditions for GTIN ${gtin14} on chain` };
  }
  const ends = verified.flatMap((v) => readings(v.event)[0].map((r) => r.end));
  const record = inForce(registered, ends.length ? Math.max(...ends) : null);
  const wanted = toHex(record.hash);
  const served = [conditions, ...(Array.isArray(earlier) ? earlier : [])].filter((c) => isObj(c) && typeof c.text === 'string');
  const found = served.find((c) => equal(keccak(utf8(c.text)), record.hash));
  if (!found) {
    const offered = [...new Set(served.map((c) => `${toHex(keccak(utf8(c.text))).slice(0, 14)}…`))].sort().join(', ');
    return { status: 'unverified', registeredVersion: record.version, registeredHash: wanted,
      reason: `the evidence does not carry version ${record.version} of the brand's conditions, the one registered on chain for these readings (hash ${wanted.slice(0, 14)}…); it carries ${offered || 'none'}` };
  }
  conditions = found;
  let parsed;
  let signer;
  let org;
  try {
    parsed = parseConditions(conditions.text);
    if (parsed.gtin !== gtin14) throw new ShapeError(`the conditions are for GTIN ${parsed.gtin}, not ${gtin14}`);
    org = fromHex(conditions.org, 32, 'conditions.org');
    const signedAt = conditions.signedAt;
    if (!Number.isSafeInteger(signedAt) || signedAt < 0) throw new ShapeError('signedAt must be unix seconds');
    const struct = keccak(concat(TYPEHASH, keccak(utf8(conditions.text)), org, uint256(signedAt)));
    signer = recoverSigner(keccak(concat(new Uint8Array([0x19, 0x01]), separator, struct)), fromHex(conditions.signature, 65, 'conditions.signature'));
    const [kOrg, addedAt, , revokedAt] = await reader.read('keyInfo', [signer]);
    if (!equal(kOrg, org) || isZero(org) || signedAt < addedAt || (revokedAt && signedAt >= revokedAt)) {
      throw new ShapeError(`the signature recovers ${signer}, which was not a signing key of organisation ${toHex(org)} at ${signedAt}`);
    }
    if (ownerOf(parsed.gtin) !== toHex(org)) throw new ShapeError(`organisation ${toHex(org)} does not own the company prefix of GTIN ${parsed.gtin}`);
    if (parsed.version !== record.version || !equal(org, record.org)) {
      throw new ShapeError(`the conditions text says version ${parsed.version} of ${toHex(org)}, the chain registered its hash as version ${record.version} of ${toHex(record.org)}`);
    }
  } catch (exc) {
    if (!(exc instanceof ShapeError) && !(exc instanceof SignatureError) && !(exc instanceof TypeError)) throw exc;
    return { status: 'unverified', reason: exc.message };
  }
  const own = new Set([epc]);
  const seen = verified.filter((v) => named(v.event, own)).map((v) => when(v.event.eventTime)).filter((t) => t !== null);
  const since = seen.length ? Math.min(...seen) : null;
  const perEvent = verified.map((v) => {
    let [found, u] = readings(v.event);
    if (since !== null) found = found.filter((r) => r.end >= since);
    return [{ ref: v.ref, signer: v.org }, found, u];
  });
  const ranges = parsed.ranges.map((r) => judge(r, perEvent));
  const breaches = ranges.filter((r) => r.breached).flatMap((r) => r.excursions);
  return { gtin: parsed.gtin, conditionsVersion: parsed.version,
    status: breaches.length ? 'breach' : (ranges.some((r) => r.readings) ? 'kept' : 'no-readings'),
    ranges, breaches, conditions: { signer, org: toHex(org), signedAt: conditions.signedAt,
      conditionsHash: wanted, registeredAt: record.registeredAt, registeredVersions: registered.length } };
}

// --- how the page says it (verifier/coldchain.py `describe`) ---------------------------------

const TEXT = {
  en: {
    title: 'Cold chain',
    kept: 'Kept between {lo} and {hi} {unit} for {days} days ({readings} readings from {events} signed events; lowest {low} {unit}, highest {high} {unit}).',
    'kept.upper': 'Kept at or below {hi} {unit} for {days} days ({readings} readings from {events} signed events; highest {high} {unit}).',
    breach: 'Breach: outside {lo}–{hi} {unit} for {minutes} minutes (allowed {allowed}). {value} {unit} at {time}, signed by {signer}.',
    none: "No sensor readings on this item's path were disclosed.",
    unverified: "The brand's storage conditions could not be verified: {reason}",
    conditions: "Brand's conditions, version {version}",
  },
  'zh-Hans': {
    title: '冷链',
    kept: '在 {lo} 至 {hi} {unit} 之间保存 {days} 天（{events} 个已签名事件的 {readings} 次读数；最低 {low} {unit}，最高 {high} {unit}）。',
    'kept.upper': '在 {hi} {unit} 以下保存 {days} 天（{events} 个已签名事件的 {readings} 次读数；最高 {high} {unit}）。',
    breach: '超标：超出 {lo}–{hi} {unit} 共 {minutes} 分钟（允许 {allowed} 分钟）。{time} 读数 {value} {unit}，签名方 {signer}。',
    none: '该商品路径上没有公开的传感器读数。',
    unverified: '品牌的储存条件未能验证：{reason}',
    conditions: '品牌储存条件，第 {version} 版',
  },
  'zh-Hant': {
    title: '冷鏈',
    kept: '在 {lo} 至 {hi} {unit} 之間保存 {days} 天（{events} 個已簽署事件的 {readings} 次讀數；最低 {low} {unit}，最高 {high} {unit}）。',
    'kept.upper': '在 {hi} {unit} 以下保存 {days} 天（{events} 個已簽署事件的 {readings} 次讀數；最高 {high} {unit}）。',
    breach: '超標：超出 {lo}–{hi} {unit} 共 {minutes} 分鐘（允許 {allowed} 分鐘）。{time} 讀數 {value} {unit}，簽署方 {signer}。',
    none: '該商品路徑上沒有公開的感測器讀數。',
    unverified: '品牌的儲存條件未能驗證：{reason}',
    conditions: '品牌儲存條件，第 {version} 版',
  },
};

const fill = (s, vars) => s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
function num(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const t = v.toFixed(1);
  return t.endsWith('.0') ? t.slice(0, -2) : t;
}
function who(org) {
  if (!org) return '?';
  const raw = fromHex(org, 32, 'org');
  if (raw.subarray(13).every((b) => b === 0)) {
    const text = String.fromCharCode(...raw.subarray(0, 13));
    if (/^\d{13}$/.test(text)) return `GLN ${text}`;
  }
  return `${org.slice(0, 14)}…`;
}

export const coldChainTitle = (lang) => (TEXT[lang] || TEXT.en).title;

/** The section as lines of text in `lang`. */
export function describeColdChain(section, lang) {
  if (!section) return [];
  const t = TEXT[lang] || TEXT.en;
  if (section.status === 'unverified') return [fill(t.unverified, { reason: section.reason })];
  const lines = [];
  for (const r of section.ranges || []) {
    const unit = UNIT[r.canonicalUom] || r.canonicalUom;
    const [lo, hi] = r.bounds;
    if (r.breached) {
      for (const x of r.excursions.slice(0, 3)) {
        lines.push(fill(t.breach, { lo: num(lo), hi: num(hi), unit, minutes: num(r.minutesOutside), allowed: r.range.allowedMinutesOutside,
          value: num(x.reading.value), time: `${x.start.slice(0, 16).replace('T', ' ')} UTC`, signer: who(x.signer) }));
      }
    } else if (r.readings) {
      lines.push(fill(t[lo !== null ? 'kept' : 'kept.upper'], { lo: num(lo), hi: num(hi), unit, days: num(r.days), readings: r.readings,
        events: r.events, low: num(r.lowest), high: num(r.highest) }));
    }
  }
  if (!lines.length) lines.push(t.none);
  lines.push(fill(t.conditions, { version: section.conditionsVersion }));
  return lines;
}
