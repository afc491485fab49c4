// Merkle-Patricia state proofs (eth_getProof), checked offline against a header's stateRoot
// (ledger/proofs/state_proof.py). The walk is @ethereumjs/mpt's; `brokenLink` first locates the
// node a refusal is about.
import { RLP } from '@ethereumjs/rlp';
import { verifyMerkleProof } from '@ethereumjs/mpt';
import { keccak, equal, toBigInt, uint256, toHex } from '../bytes.js';
import { PlaceError } from './place.js';

export const EMPTY_TRIE_ROOT = keccak(RLP.encode(new Uint8Array(0)));
export const EMPTY_CODE_HASH = keccak(new Uint8Array(0));

function contains(haystack, needle) {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** The index of the first node of a proof path that its parent does not reference (node 0:
 * the root), or null when every node hangs from the one before it. */
export function brokenLink(root, nodes) {
  let parent = null;
  for (let i = 0; i < nodes.length; i++) {
    const h = keccak(nodes[i]);
    if (parent === null ? !equal(h, root) : !contains(parent, h)) return i;
    parent = nodes[i];
  }
  return null;
}

async function walk(root, key, nodes, place) {
  const bad = brokenLink(root, nodes);
  if (bad !== null) {
    const what = bad === 0 ? 'does not hash to the root' : `is not referenced by node ${bad - 1}`;
    throw new PlaceError(`${place}[${bad}]`, `${place}[${bad}] ${what}`);
  }
  if (!nodes.length) {
    // An empty trie needs no node; anything else does.
    if (equal(root, EMPTY_TRIE_ROOT)) return new Uint8Array(0);
    throw new PlaceError(place, `${place} is empty`);
  }
  let value;
  try {
    value = await verifyMerkleProof(key, nodes);
  } catch (exc) {
    throw new PlaceError(place, `${place} does not prove its key: ${exc.message}`);
  }
  return value === null ? new Uint8Array(0) : value;
}

/** The account at `address` (20 bytes) as the state root commits to it (all zero if absent). */
export async function proveAccount(stateRoot, address, nodes, place) {
  const raw = await walk(stateRoot, keccak(address), nodes, place);
  if (!raw.length) return { nonce: 0n, balance: 0n, storageRoot: EMPTY_TRIE_ROOT, codeHash: EMPTY_CODE_HASH, exists: false };
  let fields;
  try {
    fields = RLP.decode(raw);
  } catch (exc) {
    throw new PlaceError(place, `${place} proves a value that is no account: ${exc.message}`);
  }
  if (!Array.isArray(fields) || fields.length !== 4 || !fields.every((f) => f instanceof Uint8Array)) {
    throw new PlaceError(place, `${place} proves a value that is no account`);
  }
  const [nonce, balance, storageRoot, codeHash] = fields;
  return { nonce: toBigInt(nonce), balance: toBigInt(balance), storageRoot, codeHash, exists: true };
}

/** The value of storage `slot` (a BigInt) as the storage root commits to it (0 if absent). */
export async function proveStorage(storageRoot, slot, nodes, place) {
  const raw = await walk(storageRoot, keccak(uint256(slot)), nodes, place);
  if (!raw.length) return 0n;
  let value;
  try {
    value = RLP.decode(raw);
  } catch (exc) {
    throw new PlaceError(place, `${place} proves a value that is not RLP: ${exc.message}`);
  }
  if (!(value instanceof Uint8Array) || value[0] === 0) throw new PlaceError(place, `${place} proves a malformed storage value`);
  return toBigInt(value);
}

export const word = (n) => toHex(uint256(n));
