// The operator's console page: governance proposals on Consortium, signed and sent in the
// officer's wallet (EIP-1193 `eth_sendTransaction`). The gateway builds and dry-runs the call
// from the session's key (gateway/routes/console_operator.py); the contract checks ADMIN.

const STRINGS = {
  en: {
    title: 'Zhenzhi · operator console', back: 'Console', proposals: 'Governance proposals',
    quorumNow: 'Approvals needed (quorum):', kind: 'Kind', role: 'Role', key: 'Key',
    prefix: 'Company prefix', quorum: 'Quorum', propose: 'Propose (sign in wallet)',
    organisation: 'Organisation', args: 'Details', approvals: 'Approvals', state: 'State',
    state_open: 'open', state_executed: 'executed', state_expired: 'expired',
    approve: 'Approve (sign in wallet)', execute: 'Execute (sign in wallet)', none: 'No proposals yet.',
    members: 'Members and keys', roles: 'Roles', prefixes: 'Company prefixes', keys: 'Signing keys',
    keyActive: 'active', keyRevoked: 'revoked', anchoring: 'Anchoring',
    pending: 'Waiting to be anchored (events / captures)', lag: 'Anchoring lag',
    batches: 'Batches anchored', lastBatch: 'Last batch (root · block · events · age)',
    needsAdmin: 'This page is for the consortium operator (the ADMIN role).',
    preparing: 'Checking the transaction…', signing: 'Sign and send the transaction in your wallet…',
    waiting: 'Waiting for the block…', done: 'Done on chain: ', reverted: 'The chain refused the transaction: ',
    noWallet: 'No wallet in this browser (window.ethereum): log in with a wallet to sign.',
    wrongAccount: 'The wallet account is not the key you logged in with: ', refused: 'Refused: ',
  },
  'zh-Hans': {
    title: '真知 · 运营控制台', back: '控制台', proposals: '治理提案',
    quorumNow: '所需批准数（法定数）：', kind: '类型', role: '角色', key: '密钥',
    prefix: '厂商识别代码', quorum: '法定数', propose: '提出提案（钱包签名）',
    organisation: '单位', args: '内容', approvals: '批准', state: '状态',
    state_open: '待批', state_executed: '已执行', state_expired: '已过期',
    approve: '批准（钱包签名）', execute: '执行（钱包签名）', none: '尚无提案。',
    members: '成员与密钥', roles: '角色', prefixes: '厂商识别代码', keys: '签名密钥',
    keyActive: '有效', keyRevoked: '已吊销', anchoring: '上链锚定',
    pending: '待锚定（事件 / 提交）', lag: '锚定延迟', batches: '已锚定批次',
    lastBatch: '最近批次（根 · 区块 · 事件数 · 距今）',
    needsAdmin: '本页面供联盟运营方（ADMIN 角色）使用。',
    preparing: '正在核对交易…', signing: '请在钱包中签名并发送交易…',
    waiting: '正在等待出块…', done: '已上链：', reverted: '链上拒绝了该交易：',
    noWallet: '本浏览器没有钱包（window.ethereum）：请用钱包登录后签名。',
    wrongAccount: '钱包账户不是登录所用的密钥：', refused: '被拒绝：',
  },
};

function language() {
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked && STRINGS[asked]) return asked;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-Hans' : 'en';
}
const LANG = language();
const T = STRINGS[LANG];

function status(text, error = false) {
  const el = document.getElementById('status');
  el.textContent = text;
  el.className = error ? 'error' : '';
}

async function problemText(response) {
  try {
    const p = await response.json();
    return p.detail || p.title || String(response.status);
  } catch {
    return String(response.status);
  }
}

async function post(path, body) {
  const response = await fetch(path, {
    method: 'POST', credentials: 'same-origin', cache: 'no-store',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body || {}),
  });
  if (!response.ok) throw new Error(T.refused + await problemText(response));
  return response.json();
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

async function signAndSend(signer, path, body) {
  const eth = window.ethereum;
  if (!eth) throw new Error(T.noWallet);
  const [account] = await eth.request({ method: 'eth_requestAccounts' });
  if (account.toLowerCase() !== signer.toLowerCase()) throw new Error(T.wrongAccount + account);
  status(T.preparing);
  const { tx } = await post(path, body);
  status(T.signing);
  const hash = await eth.request({ method: 'eth_sendTransaction', params: [tx] });
  status(T.waiting);
  for (;;) {
    const response = await fetch(`/console/operator/tx/${hash}`, { cache: 'no-store', credentials: 'same-origin' });
    if (!response.ok) throw new Error(T.refused + await problemText(response));
    const outcome = await response.json();
    if (outcome.status === 'ok') break;
    if (outcome.status === 'reverted') throw new Error(T.reverted + hash);
    await sleep(500);
  }
  status(T.done + hash);
  document.body.dataset.sent = hash;
  setTimeout(() => location.reload(), 500);
}

function start() {
  document.documentElement.lang = LANG;
  for (const el of document.querySelectorAll('[data-i18n]')) {
    const text = T[el.dataset.i18n];
    if (text) el.textContent = text;
  }
  document.title = T.title;
  const form = document.getElementById('propose-form');
  if (!form) return;
  const { signer } = JSON.parse(document.getElementById('console-config').textContent);
  const buttons = () => [...document.querySelectorAll('button')];
  const busy = async (work) => {
    buttons().forEach((b) => { b.disabled = true; });
    try {
      await work();
    } catch (err) {
      status(err && err.message ? err.message : String(err), true);
    } finally {
      buttons().forEach((b) => { b.disabled = false; });
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const kind = form.kind.value;
    const body = { kind };
    if (kind !== 'SET_QUORUM') body.gln = form.gln.value.trim();
    if (kind === 'GRANT_ROLE' || kind === 'REVOKE_ROLE') body.role = form.role.value;
    if (kind === 'ADD_KEY') body.key = form.key.value.trim();
    if (kind === 'ASSIGN_PREFIX') body.prefix = form.prefix.value.trim();
    if (kind === 'SET_QUORUM') body.quorum = Number(form.quorum.value);
    busy(() => signAndSend(signer, '/console/operator/proposals', body));
  });
  for (const button of document.querySelectorAll('button.approve, button.execute')) {
    const action = button.classList.contains('approve') ? 'approve' : 'execute';
    button.addEventListener('click', () => busy(() => signAndSend(
      signer, `/console/operator/proposals/${button.dataset.id}/${action}`)));
  }
}

start();
