// Bytes, keccak256 and sorted-pair Merkle proofs (ledger/proofs/merkle.py).
import { keccak_256 } from '@noble/hashes/sha3';

export const utf8 = (text) => new TextEncoder().encode(text);

export function keccak(data) {
  return keccak_256(data);
}

export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const HEX = /^0[xX]([0-9a-fA-F]{2})*$/;

export class ShapeError extends Error {}

/** 0x-hex → bytes; `size` checks the length; throws ShapeError naming `what`. */
export function fromHex(value, size, what = 'value') {
  if (typeof value !== 'string' || !HEX.test(value)) throw new ShapeError(`${what} must be 0x-hex`);
  const out = new Uint8Array((value.length - 2) / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(value.substr(2 + 2 * i, 2), 16);
  if (size != null && out.length !== size) throw new ShapeError(`${what} must be ${size} bytes, got ${out.length}`);
  return out;
}

export function toHex(bytes) {
  let s = '0x';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function equal(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function less(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

// Parents already computed, by the exact 64 bytes hashed. A proof's paths share their upper
// nodes (the disclosures of one event meet below its commitment, the events of one capture
// below its eventsRoot): folded one path at a time, a 17-event journey hashed ~800 pairs, most
// of them twice or more. keccak256 is a function of its input, so the memo changes no answer.
const parents = new Map();
const latin1 = (bytes) => String.fromCharCode.apply(null, bytes);

export function hashPair(a, b) {
  const [x, y] = less(a, b) ? [a, b] : [b, a];
  const key = latin1(x) + latin1(y);
  let parent = parents.get(key);
  if (parent === undefined) {
    parent = keccak(concat(x, y));
    if (parents.size >= 65536) parents.clear();
    parents.set(key, parent);
  }
  return parent.slice(); // a copy: no caller can alter what the memo holds
}

export function processProof(leaf, proof) {
  let node = leaf;
  for (const sibling of proof) node = hashPair(node, sibling);
  return node;
}

export function uint256(n) {
  let v = BigInt(n);
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

export function toBigInt(bytes) {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

export const isZero = (bytes) => bytes.every((b) => b === 0);
