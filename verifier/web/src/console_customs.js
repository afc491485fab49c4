// The customs officer's console page (gateway/routes/console_customs.py): each decision is
// signed in the officer's own wallet (EIP-1193). The gateway prepares the CustomsRelease call
// and the inspecting event; the wallet sends the transaction (`eth_sendTransaction`) and signs
// the event's capture (`eth_signTypedData_v4`); the gateway then checks both against the chain.
// The page never sees a private key.
import { fill, post, sendAndWait, sessionAccount } from './console_wallet.js';

const T = JSON.parse(document.getElementById('strings').textContent);

async function act(article, form) {
  const status = form.querySelector('.status');
  const say = (text, cls = '') => { status.textContent = text; status.className = `status ${cls}`; };
  const ref = article.dataset.consignment;
  const pick = (field) => {
    const checked = form.querySelector(`input[type=radio][name^="${field}-"]:checked`);
    return checked ? checked.value : form.querySelector(`input[name="${field}"]`).value;
  };
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const account = await sessionAccount(T);
    say(T.sPreparing);
    const base = `/console/customs/${encodeURIComponent(ref)}`;
    const plan = await post(`${base}/prepare`, { decision: pick('decision'), inspection: pick('inspection') });
    say(T.sTx);
    const txHash = await sendAndWait(account, plan.tx);
    say(fill(T.sMined, { tx: txHash }));
    const signature = await window.ethereum.request({
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
