// The regulator's console page (gateway/routes/console_regulator.py): a grade or blacklist
// change is a Consortium transaction the gateway prepares and the regulator's own wallet
// (EIP-1193) signs and sends. The page never sees a private key. Complaint triage is a plain
// console POST (same-origin session), no wallet.
import { fill, post, sendAndWait, sessionAccount } from './console_wallet.js';

const T = JSON.parse(document.getElementById('strings').textContent);

async function act(row, form, action) {
  const status = form.querySelector('.status');
  const say = (text, cls = '') => { status.textContent = text; status.className = `status ${cls}`; };
  const reason = form.querySelector('input[name=reason]').value.trim();
  if (!reason) { say(T.sReason, 'error'); return; }
  const buttons = form.querySelectorAll('button');
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const account = await sessionAccount(T);
    say(T.sPreparing);
    const plan = await post('/console/regulator/prepare', {
      action, org: row.dataset.org, reason,
      grade: action === 'grade' ? form.querySelector('select[name=grade]').value : null,
    });
    say(T.sTx);
    const tx = await sendAndWait(account, plan.tx);
    row.dataset.recorded = tx;
    say(fill(T.sDone, { tx }), 'done');
    // The chain keeps keccak256(reason) for a blacklisting and nothing for a grade: the text
    // is kept by the gateway with the mined transaction (shown against the hash on chain).
    await post('/console/regulator/reasons', { txHash: tx, reason });
    say(fill(T.sReasonKept, { tx }), 'done');
    // Reload to show the chain's new state and history; `done` names the transaction.
    const next = new URL(location.href);
    next.searchParams.set('done', tx);
    location.assign(next.toString());
  } catch (err) {
    say(fill(T.sError, { detail: err && err.message ? err.message : String(err) }), 'error');
    buttons.forEach((b) => { b.disabled = false; });
  }
}

for (const row of document.querySelectorAll('#enterprises tbody tr')) {
  const form = row.querySelector('form.act');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(row, form, (e.submitter && e.submitter.value) || 'grade');
  });
}

const recallForm = document.getElementById('recall-form');
if (recallForm) {
  recallForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const status = recallForm.querySelector('.status');
    const say = (text, cls = '') => { status.textContent = text; status.className = `status ${cls}`; };
    const button = recallForm.querySelector('button');
    button.disabled = true;
    try {
      const account = await sessionAccount(T);
      say(T.sPreparing);
      const value = (name) => recallForm.querySelector(`input[name=${name}]`).value.trim();
      const plan = await post('/console/regulator/recall',
        { gtin: value('gtin'), lot: value('lot'), reason: value('reason') });
      say(T.sTx);
      const tx = await sendAndWait(account, plan.tx);
      recallForm.dataset.recorded = tx;
      say(fill(T.sDone, { tx }), 'done');
      location.assign(plan.scope);
    } catch (err) {
      say(fill(T.sError, { detail: err && err.message ? err.message : String(err) }), 'error');
      button.disabled = false;
    }
  });
}

// Complaint triage: open → investigating → resolved | rejected; the gateway refuses any other.
for (const form of document.querySelectorAll('#triage form.triage')) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const row = form.closest('tr');
    const status = form.querySelector('.status');
    const say = (text, cls = '') => { status.textContent = text; status.className = `status ${cls}`; };
    const to = form.querySelector('select[name=status]').value;
    const box = form.querySelector('textarea[name=outcome]');
    const outcome = box ? box.value.trim() : '';
    if ((form.dataset.final || '').split(' ').includes(to) && !outcome) { say(T.sOutcome, 'error'); return; }
    const button = form.querySelector('button');
    button.disabled = true;
    try {
      const done = await post(`/console/regulator/complaints/${row.dataset.complaint}/status`,
        { status: to, outcome: outcome || null });
      row.dataset.status = done.complaint.status;
      say(fill(T.sSaved, { status: done.complaint.status }), 'done');
      location.reload();
    } catch (err) {
      say(fill(T.sError, { detail: err && err.message ? err.message : String(err) }), 'error');
      button.disabled = false;
    }
  });
}
