// verify(code, proof, config) → {verdict, reason, checks, node, journey}: the browser's port of
// verifier/verify.py for PUBLIC proofs ("zhenzhi-evidence" version 2). Nothing in the proof is
// believed: disclosures are re-hashed, paths re-walked, signers recovered, and every root, key,
// role, lot, prefix owner and customs decision is read from the node named in config.json, at
// one pinned block.
import { fromHex, toHex, equal, processProof, isZero, ShapeError, keccak, utf8 } from './bytes.js';
import { readDisclosed, DisclosureError, isObject } from './disclosure.js';
import { domainSeparator, captureDigest, recoverSigner, eventLeaf, captureLeaf, SignatureError } from './capture.js';
import { parseLink, codeLeaf, lotKey, eventEpcs, canonicalEpc, CodeError } from './gs1.js';
import { Rpc, ChainReader, NodeError } from './rpc.js';
import { coldChainSection } from './coldchain.js';
import { checkFull } from './full.js';
import { eventHash, EventHashError } from './event_hash.js';
import {
  requiredRole, subjects, ownerKey, receiverKeys, entitledEvents, steps as journeySteps,
  continuityGap, saleTime, importedOrigin, checkScans, CLONE_POLICY, decide, meaning,
} from './rules.js';
import { consumerProfile, checkFacts, placeOf } from './profile.js';

export const OPTIONS = { market: 'CN', anchorGraceS: 3600, skewS: 300, clone: CLONE_POLICY };
const FORMAT = 'zhenzhi-evidence';
const VERSION = 2;
export const LOT_STATUSES = [null, 'active', 'recalled', 'withdrawn'];
export const DECISIONS = ['DIRECT_RELEASE', 'NORMAL_CONTROL', 'IMMEDIATE_CONTROL'];
export const INSPECTIONS = ['NOT_INSPECTED', 'PASSED', 'FAILED'];

export const check = (name, outcome, reason, extra = {}) => ({ name, outcome, reason, failsAs: 'COUNTERFEIT', ...extra });
const iso = (ts) => new Date(ts * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const hex = toHex;

// --- the proof's shape (ledger/proofs/bundle.py `_parse`, public events only) ---------------

function int(v, what) {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ShapeError(`${what} must be a non-negative integer`);
  return v;
}

// A uint64 nonce may exceed 2**53: `parseProofText` keeps such numbers exact as BigInt.
function uint64(v, what) {
  if (typeof v === 'bigint' && v >= 0n && v < (1n << 64n)) return v;
  return int(v, what);
}

/** JSON.parse of a proof, keeping integers beyond 2**53 exact (as BigInt) where the browser
 * gives the reviver the source text (Chromium 114+); elsewhere such a proof reads as malformed. */
export function parseProofText(text) {
  return JSON.parse(text, function revive(key, value, context) {
    if (typeof value === 'number' && !Number.isSafeInteger(value) && context && typeof context.source === 'string'
        && /^[0-9]+$/.test(context.source)) return BigInt(context.source);
    return value;
  });
}

function proofList(v, what) {
  if (!Array.isArray(v) || v.length > 64) throw new ShapeError(`${what} must be a list of at most 64 hashes`);
  return v.map((p) => fromHex(p, 32, what));
}

export function parseProof(obj) {
  if (!isObject(obj) || obj.format !== FORMAT) throw new ShapeError(`not a ${FORMAT} document`);
  if (obj.version !== VERSION) throw new ShapeError(`evidence bundle version ${JSON.stringify(obj.version)} is not supported (this verifier reads version ${VERSION})`);
  const chain = obj.chain;
  if (!isObject(chain) || !isObject(chain.contracts)) throw new ShapeError('chain.contracts must be an object');
  const reg = obj.registration;
  const registration = reg == null ? null : { gtin: String(reg.gtin), lot: String(reg.lot), codeProof: proofList(reg.codeProof, 'codeProof') };
  if (!Array.isArray(obj.captures) || !Array.isArray(obj.events)) throw new ShapeError('captures and events must be lists');
  const captures = obj.captures.map((c) => {
    if (!isObject(c)) throw new ShapeError('a capture must be an object');
    const a = c.anchor;
    return {
      eventsRoot: fromHex(c.eventsRoot, 32, 'eventsRoot'), count: int(c.count, 'count'), org: fromHex(c.org, 32, 'org'),
      nonce: uint64(c.nonce, 'nonce'), signedAt: int(c.signedAt, 'signedAt'), signature: fromHex(c.signature, 65, 'signature'),
      signer: typeof c.signer === 'string' ? c.signer : null,
      anchor: a == null ? null : { batchRoot: fromHex(a.batchRoot, 32, 'anchor.batchRoot'), proof: proofList(a.proof, 'anchor.proof'),
        blockNumber: a.blockNumber == null ? null : int(a.blockNumber, 'anchor.blockNumber') },
    };
  });
  const events = obj.events.map((e) => {
    if (!isObject(e)) throw new ShapeError('an event must be an object');
    const index = int(e.capture, 'capture');
    if (index >= captures.length) throw new ShapeError(`event refers to capture ${index} of ${captures.length}`);
    if (!Array.isArray(e.disclosures) || e.disclosures.length > 65536) throw new ShapeError('disclosures must be a list of at most 65536');
    const disclosed = e.disclosures.map((d) => {
      if (!isObject(d) || typeof d.text !== 'string') throw new ShapeError('a disclosure text must be a string');
      return { text: d.text, proof: proofList(d.proof || [], 'disclosure.proof') };
    });
    if (e.event != null && !isObject(e.event)) throw new ShapeError('event must be a JSON object');
    if (e.event != null && typeof e.eventId !== 'string') throw new ShapeError('a full event must name its eventId');
    // `exact`: the event and its @context as the CBV hash reads them (sealed.js keeps a float a
    // float); a bundle read without it hashes the event as parsed.
    const exact = e.event == null ? null : e.exact || { event: e.event, context: e.context ?? null };
    return { commitment: fromHex(e.commitment, 32, 'commitment'), capture: index, proof: proofList(e.proof, 'proof'),
      disclosed, full: e.event != null, event: e.event != null ? e.event : null, eventId: e.event != null ? e.eventId : null, exact };
  });
  const customs = (obj.customs || []).map((c) => ({ consignment: fromHex(c.consignment, 32, 'consignment'),
    commitment: fromHex(c.commitment, 32, 'customs.commitment'), proof: proofList(c.proof, 'customs.proof') }));
  const scans = (obj.scans || []).map((s) => ({ at: int(s.at, 'scan.at'), region: String(s.region || ''),
    client: typeof s.client === 'string' ? s.client : null }));
  return { code: String(obj.code), chain: { chainId: chain.chainId, contracts: chain.contracts }, registration, captures, events, customs, scans };
}

// --- facts an event's bytes alone establish ---------------------------------------------------

// A member's full event (sealed evidence): all its disclosures, re-hashed into the commitment
// and shown to say exactly what the event says (verifier/verify.py `_full_facts`).
function fullFacts(e, eventsRoot) {
  const subject = e.eventId.startsWith('ni:///sha-256;') ? e.eventId.split('?')[0] : 'ni:///sha-256;' + '00'.repeat(32);
  const role = requiredRole(e.event);
  // Its id recomputed (ledger/epcis/event_hash.py, ported in ./event_hash.js): the event's
  // @context is bound by nothing else.
  let actual = null;
  try {
    actual = hex(eventHash(e.exact.event, e.exact.context)).slice(2);
  } catch (exc) {
    if (!(exc instanceof EventHashError)) throw exc;
  }
  if (actual === null || actual !== claimedHash(e.eventId)) {
    return { actual: null, inCapture: false, role, event: e.event, checks: [check('event.id', 'FAIL',
      "an event's content does not hash to its id: it was altered after capture", { subject, details: { recomputed: actual } })] };
  }
  let commitment;
  try {
    commitment = checkFull(e.event, e.eventId, e.disclosed.map((d) => d.text));
  } catch (exc) {
    if (!(exc instanceof DisclosureError)) throw exc;
    return { actual: null, inCapture: false, role, event: e.event, checks: [check('event.id', 'FAIL', `an event's disclosures do not match it: ${exc.message}`, { subject })] };
  }
  return committed(commitment, e, eventsRoot, role, subject, e.event);
}

/** The 64 hex digits of an eventId (ledger/proofs/bundle.py `_parse_event_id`), or null. */
function claimedHash(id) {
  const prefix = 'ni:///sha-256;';
  const suffix = '?ver=CBV2.0';
  const inner = id.startsWith(prefix) && id.endsWith(suffix) ? id.slice(prefix.length, -suffix.length) : id.replace(/^0[xX]/, '');
  return /^[0-9a-fA-F]{64}$/.test(inner) ? inner.toLowerCase() : null;
}

/** What an event's bytes alone establish (verify.py `_facts`): full or disclosed. */
export function publicFacts(e, eventsRoot) {
  const subject = 'event ' + hex(e.commitment);
  if (e.full) return fullFacts(e, eventsRoot);
  let commitment;
  let event;
  try {
    [commitment, event] = readDisclosed(e.disclosed);
  } catch (exc) {
    if (!(exc instanceof DisclosureError)) throw exc;
    return { actual: null, inCapture: false, role: '', event: {}, checks: [check('event.id', 'FAIL', `an event's disclosed fields were altered: ${exc.message}`, { subject })] };
  }
  return committed(commitment, e, eventsRoot, requiredRole(event), subject, event);
}

function committed(commitment, e, eventsRoot, role, subject, event) {
  if (!equal(commitment, e.commitment)) {
    return { actual: null, inCapture: false, role, event, checks: [check('event.id', 'FAIL',
      "an event's fields do not lead to the commitment it claims: altered after capture", { subject, details: { recomputed: hex(commitment).slice(2) } })] };
  }
  const idOk = check('event.id', 'PASS', 'event fields match their signed commitment', { subject });
  if (!equal(processProof(eventLeaf(commitment), e.proof), eventsRoot)) {
    return { actual: commitment, inCapture: false, role, event, checks: [idOk, check('event.proof', 'FAIL', 'the event is not in the signed capture it claims', { subject })] };
  }
  return { actual: commitment, inCapture: true, role, event, checks: [idOk, check('event.proof', 'PASS', 'event is in its signed capture', { subject })] };
}

// --- the verification ---------------------------------------------------------------------------

/**
 * code: the scanned Digital Link; proofJson: the parsed proof; config: {rpcUrl, chainId,
 * contracts: {Consortium, TraceAnchor, CodeRegistry, CustomsRelease}}; opts: {now, fetch, timeoutMs}.
 */
export async function verify(code, proofJson, config, opts = {}) {
  const started = (globalThis.performance || Date).now();
  const checkedAt = opts.now != null ? opts.now : Math.floor(Date.now() / 1000);
  const checks = [];
  const node = { url: config && config.rpcUrl, chainId: null, block: null, blockHash: null, requests: 0 };
  const out = { code, checks, node, journey: [], lot: null, profile: null, names: {}, checkedAt };
  const done = () => {
    const d = decide(checks);
    out.verdict = d.verdict;
    out.reason = d.reason;
    out.checks = checks.map((c) => ({ ...c, meaning: meaning(c) }));
    out.node.requests = reader ? reader.rpc.requests : 0;
    out.ms = (globalThis.performance || Date).now() - started;
    return out;
  };
  let reader = null;

  // The node first: a verdict stands on what it answers.
  const contracts = (config && config.contracts) || {};
  if (!config || typeof config.rpcUrl !== 'string' || !Number.isSafeInteger(config.chainId) || typeof contracts.Consortium !== 'string') {
    checks.push(check('chain.node', 'MISSING', 'config.json is missing or names no node, chain id or contracts: nothing can be read from the chain'));
    return done();
  }
  // opts.rpc: any JSON-RPC transport with `batch` (offline/proven.js answers from sealed state).
  reader = new ChainReader(opts.rpc || new Rpc(config.rpcUrl, { timeoutMs: opts.timeoutMs || 8000, fetchImpl: opts.fetch }), contracts);
  try {
    await reader.pin();
  } catch (exc) {
    checks.push(check('chain.node', 'MISSING', `the node ${config.rpcUrl} could not be reached: ${exc.message}`, { details: { node: config.rpcUrl } }));
    return done();
  }
  node.chainId = reader.chainId;
  node.block = reader.block;
  if (reader.chainId !== config.chainId) {
    checks.push(check('chain.node', 'MISSING', `the node ${config.rpcUrl} is on chain ${reader.chainId}, not chain ${config.chainId}: its answers prove nothing here`,
      { details: { node: config.rpcUrl, expected: config.chainId, actual: reader.chainId } }));
    return done();
  }
  try {
    await run(code, proofJson, config, reader, checks, out, checkedAt);
  } catch (exc) {
    if (!(exc instanceof NodeError)) throw exc;
    checks.push(check('chain.node', 'MISSING', `the node ${config.rpcUrl} stopped answering: ${exc.message}`, { details: { node: config.rpcUrl } }));
  }
  node.blockHash = reader.blockHash;
  if (reader.blockHash !== null && !checks.some((c) => c.name === 'chain.node')) {
    checks.unshift(check('chain.node', 'PASS', `read at block ${reader.block} (${reader.blockHash}) of chain ${reader.chainId} from ${config.rpcUrl}`,
      { details: { node: config.rpcUrl, block: reader.block, hash: reader.blockHash } }));
  }
  return done();
}

async function run(code, proofJson, config, reader, checks, out, checkedAt) {
  let link;
  try {
    link = parseLink(code);
  } catch (exc) {
    if (!(exc instanceof CodeError)) throw exc;
    checks.push(check('code.format', 'FAIL', `not a valid GS1 Digital Link item code: ${exc.message}`));
    return;
  }
  out.code = link.key;
  if (link.serial === null) {
    checks.push(check('code.format', 'FAIL', 'the code names a product but no serial: it identifies no item'));
    return;
  }
  checks.push(check('code.format', 'PASS', `GTIN ${link.gtin14}, serial ${link.serial}`));

  if (proofJson == null) {
    checks.push(check('bundle.code', 'MISSING', 'no evidence was available for this code'));
    return;
  }
  let bundle;
  try {
    bundle = parseProof(proofJson);
  } catch (exc) {
    if (!(exc instanceof ShapeError) && !(exc instanceof TypeError)) throw exc;
    checks.push(check('bundle.format', 'MISSING', `the proof is malformed: ${exc.message}`));
    return;
  }
  let bundleKey = null;
  try { bundleKey = parseLink(bundle.code).key; } catch { /* another code */ }
  if (bundleKey !== link.key) {
    checks.push(check('bundle.code', 'MISSING', `the evidence is for another code (${bundle.code})`));
    return;
  }
  const sameContracts = Object.entries(config.contracts).every(([name, address]) =>
    String(bundle.chain.contracts[name] || '').toLowerCase() === String(address).toLowerCase());
  if (bundle.chain.chainId !== config.chainId || !sameContracts) {
    checks.push(check('bundle.chain', 'MISSING', `the evidence names chain ${bundle.chain.chainId} or contracts this verifier does not read (chain ${config.chainId})`));
    return;
  }
  checks.push(check('bundle.chain', 'PASS', `evidence for chain ${config.chainId}`));

  const separator = domainSeparator(config.chainId, config.contracts.Consortium);
  const facts = bundle.events.map((e) => publicFacts(e, bundle.captures[e.capture].eventsRoot));
  const recovered = bundle.captures.map((c) => {
    const digest = captureDigest(separator, c);
    try { return { digest, signer: recoverSigner(digest, c.signature), error: '' }; } catch (exc) {
      if (!(exc instanceof SignatureError)) throw exc;
      return { digest, signer: null, error: exc.message };
    }
  });

  // Every chain read this verification makes, in one batch (verify.py `_prefetch`).
  const reads = [['gtinOwner', [link.gtin14]]];
  const keys = new Set();
  for (const f of facts) {
    for (const x of subjects(f.event)) { const k = ownerKey(x); if (k !== null) keys.add(k); }
    for (const k of receiverKeys(f.event)) keys.add(k);
  }
  [...keys].sort().forEach((k) => reads.push(['gtinOwner', [k]]));
  const lotName = link.lot || (bundle.registration ? bundle.registration.lot : null);
  if (lotName !== null) {
    try { reads.push(['lotOf', [lotKey(link.gtin14, lotName)]]); } catch { /* reported below */ }
  }
  const rolesByCapture = new Map();
  bundle.events.forEach((e, i) => {
    if (!rolesByCapture.has(e.capture)) rolesByCapture.set(e.capture, new Set());
    rolesByCapture.get(e.capture).add(facts[i].role);
  });
  bundle.captures.forEach((c, index) => {
    if (c.anchor) reads.push(['anchorOf', [c.anchor.batchRoot]]);
    const signer = recovered[index].signer;
    if (signer !== null) {
      reads.push(['keyInfo', [signer]]);
      for (const role of [...(rolesByCapture.get(index) || [])].sort()) {
        reads.push(['wasValidSigner', [c.org, signer, keccak(utf8(role)), c.signedAt]]);
      }
    }
  });
  bundle.customs.forEach((c) => reads.push(['decisionCount', [c.consignment]]));
  await reader.prefetch(reads);

  const ownerCache = new Map();
  const ownerOf = (key14) => {
    if (!ownerCache.has(key14)) {
      const k = ChainReader.key('gtinOwner', [key14]);
      if (!reader.cache.has(k)) throw new NodeError(`gtinOwner(${key14}) was not read`);
      const [org] = reader.cache.get(k);
      ownerCache.set(key14, isZero(org) ? null : hex(org));
    }
    return ownerCache.get(key14);
  };

  checks.push(...(await registration(link, bundle, reader, ownerOf, out)));
  const good = await events(bundle, facts, recovered, reader, ownerOf, checks,
    `https://id.gs1.org/01/${link.gtin14}/21/${link.serial}`);
  const verified = good.map(({ f, e }) => ({ id: hex(f.actual), event: f.event, org: hex(bundle.captures[e.capture].org) }));
  const journey = journeySteps(verified);
  let gap = continuityGap(journey);
  if (!gap) gap = notAbout(journey, link);
  checks.push(gap
    ? check('journey.complete', 'MISSING', gap, { failsAs: 'UNVERIFIED' })
    : check('journey.complete', 'PASS', `${journey.length} events from origin, with no gap in where the goods were`));
  checks.push(await customs(journey, bundle, reader));
  checks.push(checkScans(bundle.scans, saleTime(journey), OPTIONS.clone, checkedAt));
  // Facts beside the verdict, from the verified events only (never a check that decides it).
  out.coldChain = await coldChainSection({ gtin14: link.gtin14, epc: `https://id.gs1.org/01/${link.gtin14}/21/${link.serial}`,
    conditions: proofJson.conditions ?? null, earlier: proofJson.earlierConditions ?? [], verified: verified.map((v) => ({ event: v.event, ref: v.id, org: v.org })),
    reader, separator, ownerOf });
  out.profile = consumerProfile(link.gtin14, link.serial, verified.map((v) => ({ event: v.event, org: v.org })), checkFacts(checks));
  // Who said each step and each fact, by the name Consortium admitted it under (read at the
  // pinned block).
  const orgs = [...new Set([...journey.map((s) => s.org), ...Object.values(out.profile).map((f) => f && f.by)]
    .filter((o) => typeof o === 'string' && /^0x[0-9a-f]{64}$/.test(o)))];
  const names = new Map();
  try {
    await reader.prefetch(orgs.map((o) => ['organisation', [fromHex(o, 32, 'org')]]));
    for (const o of orgs) names.set(o, (await reader.read('organisation', [fromHex(o, 32, 'org')]))[0] || null);
  } catch { /* names are for reading; the checks do not depend on them */ }
  out.names = Object.fromEntries([...names].filter(([, n]) => n));
  out.journey = journey.map((s) => ({ stage: s.stage, bizstep: s.bizstep, time: s.time, timeText: s.timeText,
    location: s.location, place: placeOf(s.event), org: s.org, gln: glnOf(s.org), orgName: names.get(s.org) || null }));
}

function glnOf(orgHex) {
  const raw = fromHex(orgHex, 32, 'org');
  if (raw.subarray(13).some((b) => b !== 0)) return null;
  const text = String.fromCharCode(...raw.subarray(0, 13));
  return /^\d{13}$/.test(text) ? text : null;
}

function notAbout(journey, link) {
  if (!journey.length || journey[0].bizstep !== 'commissioning') return null;
  const epc = `https://id.gs1.org/01/${link.gtin14}/21/${link.serial}`;
  for (const step of journey) {
    if (step.bizstep !== 'commissioning') break;
    const named = eventEpcs(step.event);
    if (named.epc.includes(epc) || named.child.includes(epc) || named.output.includes(epc)) return null;
  }
  return "the journey's origin event does not commission this item: it is another's story";
}

async function registration(link, bundle, reader, ownerOf, out) {
  const reg = bundle.registration;
  const lotName = link.lot || (reg ? reg.lot : null);
  if (reg === null || lotName === null) {
    return [check('code.registered', 'FAIL', 'no registered lot commits to this code: it was never issued by the brand')];
  }
  if (link.lot && reg.lot !== link.lot) {
    return [check('code.registered', 'FAIL', `the code is printed with lot ${link.lot} but evidence names lot ${reg.lot}`)];
  }
  if (reg.gtin !== link.gtin14) {
    // The registration's GTIN is read nowhere else: unchecked, it could say anything.
    return [check('code.registered', 'FAIL', `the code is GTIN ${link.gtin14} but evidence names GTIN ${reg.gtin.slice(0, 20)}`)];
  }
  let key;
  try { key = lotKey(link.gtin14, lotName); } catch {
    return [check('code.registered', 'FAIL', `the evidence names lot '${lotName.slice(0, 40)}', which no GS1 lot can be`)];
  }
  const [root, owner, reason, count, , status] = await reader.read('lotOf', [key]);
  if (status === 0) {
    return [check('code.registered', 'FAIL', `lot ${lotName} of GTIN ${link.gtin14} is not registered on CodeRegistry`)];
  }
  const statusName = LOT_STATUSES[status] || `status ${status}`;
  out.lot = { name: lotName, status: statusName };
  if (!equal(processProof(codeLeaf(link.gtin14, link.serial), reg.codeProof), root)) {
    return [check('code.registered', 'FAIL', `serial ${link.serial} is not among the ${count} codes registered for lot ${lotName}`, { details: { lot: lotName } })];
  }
  const res = [check('code.registered', 'PASS', `registered in lot ${lotName} (${count} codes) on CodeRegistry`, { details: { lot: lotName, owner: hex(owner) } })];
  const prefixOwner = ownerOf(link.gtin14);
  if (prefixOwner === null || prefixOwner !== hex(owner)) {
    res.push(check('code.prefix_owner', 'FAIL', `lot registered by ${hex(owner).slice(0, 14)}…, which does not own the GS1 company prefix of GTIN ${link.gtin14}`,
      { details: { registrant: hex(owner), prefixOwner } }));
  } else {
    res.push(check('code.prefix_owner', 'PASS', "registered by the owner of the GTIN's company prefix"));
  }
  if (statusName === 'active') {
    res.push(check('lot.status', 'PASS', `lot ${lotName} is active`, { failsAs: 'RECALLED' }));
  } else {
    res.push(check('lot.status', 'FAIL', `lot ${lotName} is ${statusName}`, { failsAs: 'RECALLED', details: { status: statusName, reasonHash: hex(reason) } }));
  }
  return res;
}

export async function keyVerdict(reader, org, key, at) {
  const [kOrg, addedAt, , revokedAt] = await reader.read('keyInfo', [key]);
  if (!equal(kOrg, org) || isZero(org)) return 'unknown';
  if (at < addedAt || (revokedAt && at >= revokedAt)) return 'revoked';
  return 'valid';
}

// The item and every container an on-path AggregationEvent (ADD/OBSERVE) put it into.
const EPC_LISTS = ['epcList', 'childEPCs', 'inputEPCList', 'outputEPCList'];
function canon(v) { return typeof v === 'string' ? canonicalEpc(v.trim()) : null; }
function itemPath(epc, evs) {
  let path = new Set([epc]);
  for (;;) {
    const grown = new Set(path);
    for (const ev of evs) {
      if (ev.type !== 'AggregationEvent' || ev.action === 'DELETE') continue;
      const parent = canon(ev.parentID);
      if (parent !== null && (ev.childEPCs || []).some((c) => path.has(canon(c)))) grown.add(parent);
    }
    if (grown.size === path.size) return path;
    path = grown;
  }
}
function namesPath(ev, path) {
  if (path.has(canon(ev.parentID))) return true;
  return EPC_LISTS.some((f) => Array.isArray(ev[f]) && ev[f].some((v) => path.has(canon(v))));
}
// Public events that name neither the item nor a container it was put into (verifier/verify.py
// `_off_path`): a gateway could otherwise attach another item's genuine sale or customs hold.
// Full events (members' evidence) are never left out, and their containers count too.
function offPath(facts, entitled, epc, evs = []) {
  const pub = [];
  const full = [];
  facts.forEach((f, i) => {
    if (evs[i] && evs[i].full) full.push(i);
    else if (f.inCapture && f.actual) pub.push(i);
  });
  if (!pub.length) return new Set();
  let path = new Set([epc]);
  for (;;) {
    const on = pub.filter((i) => entitled.has(i) && namesPath(facts[i].event, path));
    const grown = itemPath(epc, [...on, ...full.filter((i) => entitled.has(i))].map((i) => facts[i].event));
    if (grown.size === path.size) return new Set(pub.filter((i) => !namesPath(facts[i].event, path)));
    path = grown;
  }
}

async function events(bundle, facts, recovered, reader, ownerOf, checks, epc) {
  if (!bundle.events.length) return [];
  const orgs = bundle.events.map((e) => hex(bundle.captures[e.capture].org));
  const entitled = entitledEvents(facts, orgs, ownerOf);
  const ignored = new Set();
  facts.forEach((f, i) => { if (f.inCapture && f.actual && !entitled.has(i)) ignored.add(i); });
  const off = offPath(facts, entitled, epc, bundle.events);
  const captureOk = new Map();
  const judged = [...new Set(bundle.events.filter((e, i) => !ignored.has(i) && !off.has(i)).map((e) => e.capture))].sort((a, b) => a - b);
  for (const index of judged) {
    captureOk.set(index, await capture(index, bundle.captures[index], recovered[index], reader, checks));
  }
  const good = [];
  for (let i = 0; i < bundle.events.length; i++) {
    const e = bundle.events[i];
    const f = facts[i];
    if (off.has(i)) {
      checks.push(check('event.about', 'SKIPPED', 'left out: the fields it discloses name neither this item nor a container it was put into',
        { subject: f.checks[0].subject }));
      continue;
    }
    if (ignored.has(i)) {
      checks.push(check('signer.entitled', 'MISSING', `left out: nothing shows organisation ${orgs[i].slice(0, 14)}… entitled to speak about these goods (not their brand, not a receiver named by those who are, not an authority)`,
        { subject: f.checks[0].subject, details: { org: orgs[i] } }));
      continue;
    }
    checks.push(...f.checks);
    if (!f.inCapture || !f.actual) continue;
    const [ok, signer] = captureOk.get(e.capture);
    if (signer !== null) {
      const c = bundle.captures[e.capture];
      const [valid] = await reader.read('wasValidSigner', [c.org, signer, keccak(utf8(f.role)), c.signedAt]);
      if (valid) {
        checks.push(check('signer.role', 'PASS', `signer's organisation holds ${f.role}`, { subject: f.checks[0].subject }));
      } else {
        const step = f.event.bizStep || 'none';
        checks.push(check('signer.role', 'FAIL', `bizStep ${step} needs role ${f.role}, which the signer's organisation does not hold`,
          { subject: f.checks[0].subject, details: { role: f.role } }));
        continue;
      }
    }
    if (ok) good.push({ f, e });
  }
  if (good.length && !ignored.size) checks.push(check('signer.entitled', 'PASS', 'every event is by a party entitled to speak about these goods'));
  return good;
}

/** One capture's signature, key and anchor (verify.py `_capture`): [ok, signer, anchoredAt]. */
export async function capture(index, cap, rec, reader, checks) {
  const subject = `capture ${index}`;
  const signer = rec.signer;
  if (signer === null) {
    checks.push(check('capture.signature', 'FAIL', `the capture signature is invalid: ${rec.error}`, { subject }));
    return [false, null, null];
  }
  const orgHex = hex(cap.org);
  const state = await keyVerdict(reader, cap.org, signer, cap.signedAt);
  if (state === 'unknown') {
    checks.push(check('capture.signature', 'FAIL', `the signature recovers ${signer}, which is no key of organisation ${orgHex.slice(0, 14)}…`,
      { subject, details: { recovered: signer, org: orgHex } }));
    return [false, null, null];
  }
  checks.push(check('capture.signature', 'PASS', `signed by ${signer} of organisation ${orgHex.slice(0, 14)}…`, { subject, details: { signer, org: orgHex } }));
  if (state !== 'valid') {
    checks.push(check('signer.key', 'FAIL', `key ${signer} was not valid (revoked or not yet added) when it signed at ${iso(cap.signedAt)}`, { subject, details: { signedAt: cap.signedAt } }));
    return [false, signer, null];
  }
  const keyOk = () => check('signer.key', 'PASS', `key valid at ${iso(cap.signedAt)}`, { subject });
  const anchor = cap.anchor;
  if (anchor === null) {
    checks.push(keyOk(), check('capture.anchored', 'MISSING', 'a capture is not anchored on the chain yet', { subject }));
    return [false, signer, null];
  }
  if (!equal(processProof(captureLeaf(rec.digest, signer), anchor.proof), anchor.batchRoot)) {
    checks.push(keyOk(), check('capture.anchored', 'FAIL', 'the anchoring proof does not lead to the batch root it names: forged', { subject }));
    return [false, signer, null];
  }
  const [anchoredAt, blockNumber, , submitter] = await reader.read('anchorOf', [anchor.batchRoot]);
  if (BigInt(submitter) === 0n) {
    checks.push(keyOk(), check('capture.anchored', 'FAIL', 'the batch root it claims is not on TraceAnchor', { subject, details: { batchRoot: hex(anchor.batchRoot) } }));
    return [false, signer, null];
  }
  if (cap.signedAt > anchoredAt + OPTIONS.skewS) {
    checks.push(check('signer.key', 'FAIL', 'signed after the batch it is in was anchored: the signing time is false', { subject }));
    return [false, signer, anchoredAt];
  }
  const late = Math.max(cap.signedAt, anchoredAt - OPTIONS.anchorGraceS);
  if (late !== cap.signedAt && (await keyVerdict(reader, cap.org, signer, late)) !== 'valid') {
    checks.push(check('signer.key', 'FAIL', `key ${signer} was revoked before ${iso(late)}, yet this capture was only anchored at ${iso(anchoredAt)}: back-dated`, { subject }));
    return [false, signer, anchoredAt];
  }
  checks.push(keyOk(), check('capture.anchored', 'PASS', `anchored in block ${blockNumber} at ${iso(anchoredAt)}`,
    { subject, details: { batchRoot: hex(anchor.batchRoot), block: blockNumber } }));
  return [true, signer, anchoredAt];
}

async function customs(journey, bundle, reader) {
  const origin = importedOrigin(journey, OPTIONS.market);
  if (origin === null) return check('customs.decision', 'SKIPPED', `made in ${OPTIONS.market}: no customs clearance needed`);
  const itemEvents = new Set(journey.map((s) => s.eventId));
  const claims = bundle.customs.filter((c) => itemEvents.has(hex(c.commitment)));
  const counts = await Promise.all(claims.map((c) => reader.read('decisionCount', [c.consignment])));
  await reader.prefetch(claims.filter((c, i) => counts[i][0] > 0).map((c) => ['latestDecision', [c.consignment]]));
  let best = null;
  for (let i = 0; i < claims.length; i++) {
    const claim = claims[i];
    let record = null;
    if (counts[i][0] > 0) {
      const [root, , , , , decision, inspection] = await reader.read('latestDecision', [claim.consignment]);
      record = { root, decision: DECISIONS[decision], inspection: INSPECTIONS[inspection] };
    }
    if (record === null || !equal(processProof(eventLeaf(claim.commitment), claim.proof), record.root)) {
      best = best || check('customs.decision', 'FAIL', 'the customs decision it cites is not on CustomsRelease or does not cover this item');
      continue;
    }
    const details = { consignment: hex(claim.consignment), decision: record.decision, inspection: record.inspection, origin };
    const released = record.inspection === 'PASSED' || (record.decision === 'DIRECT_RELEASE' && record.inspection !== 'FAILED');
    if (released) return check('customs.decision', 'PASS', `imported from ${origin}: customs ${record.decision}, inspection ${record.inspection}`, { details });
    if (record.inspection === 'FAILED') {
      return check('customs.decision', 'FAIL', `imported from ${origin}: customs refused the goods (${record.decision}, inspection ${record.inspection})`, { details });
    }
    best = check('customs.decision', 'MISSING', `imported from ${origin}: customs ${record.decision}, not released yet`, { details });
  }
  return best || check('customs.decision', 'MISSING', `imported from ${origin}, but no customs decision on the chain covers it`);
}
