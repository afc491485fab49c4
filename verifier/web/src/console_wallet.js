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
