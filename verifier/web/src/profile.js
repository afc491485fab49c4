// The consumer profile (ledger/trade/profile.py `consumer_profile`, the same rules): the fields
// the import platforms publish, each {value, by, ...} read from an event that passed every
// check (by = its signer's organisation id) or from the chain (by = the contract), places and
// parties by the master data their signers signed into the events (zhenzhi:masterData).
import { bizstepName } from './rules.js';
import { isObject } from './disclosure.js';

export const MASTER_DATA = 'zhenzhi:masterData';
export const SELLER = 'zhenzhi:seller';
export const FIELDS = [
  'productName', 'brand', 'gtin', 'serial', 'lot', 'productionDate', 'expiryDate',
  'originCountry', 'manufacturer', 'productRecordNumber', 'exporter', 'carrier', 'logistics',
  'portOfEntry', 'declaringEnterprise', 'declarationTime', 'inspectionTime',
  'customsDecision', 'releaseTime', 'warehouse', 'platform', 'seller', 'saleTime', 'lotStatus',
];

const ORIGIN = new Set(['commissioning', 'encoding', 'creating_class_instance', 'assembling', 'packing', 'labelling']);
const CARRIER = new Set(['departing', 'loading', 'transporting', 'staging_outbound', 'arriving', 'unloading']);
const ARRIVAL = new Set(['arriving', 'unloading']);
const DECLARING = 'urn:zhenzhi:bizstep:customs_declaring';
const RELEASING = 'urn:zhenzhi:bizstep:customs_releasing';
const BORDER = new Set(['arriving', 'unloading', 'inspecting', 'holding', DECLARING,
  'urn:zhenzhi:bizstep:customs_holding', RELEASING]);
const WAREHOUSE = new Set(['receiving', 'accepting', 'storing', 'stocking', 'picking', 'unpacking', 'repackaging']);
const PLATFORM = new Set(['urn:zhenzhi:bizstep:platform_listing']);
const SALE = new Set(['retail_selling', 'dispensing']);
const NAME_KEYS = ['productName', 'tradeItemDescription', 'descriptionShort', 'regulatedProductName'];
const PRODUCTION_KEYS = ['productionDate', 'manufacturingDate'];
const EXPIRY_KEYS = ['itemExpirationDate', 'bestBeforeDate', 'sellByDate'];
const GLN_ORG = /^0x((?:3[0-9]){13})(?:00){19}$/;

/** A string, or a language map of strings ({en: …, 'zh-Hans': …}). */
export function isText(v) {
  return typeof v === 'string' || (isObject(v) && Object.keys(v).length > 0
    && Object.values(v).every((x) => typeof x === 'string'));
}

function unixMs(event) {
  const ms = Date.parse(String(event.eventTime ?? ''));
  return Number.isFinite(ms) ? ms : 0;
}

function ilmd(event, ...names) {
  const m = event.ilmd;
  if (!isObject(m)) return null;
  for (const name of names) {
    for (const [key, value] of Object.entries(m)) {
      if (String(key).split(/[:/#]/).pop() === name && isText(value)) return value;
    }
  }
  return null;
}

export function placeId(event) {
  for (const key of ['bizLocation', 'readPoint']) {
    let loc = event[key];
    if (isObject(loc)) loc = loc.id;
    if (typeof loc === 'string' && loc) return loc;
  }
  return null;
}

/** https://id.gs1.org/417/<GLN> of an organisation id that is a GLN, or null. */
export function partyUri(org) {
  const m = GLN_ORG.exec(org || '');
  if (!m) return null;
  let gln = '';
  for (let i = 0; i < 26; i += 2) gln += String.fromCharCode(parseInt(m[1].slice(i, i + 2), 16));
  return `https://id.gs1.org/417/${gln}`;
}

function elements(event) {
  const out = new Map();
  const items = event[MASTER_DATA];
  for (const el of Array.isArray(items) ? items : []) {
    if (isObject(el) && typeof el.id === 'string' && !out.has(el.id)) out.set(el.id, el);
  }
  return out;
}

function described(el) {
  const out = {};
  if (!el) return out;
  if (isText(el.name)) out.value = el.name;
  if (typeof el.countryCode === 'string') out.country = el.countryCode;
  return out;
}

/** The signed name and country of where an event happened, from its own master data. */
export function placeOf(event) {
  return described(elements(event).get(placeId(event)));
}

// JSON with sorted keys: equality of parsed values whatever their key order.
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/**
 * verified: [{event, org}] (any order); facts: {lot, registrant, lotStatus, customsDecision,
 * customsInspection}. Returns the profile as ledger/trade/profile.py `to_json` does.
 */
export function consumerProfile(gtin, serial, verified, facts = {}) {
  const ordered = verified.map((v, i) => [unixMs(v.event), i, v]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((p) => p[2]);
  const own = ordered.map((v) => elements(v.event));
  const steps = ordered.map((v) => bizstepName(v.event.bizStep));
  const fields = {};
  const describe = (id, index) => {
    if (!id) return {};
    let el = own[index].get(id);
    if (!el) { const m = own.find((x) => x.has(id)); el = m ? m.get(id) : null; }
    return described(el);
  };
  const firstIndex = (match) => ordered.findIndex((v, i) => match(steps[i], v));
  const said = (name, value, index, extra = {}) => {
    if (value === null || value === undefined) return;
    fields[name] = { value, by: index >= 0 ? ordered[index].org : null, ...extra };
  };
  const party = (name, index) => {
    if (index < 0) return;
    fields[name] = { value: null, ...describe(partyUri(ordered[index].org), index), by: ordered[index].org };
  };
  const place = (name, index) => {
    if (index < 0) return;
    const d = describe(placeId(ordered[index].event), index);
    if ('value' in d) fields[name] = { ...d, by: ordered[index].org };
  };
  const time = (name, index) => {
    if (index < 0 || typeof ordered[index].event.eventTime !== 'string') return;
    const ev = ordered[index].event;
    fields[name] = { value: ev.eventTime, by: ordered[index].org, ...(typeof ev.eventTimeZoneOffset === 'string' ? { offset: ev.eventTimeZoneOffset } : {}) };
  };

  const origin = firstIndex((s, v) => ORIGIN.has(s) && isObject(v.event.ilmd));
  const label = origin >= 0 ? ordered[origin].event : {};
  said('productName', ilmd(label, ...NAME_KEYS), origin);
  said('brand', ilmd(label, 'brandName'), origin);
  said('gtin', gtin, -1, { by: facts.registrant ?? null });
  said('serial', serial, -1, { by: facts.registrant ?? null });
  if (ilmd(label, 'lotNumber') !== null) said('lot', ilmd(label, 'lotNumber'), origin);
  else said('lot', facts.lot ?? null, -1, { by: facts.lot ? 'CodeRegistry' : null });
  if (ilmd(label, ...PRODUCTION_KEYS) !== null) said('productionDate', ilmd(label, ...PRODUCTION_KEYS), origin);
  else time('productionDate', origin);
  said('expiryDate', ilmd(label, ...EXPIRY_KEYS), origin);
  const originCountry = ilmd(label, 'countryOfOrigin');
  said('originCountry', originCountry, origin, { country: originCountry });
  party('manufacturer', origin);
  said('productRecordNumber', ilmd(label, 'productRecordNumber'), origin);

  let border = steps.findIndex((s) => BORDER.has(s));
  if (border < 0) border = steps.length;
  let exporter = -1;
  for (let i = 0; i < border; i++) if (steps[i] === 'shipping') exporter = i;
  party('exporter', exporter);

  const carried = [];
  steps.forEach((s, i) => { if (CARRIER.has(s)) carried.push(i); });
  party('carrier', carried.length ? carried[0] : -1);
  const route = [];
  for (const i of carried) {
    const name = describe(placeId(ordered[i].event), i).value;
    if (name && (!route.length || canonical(route[route.length - 1]) !== canonical(name))) route.push(name);
  }
  if (route.length && carried.length) fields.logistics = { value: route, by: ordered[carried[0]].org };
  place('portOfEntry', firstIndex((s) => ARRIVAL.has(s)));

  const declaring = firstIndex((s) => s === DECLARING);
  party('declaringEnterprise', declaring);
  time('declarationTime', declaring);
  // An inspection, not a decision recorded without one: an outcome (disposition) says so.
  time('inspectionTime', firstIndex((s, v) => s === 'inspecting' && Boolean(v.event.disposition)));
  if (facts.customsDecision != null) {
    fields.customsDecision = { value: facts.customsDecision, by: 'CustomsRelease',
      ...(facts.customsInspection ? { inspection: facts.customsInspection } : {}) };
  }
  time('releaseTime', firstIndex((s) => s === RELEASING));
  // The bonded warehouse: the first storage after the border (the exporter's own warehouse
  // before it is not one); the first storage at all for goods that crossed none.
  let warehouse = steps.findIndex((s, i) => i >= border && WAREHOUSE.has(s));
  if (warehouse < 0 && border >= steps.length) warehouse = firstIndex((s) => WAREHOUSE.has(s));
  party('warehouse', warehouse);
  if (warehouse >= 0) {
    const at = describe(placeId(ordered[warehouse].event), warehouse).value;
    if (at) fields.warehouse.place = at;
  }

  const sale = firstIndex((s) => SALE.has(s));
  party('platform', sale >= 0 ? sale : firstIndex((s) => PLATFORM.has(s)));
  if (sale >= 0) {
    const seller = ordered[sale].event[SELLER];
    const d = describe(typeof seller === 'string' ? seller : null, sale);
    if ('value' in d) fields.seller = { ...d, by: ordered[sale].org };
  }
  time('saleTime', sale);
  if (facts.lotStatus != null) fields.lotStatus = { value: facts.lotStatus, by: 'CodeRegistry' };

  const out = {};
  for (const k of FIELDS) if (k in fields) out[k] = fields[k];
  const last = ordered.length - 1;
  const lastSeen = last >= 0 ? describe(placeId(ordered[last].event), last).value : null;
  out.lastSeenAt = lastSeen || (last >= 0 ? placeId(ordered[last].event) : null);
  out.eventCount = ordered.length;
  return out;
}

/** The profile's chain facts from the verifier's checks (verifier/verify.py `_profile`). */
export function checkFacts(checks) {
  const facts = {};
  for (const c of checks) {
    const d = c.details || {};
    if (c.name === 'code.registered' && c.outcome === 'PASS') { facts.lot = d.lot ?? null; facts.registrant = d.owner ?? null; }
    else if (c.name === 'lot.status') facts.lotStatus = c.outcome === 'PASS' ? 'active' : (d.status ?? null);
    else if (c.name === 'customs.decision' && d.decision) {
      facts.customsDecision = String(d.decision);
      facts.customsInspection = d.inspection ? String(d.inspection) : null;
    }
  }
  return facts;
}
