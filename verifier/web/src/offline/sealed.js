// Reading a sealed evidence file (format "zhenzhi-sealed-evidence", version 1; verifier/README.md
// "Sealed evidence"; ledger/evidence/sealed.py `SealedEvidence.loads`): shapes, the header
// against the pinned block hash, and the canonical serialisation. Proofs and the verdict are
// checked by ./check.js.
import { fromHex, toBigInt, equal, toHex } from '../bytes.js';
import { checksumAddress } from '../capture.js';
import { parseProofText } from '../verify.js';
import { parseLink, canonicalUri } from '../gs1.js';
import { decodeHeader } from './header.js';
import { checkCanonical, checkJsonAsPython, decodeUtf8 } from './canonical.js';
import { PlaceError } from './place.js';
import { canonicalValue, pyRepr, readJson } from '../event_hash.js';

export const SEALED_FORMAT = 'zhenzhi-sealed-evidence';
export const SEALED_VERSION = 1;
// A consignment's sealed evidence (ledger/evidence/sealed.py SEALED_CONSIGNMENT_FORMAT): the
// same block, chain and state parts; its `evidence` is a consignment bundle
// (ledger/evidence/consignment.py), in the members' view ("full") or a bank's ("trade").
export const SEALED_CONSIGNMENT_FORMAT = 'zhenzhi-sealed-consignment';
export const SEALED_CONSIGNMENT_VERSION = 1;
const FORMATS = { [SEALED_FORMAT]: SEALED_VERSION, [SEALED_CONSIGNMENT_FORMAT]: SEALED_CONSIGNMENT_VERSION };
export const DISCLOSURES = ['full', 'trade'];
export const READ_CONTRACTS = ['CodeRegistry', 'Consortium', 'CustomsRelease', 'TraceAnchor'];
const UNSIGNED_EVENT_KEYS = ['eventID', 'recordTime'];
const MAX_PROOF_NODES = 64;
const LOWER_HEX = /^0x([0-9a-f]{2})*$/;

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function keys(obj, want, place) {
  if (!isObject(obj)) throw new PlaceError(place, 'must be an object');
  const have = Object.keys(obj);
  const extra = have.filter((k) => !want.includes(k)).sort();
  const missing = want.filter((k) => !have.includes(k)).sort();
  if (extra.length || missing.length) {
    throw new PlaceError(place, `unexpected keys ${JSON.stringify(extra)}, missing keys ${JSON.stringify(missing)}`);
  }
  return obj;
}

function list(v, place, limit = null) {
  if (!Array.isArray(v) || (limit !== null && v.length > limit)) {
    throw new PlaceError(place, 'must be a list' + (limit !== null ? ` of at most ${limit}` : ''));
  }
  return v;
}

function hexBytes(v, place, size = null) {
  if (typeof v !== 'string' || !v.startsWith('0x')) throw new PlaceError(place, 'must be 0x-hex');
  if (!LOWER_HEX.test(v)) throw new PlaceError(place, 'is not lowercase hex');
  const raw = fromHex(v, null, place);
  if (size !== null && raw.length !== size) throw new PlaceError(place, `must be ${size} bytes`);
  return raw;
}

function uint(v, place) {
  if (typeof v === 'bigint' && v >= 0n) return v;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new PlaceError(place, 'must be a non-negative integer');
  return v;
}

function address(v, place) {
  const raw = hexBytesAnyCase(v, place, 20);
  const checksummed = checksumAddress(raw);
  if (v !== checksummed) throw new PlaceError(place, `must be the checksummed address ${checksummed}`);
  return checksummed;
}

function hexBytesAnyCase(v, place, size) {
  if (typeof v !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(v)) throw new PlaceError(place, 'must be 0x-hex');
  const raw = fromHex(v, null, place);
  if (raw.length !== size) throw new PlaceError(place, `must be ${size} bytes`);
  return raw;
}

// ledger/evidence/sealed.py `_namespace_declarations`: the event hash reads only the objects
// of a list-form @context (prefix → IRI), and only the prefixes the event uses.
function namespaceDeclarations(context, event) {
  if (!Array.isArray(context)) return null;
  const used = usedPrefixes(event);
  const kept = [];
  for (const c of context) {
    if (!isObject(c)) continue;
    const d = Object.fromEntries(Object.entries(c).filter(([k, v]) => used.has(k) && typeof v === 'string'));
    if (Object.keys(d).length) kept.push(d);
  }
  return kept.length ? kept : null;
}

function usedPrefixes(event) {
  const found = new Set();
  const walk = (v) => {
    if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        found.add(k.split(':')[0]);
        walk(x);
      }
    } else if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (typeof v === 'string' && v.includes(':')) {
      found.add(v.split(':')[0]);
    }
  };
  walk(event);
  return found;
}

const sorted = (v) => (Array.isArray(v) ? v.map(sorted) : isObject(v)
  ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])])) : v);
const sameJson = (a, b) => JSON.stringify(sorted(a), (k, v) => (typeof v === 'bigint' ? `${v}n` : v)) === JSON.stringify(sorted(b));

// ledger/evidence/sealed.py `_loose_spelling`: a string of the event that the hash reads as
// another spelling. A sealed event is written in the spellings the hash reads, so no byte can
// change while its hash stays the same.
function looseSpelling(value) {
  if (typeof value === 'string') return canonicalValue(value) !== value ? value : null;
  const items = isObject(value) ? Object.values(value) : Array.isArray(value) ? value : [];
  for (const v of items) {
    const found = looseSpelling(v);
    if (found !== null) return found;
  }
  return null;
}

const hashes = (v, place) => list(v, place, MAX_PROOF_NODES).forEach((h, k) => hexBytes(h, `${place}[${k}]`, 32));

// The evidence part: the proof bundle of ledger/proofs/bundle.py without what nobody signs
// (an item's), or a consignment bundle without format, version or chain.
function evidenceShape(ev, consignment) {
  if (!isObject(ev) || ['format', 'version', 'chain'].some((k) => k in ev)) {
    throw new PlaceError('evidence', 'must be an object without format, version or chain');
  }
  if (consignment) {
    keys(ev, ['captures', 'consignment', 'customs', 'disclosure', 'events'], 'evidence');
    const c = keys(ev.consignment, ['key', 'ref'], 'evidence.consignment');
    if (c.ref !== null && typeof c.ref !== 'string') throw new PlaceError('evidence (consignment.ref)', 'consignment.ref must be a string or null');
    if (typeof c.key !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(c.key)) {
      throw new PlaceError('evidence.consignment.key', 'must be 0x-hex');
    }
    if (c.key !== c.key.toLowerCase()) throw new PlaceError('evidence.consignment.key', 'must be lowercase hex');
    if (!DISCLOSURES.includes(ev.disclosure)) throw new PlaceError('evidence (disclosure)', `disclosure must be one of ${JSON.stringify(DISCLOSURES)}`);
  } else {
    keys(ev, ['captures', 'code', 'customs', 'events', 'registration'], 'evidence');
    if (typeof ev.code !== 'string') throw new PlaceError('evidence.code', 'must be a string');
    if (ev.registration !== null) {
      const r = keys(ev.registration, ['codeProof', 'gtin', 'lot'], 'evidence.registration');
      if (typeof r.gtin !== 'string' || typeof r.lot !== 'string') throw new PlaceError('evidence.registration', 'gtin and lot must be strings');
      hashes(r.codeProof, 'evidence.registration.codeProof');
    }
  }
  list(ev.captures, 'evidence.captures').forEach((c, i) => {
    const at = `evidence.captures[${i}]`;
    keys(c, ['anchor', 'count', 'eventsRoot', 'nonce', 'org', 'signature', 'signedAt', 'signer'], at);
    hexBytes(c.eventsRoot, `${at}.eventsRoot`, 32);
    hexBytes(c.org, `${at}.org`, 32);
    hexBytes(c.signature, `${at}.signature`, 65);
    uint(c.count, `${at}.count`);
    uint(c.nonce, `${at}.nonce`);
    uint(c.signedAt, `${at}.signedAt`);
    if (c.signer !== null) throw new PlaceError(`${at}.signer`, 'must be null: the signer is recovered, never claimed');
    if (c.anchor !== null) {
      const a = keys(c.anchor, ['batchRoot', 'blockNumber', 'proof', 'txHash'], `${at}.anchor`);
      hexBytes(a.batchRoot, `${at}.anchor.batchRoot`, 32);
      hashes(a.proof, `${at}.anchor.proof`);
      if (a.txHash !== null || a.blockNumber !== null) throw new PlaceError(`${at}.anchor`, 'txHash and blockNumber must be null (unsigned claims)');
    }
  });
  const used = new Set();
  list(ev.events, 'evidence.events').forEach((e, i) => {
    const at = `evidence.events[${i}]`;
    const full = isObject(e) && 'event' in e;
    keys(e, full ? ['capture', 'commitment', 'context', 'disclosures', 'event', 'eventId', 'proof']
      : ['capture', 'commitment', 'disclosures', 'proof'], at);
    hexBytes(e.commitment, `${at}.commitment`, 32);
    hashes(e.proof, `${at}.proof`);
    if (uint(e.capture, `${at}.capture`) >= ev.captures.length) throw new PlaceError(`${at}.capture`, `refers to capture ${e.capture} of ${ev.captures.length}`);
    used.add(Number(e.capture));
    list(e.disclosures, `${at}.disclosures`, 65536).forEach((d, j) => {
      keys(d, full ? ['text'] : ['proof', 'text'], `${at}.disclosures[${j}]`);
      if (typeof d.text !== 'string') throw new PlaceError(`${at}.disclosures[${j}].text`, 'must be a string');
      if (!full) hashes(d.proof, `${at}.disclosures[${j}].proof`);
    });
    if (full) {
      if (!isObject(e.event)) throw new PlaceError(`${at}.event`, 'must be an EPCIS event object');
      const unsigned = UNSIGNED_EVENT_KEYS.filter((k) => k in e.event);
      if (unsigned.length) throw new PlaceError(`${at}.event`, `carries ${JSON.stringify(unsigned)}, which no signature covers`);
      if (typeof e.eventId !== 'string' || !/^ni:\/\/\/sha-256;[0-9a-f]{64}\?ver=CBV2\.0$/.test(e.eventId)) {
        throw new PlaceError(`${at}.eventId`, 'must be the ni:///sha-256;…?ver=CBV2.0 URI of the event');
      }
      if (!sameJson(e.context, namespaceDeclarations(e.context, e.event))) {
        throw new PlaceError(`${at}.context`, 'must be null or a list of the namespace declarations the event uses (the only part of an @context its hash reads)');
      }
      const odd = looseSpelling(e.event);
      if (odd !== null) {
        const cut = (t) => pyRepr([...t].slice(0, 60).join(''));
        throw new PlaceError(`${at}.event`, `${cut(odd)} is not written as the event hash reads it (${cut(canonicalValue(odd))})`);
      }
    }
  });
  // The label must say what the events are: a full bundle relabelled "trade" would have its
  // lots go unread.
  if (consignment && ev.events.some((e) => ('event' in e) !== (ev.disclosure === 'full'))) {
    throw new PlaceError('evidence (disclosure)', `a ${ev.disclosure} consignment bundle holds only ${ev.disclosure === 'full' ? 'full' : 'disclosed'} events`);
  }
  if (!consignment) {
    // One spelling of the item's code (ledger/evidence/sealed.py `_canonical_code`): another
    // host or "./" in the path would verify as the item and show a code nobody sealed.
    let canon = ev.code;
    try { canon = canonicalUri(parseLink(ev.code)); } catch { /* no Digital Link: code.format reports it */ }
    if (canon !== ev.code) throw new PlaceError('evidence.code', `must be the canonical Digital Link ${JSON.stringify(canon)}`);
  }
  ev.captures.forEach((c, i) => {
    if (!used.has(i)) throw new PlaceError(`evidence.captures[${i}]`, 'no event uses this capture, so nothing checks it');
  });
  list(ev.customs, 'evidence.customs').forEach((c, i) => {
    const at = `evidence.customs[${i}]`;
    keys(c, ['commitment', 'consignment', 'proof'], at);
    hexBytes(c.commitment, `${at}.commitment`, 32);
    hexBytes(c.consignment, `${at}.consignment`, 32);
    hashes(c.proof, `${at}.proof`);
  });
}

/**
 * Parse a sealed bundle (the file's bytes), refusing anything but its canonical serialisation.
 * Returns {header, blockHash, chainId, contracts, evidence, proof, state}: `proof` is the
 * evidence as the "zhenzhi-evidence" version 2 bundle the verifier reads.
 */
export function parseSealed(raw) {
  const text = decodeUtf8(raw);
  checkJsonAsPython(text);
  let obj;
  try {
    obj = parseProofText(text);
  } catch (exc) {
    const m = /position (\d+)/.exec(exc.message || '');
    const place = m ? `byte ${new TextEncoder().encode(text.slice(0, Number(m[1]))).length}` : 'file';
    throw new PlaceError(place, `not JSON: ${exc.message}`);
  }
  if (isObject(obj) && !Object.prototype.hasOwnProperty.call(FORMATS, obj.format)) {
    throw new PlaceError('format', `not a ${SEALED_FORMAT} or ${SEALED_CONSIGNMENT_FORMAT} document`);
  }
  const top = keys(obj, ['block', 'chain', 'evidence', 'format', 'state', 'version'], '$');
  const consignment = top.format === SEALED_CONSIGNMENT_FORMAT;
  if (top.version !== FORMATS[top.format]) {
    throw new PlaceError('version', `version ${JSON.stringify(String(top.version))} is not supported (this checker reads version ${FORMATS[top.format]})`);
  }
  const block = keys(top.block, ['hash', 'header', 'number', 'timestamp'], 'block');
  const blockHash = hexBytes(block.hash, 'block.hash', 32);
  const header = decodeHeader(hexBytes(block.header, 'block.header'), 'block.header');
  if (!equal(header.hash, blockHash)) {
    throw new PlaceError('block.header', `the header hashes to ${toHex(header.hash)}, not to the block hash ${toHex(blockHash)}`);
  }
  if (BigInt(uint(block.number, 'block.number')) !== header.fields.number) {
    throw new PlaceError('block.number', `is ${block.number}, the header says ${header.number}`);
  }
  if (BigInt(uint(block.timestamp, 'block.timestamp')) !== header.fields.timestamp) {
    throw new PlaceError('block.timestamp', `is ${block.timestamp}, the header says ${header.timestamp}`);
  }
  const chain = keys(top.chain, ['chainId', 'contracts'], 'chain');
  const chainId = uint(chain.chainId, 'chain.chainId');
  if (typeof chainId !== 'number') throw new PlaceError('chain.chainId', 'is too large');
  keys(chain.contracts, READ_CONTRACTS, 'chain.contracts');
  const contracts = {};
  for (const name of READ_CONTRACTS) contracts[name] = address(chain.contracts[name], `chain.contracts.${name}`);

  const state = list(top.state, 'state').map((a, i) => {
    const at = `state[${i}]`;
    keys(a, ['accountProof', 'address', 'code', 'storage'], at);
    const storage = list(a.storage, `${at}.storage`).map((s, j) => {
      const sp = `${at}.storage[${j}]`;
      keys(s, ['proof', 'slot', 'value'], sp);
      return {
        slot: toBigInt(hexBytes(s.slot, `${sp}.slot`, 32)), value: toBigInt(hexBytes(s.value, `${sp}.value`, 32)),
        proof: list(s.proof, `${sp}.proof`, MAX_PROOF_NODES).map((n, k) => hexBytes(n, `${sp}.proof[${k}]`)),
      };
    });
    for (let j = 1; j < storage.length; j++) {
      if (storage[j - 1].slot >= storage[j].slot) throw new PlaceError(`${at}.storage`, 'slots must be listed once each, in ascending order');
    }
    const addr = address(a.address, `${at}.address`);
    return {
      address: addr, accountProof: list(a.accountProof, `${at}.accountProof`, MAX_PROOF_NODES).map((n, k) => hexBytes(n, `${at}.accountProof[${k}]`)),
      code: hexBytes(a.code, `${at}.code`), storage,
    };
  });
  for (let i = 1; i < state.length; i++) {
    if (state[i - 1].address.toLowerCase() >= state[i].address.toLowerCase()) {
      throw new PlaceError(`state[${i}].address`, 'accounts must be listed once each, in ascending order of address');
    }
  }
  evidenceShape(top.evidence, consignment);
  checkCanonical(text, raw);
  const chainRef = { chainId, contracts, blockNumber: header.number };
  // Both kinds read as the "zhenzhi-evidence" version 2 bundle the verifier parses (captures,
  // events, customs); a consignment's label is its reference, else its key.
  const ev = top.evidence;
  // A full event's hash reads a float as Python does ("5.0", not "5"): the events again, each
  // number as written (../event_hash.js `readJson`).
  const exact = ev.events.some((e) => 'event' in e) ? readJson(text).evidence.events : null;
  const events = ev.events.map((e, i) => ('event' in e ? { ...e, exact: { event: exact[i].event, context: exact[i].context } } : e));
  const proof = consignment
    ? { code: ev.consignment.ref !== null ? ev.consignment.ref : ev.consignment.key, registration: null,
      captures: ev.captures, events, customs: ev.customs, consignment: ev.consignment,
      disclosure: ev.disclosure, format: 'zhenzhi-evidence', version: 2, scans: [], chain: chainRef }
    : { ...ev, events, format: 'zhenzhi-evidence', version: 2, scans: [], chain: chainRef };
  return { kind: consignment ? 'consignment' : 'item', header, blockHash, chainId, contracts, evidence: ev, proof, state };
}
