// Checking a sealed bundle with no network (verifier/sealed.py `check_sealed`, in the browser):
// the canonical file and its header (./sealed.js), every state proof against the header's
// stateRoot (./proven.js), then the verifier's own checks (../verify.js) over the proven state
// at the pinned block, judged at the block's time. What it proves is conditional on two facts
// no file proves about itself: the block hash (`trust`, confirmed on a consortium node) and the
// deployment (`manifest`, the consortium's deployment.json).
import { verify } from '../verify.js';
import { ChainReader } from '../rpc.js';
import { domainSeparator, captureDigest, recoverSigner, eventLeaf } from '../capture.js';
import { fromHex, toHex, equal, processProof, keccak, utf8 } from '../bytes.js';
import { parseSealed } from './sealed.js';
import { provenState, ProvenProvider, UnprovenReadError } from './proven.js';
import { PlaceError } from './place.js';
import { VIEWS } from '../abi.js';
import { verifyConsignment } from './consignment.js';

// Evidence a checker never sees (and so the report lists as not checked): keys into the
// report's strings (../evidence_i18n.js), with the Python checker's English.
export const NOT_CARRIED = ['scans', 'assembled'];
// A consignment's (verifier/sealed.py NOT_CARRIED_CONSIGNMENT, and NOT_DISCLOSED_TRADE for a
// bank's view).
export const NOT_CARRIED_CONSIGNMENT = ['withheld', 'assembled'];
export const NOT_DISCLOSED_TRADE = ['tradeFields', 'tradeLots', 'tradeCovered'];

const iso = (ts) => new Date(ts * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A 32-byte block hash typed or pasted by the reader, or throws PlaceError('trust'). */
export function parseTrust(text) {
  const t = String(text || '').trim();
  const m = /^(0x)?([0-9a-fA-F]{64})$/.exec(t);
  if (!m) throw new PlaceError('trust', 'must be a 32-byte block hash as 0x-hex');
  return fromHex('0x' + m[2], 32, 'trust');
}

/** The reader's deployment manifest (deployment.json): {chainId, contracts: {name: address}}. */
export function parseManifest(obj) {
  if (!obj || typeof obj !== 'object' || !Number.isSafeInteger(obj.chainId) || !obj.contracts || typeof obj.contracts !== 'object') {
    throw new PlaceError('manifest', 'is not a deployment manifest (chainId and contracts)');
  }
  const contracts = {};
  for (const [name, rec] of Object.entries(obj.contracts)) {
    const address = typeof rec === 'string' ? rec : rec && rec.address;
    if (typeof address === 'string') contracts[name] = address;
  }
  return { chainId: obj.chainId, contracts };
}

function deployment(sealed, manifest) {
  if (!manifest) return [null, ''];
  if (manifest.chainId !== sealed.chainId) return [false, `the bundle is for chain ${sealed.chainId}, the manifest for chain ${manifest.chainId}`];
  for (const name of Object.keys(sealed.contracts).sort()) {
    const address = sealed.contracts[name];
    const theirs = manifest.contracts[name];
    if (!theirs || theirs.toLowerCase() !== address.toLowerCase()) {
      return [false, `the bundle's ${name} is ${address}, the manifest's is ${theirs || null}: another deployment`];
    }
  }
  return [true, ''];
}

// The part of the evidence that made the verifier ask what the witness does not prove.
function placeOfRead(sealed, exc) {
  const ev = sealed.proof;
  const names = Object.fromEntries(Object.entries(sealed.contracts).map(([n, a]) => [a.toLowerCase(), n]));
  if (exc.contract && !sealed.state.some((a) => a.address.toLowerCase() === exc.contract.toLowerCase())) {
    return `chain.contracts.${names[exc.contract.toLowerCase()] || exc.contract}`;
  }
  if (!exc.call) return 'state';
  const data = fromHex(exc.call.data, null, 'data');
  const sel = toHex(data.subarray(0, 4));
  const method = Object.keys(VIEWS).find((m) => toHex(selectorOf(m)) === sel);
  const word = (i) => data.subarray(4 + 32 * i, 4 + 32 * i + 32);
  if (method === 'keyInfo' || method === 'wasValidSigner') {
    const signer = toHex(word(method === 'keyInfo' ? 0 : 1).subarray(12)).toLowerCase();
    const separator = domainSeparator(sealed.chainId, sealed.contracts.Consortium);
    for (let i = 0; i < ev.captures.length; i++) {
      const c = ev.captures[i];
      try {
        const cap = { eventsRoot: fromHex(c.eventsRoot), count: c.count, org: fromHex(c.org), nonce: c.nonce, signedAt: c.signedAt };
        if (recoverSigner(captureDigest(separator, cap), fromHex(c.signature)).toLowerCase() === signer) return `evidence.captures[${i}]`;
      } catch { /* not this one */ }
    }
  }
  if (method === 'anchorOf') {
    const root = toHex(word(0));
    const i = ev.captures.findIndex((c) => c.anchor && c.anchor.batchRoot === root);
    if (i >= 0) return `evidence.captures[${i}].anchor.batchRoot`;
  }
  if (method === 'organisation') {
    const org = toHex(word(0));
    const i = ev.captures.findIndex((c) => c.org === org);
    return i >= 0 ? `evidence.captures[${i}].org` : 'evidence.events';
  }
  if (sealed.kind === 'consignment') {
    if (['decisionCount', 'latestDecision', 'decisionAt'].includes(method)) return 'evidence.consignment.key';
    if (method === 'lotOf' || method === 'gtinOwner') return 'evidence.events';
  }
  if (method === 'decisionCount' || method === 'latestDecision') {
    const consignment = toHex(word(0));
    const i = ev.customs.findIndex((c) => c.consignment === consignment);
    if (i >= 0) return `evidence.customs[${i}].consignment`;
  }
  if (method === 'lotOf') return 'evidence.registration.lot';
  if (method === 'gtinOwner' || method === 'conditionsCount' || method === 'conditionsAt') return 'evidence.code';
  return `state (${method || sel})`;
}

const selectorOf = (method) => keccak(utf8(VIEWS[method][1])).subarray(0, 4);

function placeOfCheck(sealed, c) {
  const ev = sealed.proof;
  const subject = c.subject || '';
  if (subject.startsWith('ni:///sha-256;')) {
    const i = ev.events.findIndex((e) => e.eventId && e.eventId.split('?')[0] === subject);
    if (i >= 0) return `evidence.events[${i}]`;
  }
  if (subject.startsWith('event 0x')) {
    const i = ev.events.findIndex((e) => e.commitment === subject.slice('event '.length));
    if (i >= 0) return `evidence.events[${i}]`;
  }
  if (subject.startsWith('capture ')) return `evidence.captures[${subject.slice('capture '.length)}]`;
  if (subject.startsWith('customs ')) return `evidence.customs[${subject.slice('customs '.length)}]`;
  if (sealed.kind === 'consignment') {
    return { 'consignment.id': 'evidence.consignment', 'bundle.chain': 'chain', 'customs.decision': 'evidence.consignment.key',
      'customs.cover': 'evidence.customs', 'customs.record': 'evidence.events' }[c.name] || 'evidence.events';
  }
  return { 'code.format': 'evidence.code', 'bundle.code': 'evidence.code', 'code.registered': 'evidence.registration',
    'code.prefix_owner': 'evidence.registration', 'lot.status': 'evidence.registration.lot',
    'customs.decision': 'evidence.customs', 'journey.complete': 'evidence.events' }[c.name] || 'evidence';
}

// Each customs decision the bundle cites must check on its own (verifier/sealed.py
// `_unused_evidence`): a sealed bundle holds only evidence that checks.
async function unusedEvidence(sealed, provider) {
  const ev = sealed.proof;
  const ids = new Set(ev.events.map((e) => e.commitment));
  const reader = new ChainReader(provider, sealed.contracts);
  await reader.pin();
  for (let i = 0; i < ev.customs.length; i++) {
    const claim = ev.customs[i];
    if (!ids.has(claim.commitment)) return [`evidence.customs[${i}].commitment`, 'names no event of the bundle'];
    const consignment = fromHex(claim.consignment, 32);
    const [count] = await reader.read('decisionCount', [consignment]);
    if (!count) return [`evidence.customs[${i}].consignment`, 'no decision on CustomsRelease'];
    const [root] = await reader.read('latestDecision', [consignment]);
    const proof = claim.proof.map((p) => fromHex(p, 32));
    if (!equal(processProof(eventLeaf(fromHex(claim.commitment, 32)), proof), root)) {
      return [`evidence.customs[${i}].proof`, "does not lead to the decision's eventsRoot"];
    }
  }
  return null;
}

function notChecked(sealed) {
  if (!sealed || sealed.kind !== 'consignment') return [...NOT_CARRIED];
  return [...NOT_CARRIED_CONSIGNMENT, ...(sealed.proof.disclosure === 'trade' ? NOT_DISCLOSED_TRADE : [])];
}

function refused(reason, place, sealed = null) {
  return { result: 'REFUSED', reason, place, ...(sealed ? blockInfo(sealed, null, null) : {}), failures: [], toConfirm: [],
    notChecked: notChecked(sealed), verdict: null };
}

function blockInfo(sealed, blockOk, deploymentOk) {
  const h = sealed.header;
  return {
    block: { number: h.number, hash: toHex(sealed.blockHash), timestamp: h.timestamp, time: iso(h.timestamp), fork: h.fork, confirmed: blockOk },
    deployment: { chainId: sealed.chainId, contracts: sealed.contracts, confirmed: deploymentOk },
    code: sealed.proof.code,
    kind: sealed.kind,
    ...(sealed.kind === 'consignment' ? { disclosure: sealed.proof.disclosure } : {}),
  };
}

/**
 * Check sealed evidence (the file's bytes) with no network. `trust`: the block hash (bytes)
 * the reader confirmed on a node it trusts; `manifest`: parseManifest(deployment.json).
 * Resolves to {result, reason, place?, block, deployment, verdict, failures, toConfirm,
 * notChecked, ms}: `result` is a verdict kind or "REFUSED".
 */
export async function checkSealed(raw, { trust = null, manifest = null } = {}) {
  const started = (globalThis.performance || Date).now();
  const timed = (r) => ({ ...r, ms: (globalThis.performance || Date).now() - started });
  let sealed;
  try {
    sealed = parseSealed(raw);
  } catch (exc) {
    if (!(exc instanceof PlaceError)) throw exc;
    return timed(refused(exc.message, exc.place));
  }
  let proven;
  try {
    proven = await provenState(sealed);
  } catch (exc) {
    if (!(exc instanceof PlaceError)) throw exc;
    return timed(refused(exc.message, exc.place, sealed));
  }
  const provider = new ProvenProvider(sealed, proven);
  const config = { rpcUrl: `sealed evidence, block ${sealed.header.number}`, chainId: sealed.chainId, contracts: sealed.contracts };
  let verdict;
  let unused;
  try {
    if (sealed.kind === 'consignment') {
      verdict = await verifyConsignment(sealed, provider, sealed.header.timestamp);
    } else {
      verdict = await verify(sealed.proof.code, sealed.proof, config, { rpc: provider, now: sealed.header.timestamp });
    }
    unused = await unusedEvidence(sealed, provider);
  } catch (exc) {
    if (!(exc instanceof UnprovenReadError)) throw exc;
    return timed(refused(exc.message, placeOfRead(sealed, exc), sealed));
  }
  if (unused !== null) return timed(refused(unused[1], unused[0], sealed));
  // The browser's own `chain.node` check names the sealed block; it is not the Python checker's.
  verdict.checks = verdict.checks.filter((c) => c.name !== 'chain.node');
  const failures = verdict.checks.filter((c) => c.outcome !== 'PASS' && c.outcome !== 'SKIPPED')
    .map((c) => ({ place: placeOfCheck(sealed, c), check: c.name, reason: c.reason }));
  const blockOk = trust === null ? null : equal(trust, sealed.blockHash);
  const [deploymentOk, deploymentWhy] = deployment(sealed, manifest);
  const h = sealed.header;
  const hash = toHex(sealed.blockHash);
  const toConfirm = [];
  if (blockOk === null) toConfirm.push({ what: 'block', number: h.number, chainId: sealed.chainId, hash });
  if (deploymentOk === null) toConfirm.push({ what: 'deployment', chainId: sealed.chainId, contracts: sealed.contracts });
  let result = verdict.verdict;
  let reason = verdict.reason;
  let unproven = null;
  if (blockOk === false) {
    result = 'UNVERIFIED';
    unproven = 'block';
    reason = `unproven: the bundle is proven against block ${hash}, not against the block you trust (${toHex(trust)})`;
  } else if (deploymentOk === false) {
    result = 'UNVERIFIED';
    unproven = 'deployment';
    reason = `unproven: ${deploymentWhy}`;
  } else if (blockOk === null || deploymentOk === null) {
    result = 'UNVERIFIED';
    unproven = blockOk === null ? 'unconfirmed-block' : 'unconfirmed-deployment';
    reason = `unproven until confirmed: ${verdict.verdict} if block ${h.number} (hash ${hash}) and the Consortium address ${sealed.contracts.Consortium} on chain ${sealed.chainId} are confirmed on any consortium node`;
  }
  return timed({
    result, reason, unproven, ...blockInfo(sealed, blockOk, deploymentOk), verdict, failures, toConfirm,
    notChecked: notChecked(sealed), calls: provider.calls,
  });
}
