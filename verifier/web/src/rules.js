// Pure rules ported from the Python verifier: roles (ledger/chain/roles.py), entitlement
// (ledger/epcis/entitlement.py), journey (verifier/journey.py), scan history (verifier/clone.py)
// and the verdict (verifier/verdict.py).
import { eventEpcs, gs1KeyUri } from './gs1.js';
import { isObject } from './disclosure.js';
import { toHex, utf8, concat } from './bytes.js';

// --- roles ----------------------------------------------------------------------------------
const BIZSTEP_ROLES = {
  inspecting: 'CUSTOMS',
  'urn:zhenzhi:bizstep:customs_holding': 'CUSTOMS',
  'urn:zhenzhi:bizstep:customs_releasing': 'CUSTOMS',
  'urn:zhenzhi:bizstep:regulatory_sampling': 'REGULATOR',
};
const PREFIXES = ['urn:epcglobal:cbv:bizstep:', 'https://ref.gs1.org/cbv/BizStep-', 'http://ref.gs1.org/cbv/BizStep-',
  'https://gs1.org/voc/BizStep-', 'gs1:BizStep-', 'cbv:BizStep-'];

export function bizstepName(value) {
  if (typeof value !== 'string' || !value) return null;
  for (const p of PREFIXES) if (value.startsWith(p)) return value.slice(p.length);
  return value;
}

export function requiredRole(event) {
  const step = bizstepName(event.bizStep);
  return step === null ? 'ENTERPRISE' : (BIZSTEP_ROLES[step] || 'ENTERPRISE');
}

// --- entitlement ----------------------------------------------------------------------------
export const AUTHORITY_ROLES = new Set(['CUSTOMS', 'REGULATOR']);
export const MAX_CONTAINER_DEPTH = 8;
const KEY = /^https:\/\/id\.gs1\.org\/(01|00|414|417)\/([0-9]{13,18})(?:\/|$)/;

export function ownerKey(identifier) {
  const m = KEY.exec(identifier);
  if (!m) return null;
  const [, ai, digits] = m;
  if (ai === '01' && digits.length === 14) return digits;
  if (ai === '00' && digits.length === 18) return digits.slice(0, 14);
  if ((ai === '414' || ai === '417') && digits.length === 13) return '0' + digits;
  return null;
}

export function subjects(event) {
  const named = eventEpcs(event);
  const out = [];
  for (const role of ['epc', 'parent', 'child', 'input', 'output', 'class']) out.push(...named[role]);
  return Array.from(new Set(out));
}

function destinationGlns(event) {
  const out = [];
  for (const entry of Array.isArray(event.destinationList) ? event.destinationList : []) {
    if (!isObject(entry) || typeof entry.destination !== 'string') continue;
    const m = KEY.exec(gs1KeyUri(entry.destination.trim()) || '');
    if (m && (m[1] === '414' || m[1] === '417') && m[2].length === 13) out.push([m[1], m[2]]);
  }
  return out;
}

export const receiverKeys = (event) => destinationGlns(event).map(([, gln]) => '0' + gln);

/** Organisation ids (0x-hex) the event names as destinations; ownerOf(key14) → 0x-hex | null. */
export function receivers(event, ownerOf) {
  const out = new Set();
  for (const [ai, gln] of destinationGlns(event)) {
    if (ai === '417') out.add(toHex(concat(utf8(gln), new Uint8Array(19))));
    const owner = ownerOf('0' + gln);
    if (owner !== null) out.add(owner);
  }
  return out;
}

export function containersOf(event, identifier) {
  if (event.type !== 'AggregationEvent' || event.action !== 'ADD') return [];
  const named = eventEpcs(event);
  return named.child.includes(identifier) && named.parent.length ? [...named.parent] : [];
}

export function notEntitled(event, org, role, ownerOf, custody) {
  if (AUTHORITY_ROLES.has(role)) return [];
  const out = [];
  for (const identifier of subjects(event)) {
    const key = ownerKey(identifier);
    if (key === null) continue;
    const owner = ownerOf(key);
    if (owner === null || owner === org) continue;
    if (custody(identifier).has(org)) continue;
    out.push(identifier);
  }
  return out;
}

function custodyIn(naming, ownerOf) {
  return (identifier) => {
    const found = new Set();
    const seen = new Set([identifier]);
    let frontier = [identifier];
    for (let d = 0; d < MAX_CONTAINER_DEPTH; d++) {
      const deeper = [];
      for (const x of frontier) {
        for (const event of naming.get(x) || []) {
          for (const r of receivers(event, ownerOf)) found.add(r);
          for (const parent of containersOf(event, x)) {
            if (!seen.has(parent)) { seen.add(parent); deeper.push(parent); }
          }
        }
      }
      frontier = deeper;
    }
    return found;
  };
}

/** Indices of the events whose signers may speak about what they name (a fixed point grown
 * from the owners' own events; verifier/verify.py `_entitled`). */
export function entitledEvents(facts, orgs, ownerOf) {
  const candidates = [];
  facts.forEach((f, i) => { if (f && f.inCapture && f.actual) candidates.push(i); });
  const entitled = new Set();
  for (;;) {
    const naming = new Map();
    for (const i of entitled) {
      if (AUTHORITY_ROLES.has(facts[i].role)) continue;
      for (const x of subjects(facts[i].event)) {
        if (!naming.has(x)) naming.set(x, []);
        naming.get(x).push(facts[i].event);
      }
    }
    const custody = custodyIn(naming, ownerOf);
    const grown = candidates.filter((i) => !entitled.has(i)
      && notEntitled(facts[i].event, orgs[i], facts[i].role, ownerOf, custody).length === 0);
    if (!grown.length) return entitled;
    grown.forEach((i) => entitled.add(i));
  }
}

// --- journey --------------------------------------------------------------------------------
const ORIGIN = new Set(['commissioning', 'encoding', 'creating_class_instance', 'assembling', 'packing', 'labelling']);
const SHIPPING = new Set(['departing', 'loading', 'transporting', 'staging_outbound']);
const ARRIVAL = new Set(['arriving', 'unloading']);
const CUSTOMS = new Set(['inspecting', 'holding', 'urn:zhenzhi:bizstep:customs_declaring',
  'urn:zhenzhi:bizstep:customs_holding', 'urn:zhenzhi:bizstep:customs_releasing']);
const PLATFORM = new Set(['urn:zhenzhi:bizstep:platform_listing']);
const WAREHOUSE = new Set(['receiving', 'accepting', 'storing', 'stocking', 'picking', 'unpacking', 'repackaging']);
const SALE = new Set(['retail_selling', 'dispensing']);
const NOT_WHERE_GOODS_ARE = new Set(['customs', 'sale', 'platform']);

export function eventTime(event) {
  const text = String(event.eventTime || '');
  if (!/^\d{4}-\d\d-\d\d[T ]\d\d:\d\d/.test(text)) return 0;
  const ms = Date.parse(text.replace(' ', 'T'));
  return Number.isFinite(ms) ? Math.trunc(ms / 1000) : 0;
}

function location(event) {
  let loc = event.bizLocation;
  if (isObject(loc)) loc = loc.id;
  return typeof loc === 'string' && loc ? loc : null;
}

function destinations(event) {
  const out = new Set();
  for (const d of Array.isArray(event.destinationList) ? event.destinationList : []) {
    if (isObject(d) && d.destination) {
      if (String(d.type ?? '').endsWith('location')) out.add(String(d.destination));
    }
  }
  return out;
}

/** Events ({id, event, org}) as timeline steps in time order; the first shipping is the export. */
export function steps(verified) {
  const ordered = verified.map((v) => [eventTime(v.event), v]).sort((a, b) => a[0] - b[0]).map((p) => p[1]);
  let shipped = false;
  return ordered.map((v) => {
    const ev = v.event;
    const step = typeof ev.bizStep === 'string' ? bizstepName(ev.bizStep) : null;
    let stage;
    if (ORIGIN.has(step)) stage = 'origin';
    else if (step === 'shipping') { stage = shipped ? 'shipping' : 'export'; shipped = true; }
    else if (SHIPPING.has(step)) stage = 'shipping';
    else if (ARRIVAL.has(step)) stage = 'port_of_entry';
    else if (CUSTOMS.has(step)) stage = 'customs';
    else if (WAREHOUSE.has(step)) stage = 'warehouse';
    else if (PLATFORM.has(step)) stage = 'platform';
    else if (SALE.has(step)) stage = 'sale';
    else stage = 'other';
    return { stage, bizstep: step, time: eventTime(ev), timeText: String(ev.eventTime || ''),
      location: location(ev), eventId: v.id, event: ev, org: v.org };
  });
}

export function continuityGap(journey) {
  if (!journey.length) return 'the gateway sent no events for this item';
  if (journey[0].bizstep !== 'commissioning') {
    return `the journey does not start with commissioning (first step: ${journey[0].bizstep || 'none'}): earlier events are missing`;
  }
  let here = null;
  let boundFor = new Set();
  for (const step of journey) {
    if (NOT_WHERE_GOODS_ARE.has(step.stage)) continue;
    const loc = step.location;
    if (loc !== null) {
      if (boundFor.size && !boundFor.has(loc)) {
        return `goods shipped to ${[...boundFor].sort().join(', ')} next appear at ${loc}: events in between are missing`;
      }
      if (!boundFor.size && here !== null && loc !== here) {
        return `goods at ${here} next appear at ${loc} with no shipping event between`;
      }
      here = loc;
      boundFor = new Set();
    }
    const dest = destinations(step.event);
    if (dest.size) boundFor = dest;
  }
  return null;
}

export function saleTime(journey) {
  const s = journey.find((step) => step.stage === 'sale');
  return s ? s.time : null;
}

function country(journey) {
  for (const step of journey) {
    if (step.bizstep === 'commissioning' && isObject(step.event.ilmd)) {
      for (const [key, value] of Object.entries(step.event.ilmd)) {
        if (key.split(':').pop() === 'countryOfOrigin' && typeof value === 'string') return value;
      }
    }
  }
  return null;
}

export function importedOrigin(journey, market) {
  if (journey.some((s) => s.stage === 'customs')) return country(journey) || '?';
  const c = country(journey);
  return c && c.toUpperCase() !== market.toUpperCase() ? c.toUpperCase() : null;
}

// --- scan history ---------------------------------------------------------------------------
export const CLONE_POLICY = { maxRegions: 3, windowS: 30 * 86400, maxClients: 50 };
const NO_PLACE = new Set(['', 'unknown']);

export function checkScans(scans, soldAt, policy, now) {
  let judged = scans.filter((s) => soldAt === null || s.at >= soldAt).sort((a, b) => a.at - b.at);
  if (now != null) judged = judged.filter((s) => s.at <= now);
  const clients = new Set(judged.map((s, i) => (s.client != null ? s.client : `#${i}`)));
  const when = soldAt !== null ? 'since its sale' : 'although it was never sold';
  const details = { scans: judged.length, clients: clients.size, sold: soldAt !== null };
  if (soldAt !== null) Object.assign(details, { scansAfterSale: judged.length, soldAt });
  const mk = (outcome, reason, extra = {}) => ({ name: 'scan.history', outcome, reason, failsAs: 'SUSPECTED_CLONE', details: { ...details, ...extra } });
  if (clients.size > policy.maxClients) {
    return mk('FAIL', `scanned by ${clients.size} different clients ${when} (more than ${policy.maxClients})`);
  }
  let worst = new Set();
  let start = 0;
  for (let end = 0; end < judged.length; end++) {
    while (judged[end].at - judged[start].at > policy.windowS) start += 1;
    const regions = new Set(judged.slice(start, end + 1).map((s) => s.region).filter((r) => !NO_PLACE.has(r)));
    if (regions.size > worst.size) worst = regions;
  }
  details.maxRegionsInWindow = worst.size;
  if (worst.size > policy.maxRegions) {
    const days = Math.floor(policy.windowS / 86400);
    const sorted = [...worst].sort();
    return mk('FAIL', `scanned in ${worst.size} places within ${days} days ${when} (${sorted.join(', ')})`, { regions: sorted });
  }
  return mk('PASS', `${judged.length} scans by ${clients.size} client(s) ${when}, in at most ${worst.size} place(s) at a time`);
}

// --- the verdict ----------------------------------------------------------------------------
export const SEVERITY = ['COUNTERFEIT', 'RECALLED', 'SUSPECTED_CLONE', 'UNVERIFIED'];

export function meaning(check) {
  if (check.outcome === 'PASS' || check.outcome === 'SKIPPED') return null;
  if (check.outcome === 'MISSING') return 'UNVERIFIED';
  return check.failsAs || 'COUNTERFEIT';
}

export function decide(checks) {
  let best = null;
  let bestRank = SEVERITY.length;
  for (const c of checks) {
    const m = meaning(c);
    if (m === null) continue;
    const rank = SEVERITY.indexOf(m);
    if (rank < bestRank) { best = c; bestRank = rank; if (rank === 0) break; }
  }
  if (best === null) {
    const passed = checks.filter((c) => c.outcome === 'PASS').length;
    if (passed === 0) return { verdict: 'UNVERIFIED', reason: 'nothing could be checked', deciding: null };
    return { verdict: 'GENUINE', reason: `all ${passed} checks passed against the chain`, deciding: null };
  }
  return { verdict: meaning(best), reason: best.reason, deciding: best };
}
