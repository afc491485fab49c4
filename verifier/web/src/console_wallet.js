// What every console page does with the officer's wallet (EIP-1193): check it is the key the
// session logged in with, send a transaction the gateway prepared and wait for it to be mined.
// The gateway never holds the key; the wallet signs and sends.

export const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));

export async function post(path, body) {
  const response = await fetch(path, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(json.detail || json.title || `HTTP ${response.status}`);
  return json;
}

/** The wallet's account, which must be the session's key (`document.body.dataset.signer`). */
export async function sessionAccount(T) {
  const ethereum = window.ethereum;
  if (!ethereum) throw new Error(T.sNoWallet);
  const signer = document.body.dataset.signer;
  const [account] = await ethereum.request({ method: 'eth_requestAccounts' });
  if (!account || account.toLowerCase() !== signer.toLowerCase()) {
    throw new Error(fill(T.sWrongAccount, { account, signer }));
  }
  return account;
}

export async function mined(hash) {
  // Generous: a wallet's node may be slow; the chain decides, not a timer's guess.
  for (let i = 0; i < 600; i++) {
    const receipt = await window.ethereum.request({ method: 'eth_getTransactionReceipt', params: [hash] });
    if (receipt) {
      if (receipt.status !== '0x1' && receipt.status !== 1) throw new Error(`transaction ${hash} reverted`);
      return receipt;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`transaction ${hash} not mined`);
}

/** Send `tx` ({to, data, chainId}) from `account` through the wallet; resolves once mined. */
export async function sendAndWait(account, tx) {
  const hash = await window.ethereum.request({
    method: 'eth_sendTransaction',
    params: [{ from: account, to: tx.to, data: tx.data, chainId: tx.chainId }],
  });
  await mined(hash);
  return hash;
}

// --- The keystore path: no wallet extension. The CLI's key file is unlocked in this page (the
// key stays in its memory); transactions are signed here (EIP-155 legacy) and carried by the
// gateway's relay, which refuses any not signed by the session's key. It answers the same
// EIP-1193 requests the pages make of a wallet.
import { secp256k1 } from '@noble/curves/secp256k1';
import { keccak_256 } from '@noble/hashes/sha3';
import { RLP } from '@ethereumjs/rlp';
import { addressOf, unlockKeystore } from './login.js';
import { captureDigest, domainSeparator } from './capture.js';

const hexBytes = (hex) => {
  const h = hex.replace(/^0x/, '');
  return Uint8Array.from((h.length % 2 ? '0' + h : h).match(/.{2}/g) || [], (b) => parseInt(b, 16));
};
const toHex = (bytes) => '0x' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const quantity = (n) => { const b = BigInt(n); return b === 0n ? new Uint8Array() : hexBytes(b.toString(16)); };

async function getJson(path) {
  const response = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  const json = await response.json().catch(() => null);
  if (!response.ok) throw new Error((json && (json.detail || json.title)) || `HTTP ${response.status}`);
  return json;
}

export function signLegacyTx(key, tx) {
  const fields = [quantity(tx.nonce), quantity(tx.gasPrice), quantity(tx.gas), hexBytes(tx.to),
    quantity(0), hexBytes(tx.data)];
  const chainId = BigInt(tx.chainId);
  const digest = keccak_256(RLP.encode([...fields, quantity(chainId), new Uint8Array(), new Uint8Array()]));
  const sig = secp256k1.sign(digest, key, { lowS: true });
  const v = chainId * 2n + 35n + BigInt(sig.recovery);
  return toHex(RLP.encode([...fields, quantity(v), quantity(sig.r), quantity(sig.s)]));
}

function signCapture(key, typed) {
  if (typed.primaryType !== 'Capture') throw new Error(`cannot sign ${typed.primaryType} with a key file here`);
  const d = typed.domain;
  const m = typed.message;
  const digest = captureDigest(domainSeparator(d.chainId, d.verifyingContract), {
    eventsRoot: hexBytes(m.eventsRoot), count: BigInt(m.count), org: hexBytes(m.org),
    nonce: BigInt(m.nonce), signedAt: BigInt(m.signedAt),
  });
  const sig = secp256k1.sign(digest, key, { lowS: true });
  return toHex(sig.toCompactRawBytes()) + (27 + sig.recovery).toString(16);
}

export async function keystoreProvider(json, passphrase) {
  const key = await unlockKeystore(json, passphrase);
  const address = addressOf(key);
  return {
    isKeystore: true,
    async request({ method, params }) {
      if (method === 'eth_requestAccounts' || method === 'eth_accounts') return [address];
      if (method === 'eth_sendTransaction') {
        const p = await getJson('/console/relay/params');
        const raw = signLegacyTx(key, { ...params[0], nonce: p.nonce, gasPrice: p.gasPrice, gas: 800000, chainId: p.chainId });
        return (await post('/console/relay', { raw })).hash;
      }
      if (method === 'eth_getTransactionReceipt') return getJson(`/console/relay/${params[0]}`);
      if (method === 'eth_signTypedData_v4') return signCapture(key, JSON.parse(params[1]));
      throw new Error(`unsupported ${method}`);
    },
  };
}

// The keystore panel on each console page (#keystore-wallet): unlocking it makes the key the
// page's wallet when the browser has none.
const panel = typeof document !== 'undefined' && document.getElementById('keystore-wallet');
if (panel) {
  if (window.ethereum) panel.hidden = true;
  panel.querySelector('form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const out = panel.querySelector('.status');
    try {
      const file = panel.querySelector('input[type=file]').files[0];
      const json = JSON.parse(await file.text());
      window.ethereum = await keystoreProvider(json, panel.querySelector('input[type=password]').value);
      panel.dataset.unlocked = (await window.ethereum.request({ method: 'eth_requestAccounts' }))[0];
      out.textContent = panel.dataset.unlocked;
      out.className = 'status done';
    } catch (err) {
      out.textContent = err && err.message ? err.message : String(err);
      out.className = 'status error';
    }
  });
}
