// The customs officer's console page (gateway/routes/console_customs.py): each decision is
// signed in the officer's own wallet (EIP-1193). The gateway prepares the CustomsRelease call
// and the inspecting event; the wallet sends the transaction (`eth_sendTransaction`) and signs
// the event's capture (`eth_signTypedData_v4`); the gateway then checks both against the chain.
// The page never sees a private key.

const T = JSON.parse(document.getElementById('strings').textContent);
const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));

async function post(path, body) {
  const response = await fetch(path, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(json.detail || json.title || `HTTP ${response.status}`);
  return json;
}

async function mined(ethereum, hash) {
  // Generous: a wallet's node may be slow; the chain decides, not a timer's guess.
  for (let i = 0; i < 600; i++) {
    const receipt = await ethereum.request({ method: 'eth_getTransactionReceipt', params: [hash] });
    if (receipt) {
      if (receipt.status !== '0x1' && receipt.status !== 1) throw new Error(`transaction ${hash} reverted`);
      return receipt;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`transaction ${hash} not mined`);
}

async function act(article, form) {
  const status = form.querySelector('.status');
  const say = (text, cls = '') => { status.textContent = text; status.className = `status ${cls}`; };
  const ref = article.dataset.consignment;
  const pick = (field) => {
    const checked = form.querySelector(`input[type=radio][name^="${field}-"]:checked`);
    return checked ? checked.value : form.querySelector(`input[name="${field}"]`).value;
  };
  const ethereum = window.ethereum;
  if (!ethereum) { say(T.sNoWallet, 'error'); return; }
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const signer = document.body.dataset.signer;
    const [account] = await ethereum.request({ method: 'eth_requestAccounts' });
    if (!account || account.toLowerCase() !== signer.toLowerCase()) {
      throw new Error(fill(T.sWrongAccount, { account, signer }));
    }
    say(T.sPreparing);
    const base = `/console/customs/${encodeURIComponent(ref)}`;
    const plan = await post(`${base}/prepare`, { decision: pick('decision'), inspection: pick('inspection') });
    say(T.sTx);
    const txHash = await ethereum.request({
      method: 'eth_sendTransaction',
      params: [{ from: account, to: plan.tx.to, data: plan.tx.data, chainId: plan.tx.chainId }],
    });
    await mined(ethereum, txHash);
    say(fill(T.sMined, { tx: txHash }));
    const signature = await ethereum.request({
      method: 'eth_signTypedData_v4', params: [account, JSON.stringify(plan.typedData)],
    });
    const done = await post(`${base}/record`, {
      txHash, document: plan.document, seed: plan.seed, nonce: plan.nonce,
      signedAt: plan.signedAt, signature,
    });
    article.dataset.recorded = txHash;
    say(fill(T.sDone, { decision: T[plan.decision], tx: txHash, event: done.eventIDs[0] }), 'done');
  } catch (err) {
    say(fill(T.sError, { detail: err && err.message ? err.message : String(err) }), 'error');
    button.disabled = false;
  }
}

for (const article of document.querySelectorAll('article.item')) {
  const form = article.querySelector('form.act');
  form.addEventListener('submit', (e) => { e.preventDefault(); act(article, form); });
}
