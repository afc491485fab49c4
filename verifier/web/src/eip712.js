// EIP-712 typed data (flat structs: string, bytes32, address, uint*), hashed and signed in the
// page with a key-file key, as a wallet's eth_signTypedData_v4 would sign the same object.
import { secp256k1 } from '@noble/curves/secp256k1';
import { keccak_256 } from '@noble/hashes/sha3';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils';

function word(type, value) {
  if (type === 'string') return keccak_256(utf8ToBytes(String(value)));
  if (type === 'bytes32') return hexToBytes(String(value).replace(/^0x/, '').padStart(64, '0'));
  if (type === 'address') return hexToBytes(String(value).replace(/^0x/, '').toLowerCase().padStart(64, '0'));
  if (/^uint\d+$/.test(type)) return hexToBytes(BigInt(value).toString(16).padStart(64, '0'));
  throw new Error(`EIP-712 type ${type} is not supported here`);
}

function hashStruct(name, types, message) {
  const fields = types[name];
  const typeString = `${name}(${fields.map((f) => `${f.type} ${f.name}`).join(',')})`;
  const parts = [keccak_256(utf8ToBytes(typeString)), ...fields.map((f) => word(f.type, message[f.name]))];
  const out = new Uint8Array(32 * parts.length);
  parts.forEach((p, i) => out.set(p, 32 * i));
  return keccak_256(out);
}

export function typedDataDigest(typed) {
  const domain = hashStruct('EIP712Domain', typed.types, typed.domain);
  const struct = hashStruct(typed.primaryType, typed.types, typed.message);
  return keccak_256(new Uint8Array([0x19, 0x01, ...domain, ...struct]));
}

// r ‖ s ‖ v (27/28), low s: what eth_signTypedData_v4 answers.
export function signTypedData(privateKey, typed) {
  const sig = secp256k1.sign(typedDataDigest(typed), privateKey, { lowS: true });
  return '0x' + bytesToHex(sig.toCompactRawBytes()) + (27 + sig.recovery).toString(16);
}
