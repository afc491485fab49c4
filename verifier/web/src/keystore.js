// The CLI's encrypted key file (Web3 Secret Storage v3), unlocked in the page: the private key
// stays in the page's memory. Shared by the log-in page and the console pages' key-file path.
import { secp256k1 } from '@noble/curves/secp256k1';
import { pbkdf2Async } from '@noble/hashes/pbkdf2';
import { scryptAsync } from '@noble/hashes/scrypt';
import { sha256 } from '@noble/hashes/sha2';
import { keccak_256 } from '@noble/hashes/sha3';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils';

// EIP-55 mixed-case checksum: SIWE requires it in the message.
export function checksumAddress(hex) {
  const lower = hex.toLowerCase().replace(/^0x/, '');
  const hash = bytesToHex(keccak_256(utf8ToBytes(lower)));
  let out = '0x';
  for (let i = 0; i < 40; i++) out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
  return out;
}

export function addressOf(privateKey) {
  const pub = secp256k1.getPublicKey(privateKey, false).slice(1);
  return checksumAddress(bytesToHex(keccak_256(pub).slice(12)));
}

// EIP-191 version 0x45 (`personal_sign`), as a wallet signs: r ‖ s ‖ v (27/28).
export function personalSign(privateKey, message) {
  const bytes = utf8ToBytes(message);
  const prefix = utf8ToBytes(`\x19Ethereum Signed Message:\n${bytes.length}`);
  const digest = keccak_256(new Uint8Array([...prefix, ...bytes]));
  const sig = secp256k1.sign(digest, privateKey, { lowS: true });
  return '0x' + bytesToHex(sig.toCompactRawBytes()) + (27 + sig.recovery).toString(16);
}

// Web3 Secret Storage v3: derive, check the MAC, decrypt (AES-128-CTR through WebCrypto).
export async function unlockKeystore(json, passphrase, messages = {}) {
  const T = { badFile: 'Not a Web3 keystore (v3) file.', wrongPass: 'Wrong passphrase or not a key file.', ...messages };
  const crypto_ = json.crypto || json.Crypto;
  if (!crypto_ || json.version !== 3) throw new Error(T.badFile);
  const p = crypto_.kdfparams;
  const pass = utf8ToBytes(passphrase.normalize('NFKC'));
  const salt = hexToBytes(p.salt);
  let derived;
  if (crypto_.kdf === 'scrypt') {
    derived = await scryptAsync(pass, salt, { N: p.n, r: p.r, p: p.p, dkLen: p.dklen, maxmem: 2 ** 31 });
  } else if (crypto_.kdf === 'pbkdf2' && p.prf === 'hmac-sha256') {
    derived = await pbkdf2Async(sha256, pass, salt, { c: p.c, dkLen: p.dklen });
  } else {
    throw new Error(T.badFile);
  }
  const ciphertext = hexToBytes(crypto_.ciphertext);
  const mac = bytesToHex(keccak_256(new Uint8Array([...derived.slice(16, 32), ...ciphertext])));
  if (mac !== crypto_.mac.toLowerCase()) throw new Error(T.wrongPass);
  if (crypto_.cipher !== 'aes-128-ctr') throw new Error(T.badFile);
  const key = await crypto.subtle.importKey('raw', derived.slice(0, 16), 'AES-CTR', false, ['decrypt']);
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-CTR', counter: hexToBytes(crypto_.cipherparams.iv), length: 128 }, key, ciphertext);
  derived.fill(0);
  return new Uint8Array(plain);
}
