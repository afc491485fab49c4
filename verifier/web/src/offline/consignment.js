// A consignment's evidence checked in the browser: verifier/consignment.py
// `verify_consignment`, over a ChainReader whose node is the proven state of a sealed bundle
// (./proven.js). The checks, their order, outcomes and reasons are the Python verifier's, so
// the page's report can be compared with `zhenzhi verify-evidence` check by check:
//
// - bundle.chain, consignment.id (the CustomsRelease key is the reference's);
// - per event (verify.js `publicFacts`): its fields against its signed commitment, its path
//   into the capture's eventsRoot; per capture: signer recovered, key valid when it signed,
//   anchored on TraceAnchor; signer.role (wasValidSigner at the signing time);
//   signer.entitled (rules.js `entitledEvents`); events about other goods are left out
//   (event.about, SKIPPED);
// - customs.cover, customs.record, customs.decision (the whole history, oldest first);
// - code.registered, code.prefix_owner, lot.status for each lot the goods were commissioned
//   in (members' view only: a bank's view discloses no lot).
import { fromHex, toHex, equal, processProof, isZero, keccak, utf8 } from '../bytes.js';
import { domainSeparator, captureDigest, recoverSigner, eventLeaf, SignatureError } from '../capture.js';
import { parseLink, lotKey, canonicalEpc } from '../gs1.js';
import { ChainReader } from '../rpc.js';
import { subjects, ownerKey, receiverKeys, entitledEvents, decide } from '../rules.js';
import { parseProof, publicFacts, capture as captureChecked, check, DECISIONS, INSPECTIONS, LOT_STATUSES } from '../verify.js';
import { UnprovenReadError } from './proven.js';

// ledger/proofs/consignment_key.py
export const NAMESPACE = 'https://ns.zhenzhi.example/epcis/';
const REF = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/;
const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const EPC_FIELDS = ['epcList', 'childEPCs', 'inputEPCList', 'outputEPCList'];

const hex = toHex;
const iso = (ts) => new Date(ts * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The CustomsRelease key of a customs reference, or null where no key can be. */
export function consignmentKey(ref) {
  let key;
  if (HEX32.test(ref)) key = fromHex(ref.toLowerCase(), 32, 'consignment');
  else if (REF.test(ref)) key = keccak(utf8('zhenzhi:consignment:' + ref));
  else return null;
  return isZero(key) ? null : key;
}

/** Customs' decision extension fields of an event, by local name (ledger/evidence/consignment.py). */
export function decisionFields(event) {
  const out = {};
  for (const [k, v] of Object.entries(event)) {
    for (const p of ['zhenzhi:', NAMESPACE]) if (k.startsWith(p)) out[k.slice(p.length)] = v;
  }
  return out;
}

function isDecision(event, keyHex) {
  const found = decisionFields(event).consignmentKey;
  return event.bizStep === 'inspecting' && typeof found === 'string' && found.toLowerCase() === keyHex;
}

const canon = (v) => (typeof v === 'string' ? canonicalEpc(v.trim()) || null : null);
const items = (v) => (Array.isArray(v) ? v : []);

export function namedEpcs(event) {
  const out = new Set();
  for (const f of EPC_FIELDS) for (const v of items(event[f])) { const c = canon(v); if (c) out.add(c); }
  const p = canon(event.parentID);
  if (p !== null) out.add(p);
  return out;
}

function consignmentEpcs(events, keyHex) {
  const out = new Set();
  for (const ev of events) {
    if (!isDecision(ev, keyHex)) continue;
    for (const v of items(ev.epcList)) { const c = canon(v); if (c) out.add(c); }
  }
  return out;
}

function goodsClosure(epcs, events) {
  let found = new Set(epcs);
  for (;;) {
    const grown = new Set(found);
    for (const ev of events) {
      if (ev.type === 'AggregationEvent' && ev.action === 'ADD' && found.has(canon(ev.parentID))) {
        for (const v of items(ev.childEPCs)) { const c = canon(v); if (c) grown.add(c); }
      }
    }
    if (grown.size === found.size) return found;
    found = grown;
  }
}

/** Python's Check.to_json. */
function checkJson(c) {
  const out = { name: c.name, outcome: c.outcome, reason: c.reason };
  if (c.outcome !== 'PASS' && c.outcome !== 'SKIPPED') out.meaning = c.outcome === 'MISSING' ? 'UNVERIFIED' : (c.failsAs || 'COUNTERFEIT');
  if (c.subject != null) out.subject = c.subject;
  if (c.details && Object.keys(c.details).length) out.details = c.details;
  return out;
}

/**
 * Check a sealed consignment (`sealed` from ./sealed.js `parseSealed`) over `provider` (the
 * proven state); judged at `now` (the pinned block's time). Resolves to the JSON of
 * verifier/consignment.py `ConsignmentVerdict.to_json`.
 */
export async function verifyConsignment(sealed, provider, now) {
  const raw = sealed.proof;
  const label = raw.code;
  const key = fromHex(raw.consignment.key, 32, 'evidence.consignment.key');
  const keyHex = hex(key);
  const reader = new ChainReader(provider, sealed.contracts);
  await reader.pin();
  const checks = [];
  const done = (rest = {}) => {
    const d = decide(checks);
    const story = rest.story || [];
    const documents = {};
    for (const s of story) {
      for (const doc of s.documents) {
        if (!documents[doc.type]) documents[doc.type] = [];
        if (!documents[doc.type].includes(doc.id)) documents[doc.type].push(doc.id);
      }
    }
    return {
      verdict: d.verdict, reason: d.reason, code: label, chainId: reader.chainId, blockNumber: reader.block, checkedAt: now,
      checks: checks.map(checkJson), profile: null, decisions: rest.decisions || [], lots: rest.lots || [], story,
      documents, organisations: rest.names || {},
    };
  };

  const bundle = parseProof(raw);
  const sameContracts = Object.entries(sealed.contracts).every(([n, a]) => String(bundle.chain.contracts[n] || '').toLowerCase() === a.toLowerCase())
    && Object.keys(bundle.chain.contracts).length === Object.keys(sealed.contracts).length;
  if (bundle.chain.chainId !== reader.chainId || !sameContracts) {
    checks.push(check('bundle.chain', 'MISSING', `the evidence names chain ${bundle.chain.chainId} or contracts this verifier does not read (chain ${reader.chainId})`));
    return done();
  }
  checks.push(check('bundle.chain', 'PASS', `evidence for chain ${reader.chainId}`));
  const ref = raw.consignment.ref;
  if (ref !== null) {
    const derived = consignmentKey(ref);
    if (derived === null || !equal(derived, key)) {
      checks.push(check('consignment.id', 'FAIL', `key ${keyHex.slice(0, 18)}… is not the CustomsRelease key of reference '${ref.slice(0, 64)}'`));
      return done();
    }
    checks.push(check('consignment.id', 'PASS', `consignment ${ref} is CustomsRelease key ${keyHex}`));
  }

  const facts = bundle.events.map((e) => publicFacts(e, bundle.captures[e.capture].eventsRoot));
  const separator = domainSeparator(sealed.chainId, sealed.contracts.Consortium);
  const recovered = bundle.captures.map((c) => {
    const digest = captureDigest(separator, c);
    try { return { digest, signer: recoverSigner(digest, c.signature), error: '' }; } catch (exc) {
      if (!(exc instanceof SignatureError)) throw exc;
      return { digest, signer: null, error: exc.message };
    }
  });
  // verify_consignment's `_prefetch`: what it reads first, in one batch.
  const reads = [['decisionCount', [key]]];
  bundle.captures.forEach((c, i) => {
    if (c.anchor) reads.push(['anchorOf', [c.anchor.batchRoot]]);
    if (recovered[i].signer !== null) reads.push(['keyInfo', [recovered[i].signer]]);
  });
  await reader.prefetch(reads);

  // Prefix owners are read as the entitlement rule asks for them (Python reads them lazily):
  // each candidate read once, and a read the evidence cannot prove fails only if it is used.
  const owners = new Map();
  const ownerKeys = new Set();
  for (const f of facts) {
    for (const x of subjects(f.event)) { const k = ownerKey(x); if (k !== null) ownerKeys.add(k); }
    for (const k of receiverKeys(f.event)) ownerKeys.add(k);
  }
  for (const k of [...ownerKeys].sort()) {
    try {
      const [org] = await reader.read('gtinOwner', [k]);
      owners.set(k, isZero(org) ? null : hex(org));
    } catch (exc) {
      if (!(exc instanceof UnprovenReadError)) throw exc;
      owners.set(k, exc);
    }
  }
  const ownerOf = (k) => {
    const got = owners.get(k);
    if (got instanceof Error) throw got;
    if (got === undefined) throw new UnprovenReadError(`gtinOwner(${k}) was not read`);
    return got;
  };
  const orgs = bundle.events.map((e) => hex(bundle.captures[e.capture].org));
  const entitled = entitledEvents(facts, orgs, ownerOf);

  // The decisions on chain, oldest first.
  const [count] = await reader.read('decisionCount', [key]);
  const history = [];
  const atReads = [];
  for (let i = 0; i < count; i++) atReads.push(['decisionAt', [key, i]]);
  await reader.prefetch(atReads);
  for (let i = 0; i < count; i++) {
    const [root, , , recorder, decidedAt, decision, inspection] = await reader.read('decisionAt', [key, i]);
    const d = DECISIONS[decision];
    const ins = INSPECTIONS[inspection];
    history.push({ sequence: i + 1, decision: d, inspection: ins, decidedAt, recorder, eventsRoot: hex(root),
      released: ins === 'PASSED' || (d === 'DIRECT_RELEASE' && ins !== 'FAILED'), refused: ins === 'FAILED' });
  }
  const latest = history.length ? history[history.length - 1] : null;
  const coveredOk = new Map();
  for (const claim of bundle.customs) {
    coveredOk.set(hex(claim.commitment), equal(claim.consignment, key) && latest !== null
      && hex(processProof(eventLeaf(claim.commitment), claim.proof)) === latest.eventsRoot);
  }

  // Which events are about this consignment: its decisions, the events they cover, and the
  // events naming its EPCs or goods packed into them (read from the verified events only).
  const good = [];
  facts.forEach((f, i) => { if (f.inCapture && f.actual) good.push(i); });
  const entitledEvents_ = good.filter((i) => entitled.has(i)).map((i) => facts[i].event);
  const closure = goodsClosure(consignmentEpcs(entitledEvents_, keyHex), entitledEvents_);
  const about = new Set(good.filter((i) => isDecision(facts[i].event, keyHex)
    || coveredOk.get(hex(bundle.events[i].commitment))
    || [...namedEpcs(facts[i].event)].some((x) => closure.has(x))));

  const captureOk = new Map();
  const captureChecks = new Map();
  const eventChecks = [];
  const verified = [];
  let ignored = false;
  for (let i = 0; i < bundle.events.length; i++) {
    const e = bundle.events[i];
    const f = facts[i];
    const usable = f.inCapture && f.actual;
    if (usable && !entitled.has(i)) {
      ignored = true;
      eventChecks.push(check('signer.entitled', 'MISSING', `left out: nothing shows organisation ${orgs[i].slice(0, 14)}… entitled to speak about these goods`,
        { subject: f.checks[0].subject, details: { org: orgs[i] } }));
      continue;
    }
    if (usable && !about.has(i)) {
      eventChecks.push(check('event.about', 'SKIPPED', "left out: it names none of the consignment's EPCs and is neither its customs decision nor covered by it",
        { subject: f.checks[0].subject }));
      continue;
    }
    eventChecks.push(...f.checks);
    if (!usable) continue;
    if (!captureOk.has(e.capture)) {
      const cchecks = [];
      captureOk.set(e.capture, await captureChecked(e.capture, bundle.captures[e.capture], recovered[e.capture], reader, cchecks));
      captureChecks.set(e.capture, cchecks);
    }
    const [ok, signer] = captureOk.get(e.capture);
    if (signer !== null) {
      const c = bundle.captures[e.capture];
      const [valid] = await reader.read('wasValidSigner', [c.org, signer, keccak(utf8(f.role)), c.signedAt]);
      if (valid) {
        eventChecks.push(check('signer.role', 'PASS', `signer's organisation holds ${f.role}`, { subject: f.checks[0].subject }));
      } else {
        eventChecks.push(check('signer.role', 'FAIL', `bizStep ${f.event.bizStep || 'none'} needs role ${f.role}, which the signer's organisation did not hold when it signed`,
          { subject: f.checks[0].subject, details: { role: f.role } }));
        continue;
      }
    }
    if (ok) verified.push(i);
  }
  for (const index of [...captureChecks.keys()].sort((a, b) => a - b)) checks.push(...captureChecks.get(index));
  checks.push(...eventChecks);
  if (verified.length && !ignored) checks.push(check('signer.entitled', 'PASS', 'every event is by a party entitled to speak about these goods'));
  if (!bundle.events.length) checks.push(check('event.id', 'MISSING', 'the evidence holds no event'));

  checks.push(...customsChecks(bundle, facts, verified, history, coveredOk, keyHex));
  const lots = await lotsOf(facts, verified, reader);
  for (const lot of lots) checks.push(...(await lotChecks(lot, reader)));

  const orgSet = new Set(bundle.events.map((e) => hex(bundle.captures[e.capture].org)));
  for (const x of lots) if (x.owner) orgSet.add(x.owner);
  const names = {};
  const sortedOrgs = [...orgSet].sort();
  await reader.prefetch(sortedOrgs.map((o) => ['organisation', [fromHex(o, 32, 'org')]]));
  for (const o of sortedOrgs) {
    const out = await reader.read('organisation', [fromHex(o, 32, 'org')]);
    if (out[5]) names[o] = out[0];
  }
  const timeKey = (i) => String(facts[i].event.eventTime || '');
  const story = [...verified].sort((a, b) => (timeKey(a) < timeKey(b) ? -1 : timeKey(a) > timeKey(b) ? 1 : 0))
    .map((i) => step(i, bundle, facts[i], captureChecks.get(bundle.events[i].capture) || [], captureOk, names, coveredOk));
  return done({
    story, decisions: history,
    lots: lots.map((x) => ({ gtin: x.gtin, lot: x.lot, status: x.status, owner: x.owner, ownerName: (x.owner && names[x.owner]) || null, codes: x.count })),
    names,
  });
}

function customsChecks(bundle, facts, verified, decisions, coveredOk, keyHex) {
  if (!decisions.length) return [check('customs.decision', 'MISSING', 'no customs decision on CustomsRelease names this consignment')];
  const latest = decisions[decisions.length - 1];
  const out = [];
  const held = new Set(verified.map((i) => hex(bundle.events[i].commitment)));
  bundle.customs.forEach((claim, n) => {
    const subject = `customs ${n}`;
    const c = hex(claim.commitment);
    if (!held.has(c)) out.push(check('customs.cover', 'FAIL', 'names no verified event of the evidence', { subject }));
    else if (!coveredOk.get(c)) out.push(check('customs.cover', 'FAIL', "the event's path does not lead to the events root of the decision in force", { subject }));
  });
  const covered = verified.filter((i) => coveredOk.get(hex(bundle.events[i].commitment))).length;
  if (!out.length) {
    out.push(covered ? check('customs.cover', 'PASS', `${covered} events proven covered by the decision in force`)
      : check('customs.cover', 'MISSING', 'no event is proven covered by the decision'));
  }
  // Customs' own signed word must agree with the chain's record.
  const signed = verified.filter((i) => isDecision(facts[i].event, keyHex)).map((i) => decisionFields(facts[i].event));
  const roots = new Map(decisions.map((d) => [d.eventsRoot, d]));
  for (const fields of signed) {
    const root = fields.eventsRoot === undefined ? '' : fields.eventsRoot === null ? 'none' : String(fields.eventsRoot);
    const record = roots.get(root.toLowerCase());
    if (!record || fields.decision !== record.decision) {
      const pick = (k) => (fields[k] === undefined ? null : fields[k]);
      out.push(check('customs.record', 'FAIL', "customs' signed decision event names a root or decision that CustomsRelease does not hold for this consignment",
        { details: { signed: { decision: pick('decision'), inspection: pick('inspection'), eventsRoot: pick('eventsRoot') } } }));
    }
  }
  if (signed.length && !out.some((c) => c.name === 'customs.record')) {
    out.push(check('customs.record', 'PASS', `${signed.length} decision event(s) signed by customs match the chain`));
  } else if (!signed.length) {
    out.push(check('customs.record', 'MISSING', 'no decision event signed by customs is in the evidence'));
  }
  const details = { consignment: keyHex, decision: latest.decision, inspection: latest.inspection, decidedAt: latest.decidedAt, decisions: decisions.length };
  const when = iso(latest.decidedAt);
  if (latest.released) {
    out.push(check('customs.decision', 'PASS', `released: ${latest.decision}, inspection ${latest.inspection}, recorded ${when}`, { details }));
  } else if (latest.refused) {
    out.push(check('customs.decision', 'FAIL', `refused: ${latest.decision}, inspection ${latest.inspection}, recorded ${when}`, { details }));
  } else {
    out.push(check('customs.decision', 'MISSING', `not released: ${latest.decision}, inspection ${latest.inspection}, recorded ${when}`, { details }));
  }
  return out;
}

// The lots the goods were commissioned in: (GTIN of the commissioned EPCs, the ILMD lot).
async function lotsOf(facts, verified, reader) {
  const found = new Map();
  for (const i of verified) {
    const ev = facts[i].event;
    if (ev.bizStep !== 'commissioning' || !isObject(ev.ilmd)) continue;
    const entry = Object.entries(ev.ilmd).find(([k]) => String(k).split(':').pop().split('/').pop() === 'lotNumber');
    const lot = entry ? entry[1] : undefined;
    if (typeof lot !== 'string') continue;
    for (const epc of items(ev.epcList)) {
      let gtin;
      try { gtin = parseLink(epc).gtin14; } catch { continue; }
      found.set(JSON.stringify([gtin, lot]), [gtin, lot]);
    }
  }
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const out = [];
  for (const [gtin, lot] of [...found.values()].sort((a, b) => cmp(a[0], b[0]) || cmp(a[1], b[1]))) {
    let record = null;
    let k = null;
    try { k = lotKey(gtin, lot); } catch { /* no GS1 lot: not registered */ }
    if (k !== null) {
      const [root, owner, reason, count, registeredAt, status] = await reader.read('lotOf', [k]);
      if (status !== 0) record = { root, owner, reason, count, registeredAt, status: LOT_STATUSES[status] || `status ${status}` };
    }
    out.push({ gtin, lot, status: record && record.status, owner: record && hex(record.owner), count: record && record.count, record });
  }
  return out;
}

async function lotChecks(lot, reader) {
  const subject = `lot ${lot.lot} of GTIN ${lot.gtin}`;
  if (lot.record === null) return [check('code.registered', 'FAIL', `lot ${lot.lot} of GTIN ${lot.gtin} is not registered on CodeRegistry`, { subject })];
  const out = [check('code.registered', 'PASS', `lot ${lot.lot} registered on CodeRegistry (${lot.count} codes)`, { subject })];
  const [owner] = await reader.read('gtinOwner', [lot.gtin]);
  if (isZero(owner) || !equal(owner, lot.record.owner)) {
    out.push(check('code.prefix_owner', 'FAIL', `lot ${lot.lot} was registered by an organisation that does not own the company prefix of GTIN ${lot.gtin}`, { subject }));
  } else {
    out.push(check('code.prefix_owner', 'PASS', "registered by the owner of the GTIN's company prefix", { subject }));
  }
  if (lot.status === 'active') {
    out.push(check('lot.status', 'PASS', `lot ${lot.lot} is active at this block`, { failsAs: 'RECALLED', subject }));
  } else {
    out.push(check('lot.status', 'FAIL', `lot ${lot.lot} is ${lot.status} as of this block; the signed events and customs' decision stand as they were recorded`,
      { failsAs: 'RECALLED', subject, details: { status: lot.status, reasonHash: isZero(lot.record.reason) ? '0x' : hex(lot.record.reason) } }));
  }
  return out;
}

function step(i, bundle, f, cchecks, captureOk, names, coveredOk) {
  const e = bundle.events[i];
  const ev = f.event;
  const c = bundle.captures[e.capture];
  const org = hex(c.org);
  const anchored = cchecks.find((x) => x.name === 'capture.anchored' && x.outcome === 'PASS');
  const id = (v) => (isObject(v) && typeof v.id === 'string' ? v.id : null);
  const documents = items(ev.bizTransactionList).filter(isObject)
    .map((b) => ({ type: String(b.type ?? 'None'), id: String(b.bizTransaction ?? 'None') }));
  const epcs = new Set([...namedEpcs(ev), ...items(ev.epcList).filter((x) => typeof x === 'string')]);
  const orNull = (v) => (v === undefined ? null : v);
  return {
    event: i, eventTime: orNull(ev.eventTime), offset: orNull(ev.eventTimeZoneOffset), bizStep: orNull(ev.bizStep),
    disposition: orNull(ev.disposition), place: id(ev.bizLocation) || id(ev.readPoint), org, orgName: names[org] || null,
    signer: (captureOk.get(e.capture) || [false, null])[1], signedAt: c.signedAt,
    anchoredBlock: anchored && anchored.details ? anchored.details.block : null,
    documents, epcs: epcs.size, covered: Boolean(coveredOk.get(hex(e.commitment))),
  };
}
