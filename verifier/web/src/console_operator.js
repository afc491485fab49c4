// The operator's console page: governance proposals on Consortium, signed and sent in the
// officer's wallet (EIP-1193 `eth_sendTransaction`), or signed here with the CLI's key file
// unlocked in the page (an EIP-1559 transaction the gateway relays only if its sender is the
// session's key and it goes to Consortium). The gateway builds and dry-runs the call from the
// session's key (gateway/routes/console_operator.py); the contract checks ADMIN.
import { RLP } from '@ethereumjs/rlp';
import { secp256k1 } from '@noble/curves/secp256k1';
import { keccak_256 } from '@noble/hashes/sha3';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils';
import { addressOf, unlockKeystore } from './keystore.js';
import { pageStrings, postJson, problemText, status } from './console_page.js';

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
    keyFileTitle: 'Or sign with the key file', keyFileButton: 'Unlock for this page', passphrase: 'Passphrase',
    unlocked: 'Key unlocked in this page: transactions are signed here and relayed by the gateway.',
    unlocking: 'Unlocking the key file…', wrongPass: 'Wrong passphrase or not a key file.',
    badFile: 'Not a Web3 keystore (v3) file.', relaying: 'Relaying the signed transaction…',
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
    keyFileTitle: '或用密钥文件签名', keyFileButton: '在本页解锁', passphrase: '口令',
    unlocked: '密钥已在本页解锁：交易在本页签名，由网关转发。',
    unlocking: '正在解锁密钥文件…', wrongPass: '口令错误，或不是密钥文件。',
    badFile: '不是 Web3 密钥文件（v3）。', relaying: '正在转发已签名的交易…',
  },
};

const { LANG, T } = pageStrings(STRINGS);

const post = (path, body) => postJson(path, body, T.refused);

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

let pageKey = null; // the key file's key, when unlocked in this page

const int = (n) => (BigInt(n) === 0n ? new Uint8Array() : hexToBytes(BigInt(n).toString(16).padStart(
  BigInt(n).toString(16).length + (BigInt(n).toString(16).length % 2), '0')));

// An EIP-1559 (type 2) transaction, signed: 0x02 ‖ rlp([chainId, nonce, tip, maxFee, gas, to,
// value, data, accessList, yParity, r, s]).
export function signEip1559(key, tx, f) {
  const fields = [int(f.chainId), int(f.nonce), int(f.maxPriorityFeePerGas), int(f.maxFeePerGas),
    int(f.gas), hexToBytes(tx.to.slice(2)), new Uint8Array(), hexToBytes(tx.data.slice(2)), []];
  const unsigned = new Uint8Array([2, ...RLP.encode(fields)]);
  const sig = secp256k1.sign(keccak_256(unsigned), key, { lowS: true });
  const signed = RLP.encode([...fields, int(sig.recovery), int(sig.r), int(sig.s)]);
  return '0x02' + bytesToHex(signed);
}

async function sendWith(tx, keyFile) {
  if (pageKey) {
    status(T.relaying);
    const { txHash } = await post('/console/operator/relay',
      { rawTransaction: signEip1559(pageKey, tx, keyFile) });
    return txHash;
  }
  status(T.signing);
  return window.ethereum.request({ method: 'eth_sendTransaction', params: [tx] });
}

async function signAndSend(signerAddress, path, body) {
  if (pageKey) {
    if (addressOf(pageKey).toLowerCase() !== signerAddress.toLowerCase()) throw new Error(T.wrongAccount + addressOf(pageKey));
  } else {
    const eth = window.ethereum;
    if (!eth) throw new Error(T.noWallet);
    const [account] = await eth.request({ method: 'eth_requestAccounts' });
    if (account.toLowerCase() !== signerAddress.toLowerCase()) throw new Error(T.wrongAccount + account);
  }
  status(T.preparing);
  const { tx, keyFile } = await post(path, body);
  const hash = await sendWith(tx, keyFile);
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
  if (pageKey) {
    // Kept in memory only: a reload would drop it, so refresh the tables in place.
    const fresh = new DOMParser().parseFromString(await (await fetch(location.href,
      { cache: 'no-store', credentials: 'same-origin' })).text(), 'text/html');
    for (const id of ['proposals-table', 'operator-members', 'anchoring-table']) {
      document.getElementById(id).replaceWith(fresh.getElementById(id));
    }
    translate(document);
    bindProposals();
  } else {
    setTimeout(() => location.reload(), 500);
  }
}

function translate(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const text = T[el.dataset.i18n];
    if (text) el.textContent = text;
  }
}

const buttons = () => [...document.querySelectorAll('button')];
async function busy(work) {
  buttons().forEach((b) => { b.disabled = true; });
  try {
    await work();
  } catch (err) {
    status(err && err.message ? err.message : String(err), true);
  } finally {
    buttons().forEach((b) => { b.disabled = false; });
  }
}

function signer() {
  return JSON.parse(document.getElementById('console-config').textContent).signer;
}

// The approve and execute buttons of the proposals table (bound again when it is refreshed).
function bindProposals() {
  translate(document.getElementById('proposals-table'));
  for (const button of document.querySelectorAll('button.approve, button.execute')) {
    const action = button.classList.contains('approve') ? 'approve' : 'execute';
    button.addEventListener('click', () => busy(() => signAndSend(
      signer(), `/console/operator/proposals/${button.dataset.id}/${action}`)));
  }
}

function start() {
  document.documentElement.lang = LANG;
  translate(document);
  document.title = T.title;
  const form = document.getElementById('propose-form');
  if (!form) return;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const kind = form.kind.value;
    const body = { kind };
    if (kind !== 'SET_QUORUM') body.gln = form.gln.value.trim();
    if (kind === 'GRANT_ROLE' || kind === 'REVOKE_ROLE') body.role = form.role.value;
    if (kind === 'ADD_KEY') body.key = form.key.value.trim();
    if (kind === 'ASSIGN_PREFIX') body.prefix = form.prefix.value.trim();
    if (kind === 'SET_QUORUM') body.quorum = Number(form.quorum.value);
    busy(() => signAndSend(signer(), '/console/operator/proposals', body));
  });
  const keyForm = document.getElementById('keyfile-form');
  keyForm.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(async () => {
      status(T.unlocking);
      let json;
      try {
        json = JSON.parse(await keyForm.keyfile.files[0].text());
      } catch {
        throw new Error(T.badFile);
      }
      pageKey = await unlockKeystore(json, keyForm.passphrase.value,
        { badFile: T.badFile, wrongPass: T.wrongPass });
      document.body.dataset.keyfile = 'unlocked';
      status(T.unlocked);
    });
  });
  bindProposals();
}

start();
