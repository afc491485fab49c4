// The few view calls the verifier makes (ledger/chain/view.py), ABI-encoded by hand.
import { concat, keccak, utf8, fromHex, toHex, uint256, toBigInt } from './bytes.js';

const selector = (sig) => keccak(utf8(sig)).subarray(0, 4);

function word(type, value) {
  if (type === 'bytes32') return value;
  if (type === 'address') return concat(new Uint8Array(12), fromHex(value, 20, 'address'));
  return uint256(value);
}

// method → [contract, signature, input types, output types]
export const VIEWS = {
  keyInfo: ['Consortium', 'keyInfo(address)', ['address'], ['bytes32', 'uint64', 'uint64', 'uint64', 'uint64']],
  wasValidSigner: ['Consortium', 'wasValidSigner(bytes32,address,bytes32,uint64)', ['bytes32', 'address', 'bytes32', 'uint64'], ['bool']],
  gtinOwner: ['Consortium', 'gtinOwner(string)', ['string'], ['bytes32', 'bytes32']],
  anchorOf: ['TraceAnchor', 'anchorOf(bytes32)', ['bytes32'], ['uint64', 'uint64', 'uint32', 'address', 'bytes32']],
  lotOf: ['CodeRegistry', 'lotOf(bytes32)', ['bytes32'], ['bytes32', 'bytes32', 'bytes32', 'uint32', 'uint64', 'uint8']],
  conditionsCount: ['CodeRegistry', 'conditionsCount(bytes32)', ['bytes32'], ['uint256']],
  conditionsAt: ['CodeRegistry', 'conditionsAt(bytes32,uint256)', ['bytes32', 'uint256'], ['bytes32', 'bytes32', 'uint32', 'uint64']],
  decisionCount: ['CustomsRelease', 'decisionCount(bytes32)', ['bytes32'], ['uint256']],
  // The name the consortium admitted the organisation under (its other outputs are unused).
  organisation: ['Consortium', 'organisation(bytes32)', ['bytes32'], ['string', 'uint256', 'bool', 'bytes32', 'bool', 'bool']],
  // Every decision recorded for a consignment, oldest first (a later one never rewrites it).
  decisionAt: ['CustomsRelease', 'decisionAt(bytes32,uint256)', ['bytes32', 'uint256'], ['bytes32', 'bytes32', 'bytes32', 'address', 'uint64', 'uint8', 'uint8']],
  latestDecision: ['CustomsRelease', 'latestDecision(bytes32)', ['bytes32'], ['bytes32', 'bytes32', 'bytes32', 'address', 'uint64', 'uint8', 'uint8']],
};

/** Call data of `method(args)`; a single string argument is the only dynamic case. */
export function encodeCall(method, args) {
  const [, sig, types] = VIEWS[method];
  if (types.length === 1 && types[0] === 'string') {
    const raw = utf8(args[0]);
    const padded = new Uint8Array(Math.ceil(raw.length / 32) * 32);
    padded.set(raw);
    return toHex(concat(selector(sig), uint256(32), uint256(raw.length), padded));
  }
  return toHex(concat(selector(sig), ...types.map((t, i) => word(t, args[i]))));
}

/** Decode the static outputs of `method` from the eth_call result. */
export function decodeResult(method, hex) {
  const out = VIEWS[method][3];
  const data = fromHex(hex, null, `${method} result`);
  if (data.length < 32 * out.length) throw new Error(`${method} returned ${data.length} bytes`);
  return out.map((type, i) => {
    const w = data.subarray(32 * i, 32 * i + 32);
    if (type === 'bytes32') return w.slice();
    if (type === 'address') return toHex(w.subarray(12));
    if (type === 'bool') return toBigInt(w) !== 0n;
    if (type === 'string') {
      const at = Number(toBigInt(w));
      if (at + 32 > data.length) throw new Error(`${method} returned a bad string offset`);
      const n = Number(toBigInt(data.subarray(at, at + 32)));
      if (at + 32 + n > data.length) throw new Error(`${method} returned a bad string length`);
      return new TextDecoder('utf-8', { fatal: false }).decode(data.subarray(at + 32, at + 32 + n));
    }
    return Number(toBigInt(w));
  });
}

export const contractOf = (method) => VIEWS[method][0];
