// A member's full event shown with all its disclosures (ledger/proofs/disclosure.py
// `check_full`): the texts, parsed, must say exactly what the event says (less recordTime),
// and their sorted-pair Merkle root is the commitment the capture signed.
//
// The committed eventID must equal the id the evidence names; the caller (verify.js
// `fullFacts`) has already recomputed that id from the event (./event_hash.js).
import { keccak, hashPair, utf8 } from './bytes.js';
import { parse, fold, DisclosureError, LIST_FIELDS, isObject } from './disclosure.js';

const EVENT_ID = 'eventID';
const UNCOMMITTED = new Set(['recordTime']);
const MAX_ITEMS = 1 << 20;

/** ledger/proofs/merkle.py `MerkleTree.build(...).root`: sorted pairs, an odd node carried up. */
export function merkleRoot(leaves) {
  let level = leaves;
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(hashPair(level[i], level[i + 1]));
    if (level.length % 2) next.push(level[level.length - 1]);
    level = next;
  }
  return level[0];
}

function sortedJson(v) {
  if (Array.isArray(v)) return '[' + v.map(sortedJson).join(',') + ']';
  if (isObject(v)) {
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + sortedJson(v[k])).join(',') + '}';
  }
  return JSON.stringify(typeof v === 'bigint' ? Number(v) : v);
}

/** The commitment of `event` (its JSON object) shown with all its disclosure `texts`, whose
 * committed id must be `eventId` (the ni: URI); throws DisclosureError. */
export function checkFull(event, eventId, texts, where = 'event') {
  if (!texts.length) throw new DisclosureError(`${where} has no disclosures`);
  if (texts.length > MAX_ITEMS) throw new DisclosureError(`${where} has too many disclosures`);
  const parsed = texts.map((text, n) => parse(text, `${where} disclosure ${n}`).slice(1));
  const rebuilt = fold(parsed, where);
  const committed = rebuilt[EVENT_ID];
  delete rebuilt[EVENT_ID];
  if (committed !== eventId) throw new DisclosureError(`${where}: the committed event id is not the event's id`);
  const shown = {};
  for (const [name, value] of Object.entries(event)) {
    if (name === EVENT_ID || UNCOMMITTED.has(name)) continue;
    // Empty lists and an empty ilmd commit nothing per element: compare them as absent.
    const empty = (LIST_FIELDS.has(name) && Array.isArray(value) && !value.length)
      || (name === 'ilmd' && isObject(value) && !Object.keys(value).length);
    if (empty && !(name in rebuilt)) continue;
    shown[name] = value;
  }
  if (sortedJson(rebuilt) !== sortedJson(shown)) throw new DisclosureError(`${where}: its disclosures do not say what the event says`);
  return merkleRoot(texts.map((t) => keccak(utf8(t))));
}
