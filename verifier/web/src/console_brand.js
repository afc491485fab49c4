// The brand's console page: issue a lot's codes, sign its RegisterLot (EIP-712) in the
// officer's wallet (EIP-1193 `eth_signTypedData_v4`) or with the CLI's key file unlocked in
// the page, have the gateway relay it to CodeRegistry; reply to complaints, signed the same
// way. The gateway never sees a key: it checks the signature recovers to the session's key
// and the contract checks it again (gateway/routes/console_brand.py).
import { signTypedData } from './eip712.js';
import { addressOf, unlockKeystore } from './keystore.js';
import { pageStrings, postJson, status } from './console_page.js';

const STRINGS = {
  en: {
    title: 'Zhenzhi · brand console', back: 'Console', issueTitle: "Issue a lot's codes",
    gtin: 'GTIN', lot: 'Lot', count: 'Codes', issueButton: 'Issue, sign and register',
    issueHint: 'Your company prefixes:', lotsTitle: 'Lots and codes', issued: 'Issued',
    chainStatus: 'On CodeRegistry', labelsHead: 'Labels', labels: 'Label sheet (PDF)',
    noLots: 'No lots issued yet.', status_active: 'registered', status_unregistered: 'not registered',
    status_recalled: 'recalled', status_withdrawn: 'withdrawn',
    needsEnterprise: 'This page is for brand owners (the ENTERPRISE role).',
    issuing: 'Issuing the codes…', signing: 'Sign the lot registration (RegisterLot) in your wallet…',
    relaying: 'Registering on CodeRegistry…', done: 'Registered on CodeRegistry: ',
    noWallet: 'No wallet in this browser (window.ethereum): log in with a wallet to sign.',
    wrongAccount: 'The wallet account is not the key you logged in with: ', refused: 'Refused: ',
    clonesTitle: 'Clone alerts', serial: 'Serial', scans: 'Scans', clients: 'Distinct clients',
    places: 'Countries', lastScan: 'Last scan', noAlerts: 'No code of yours breaks the scan-history rules.',
    clonesHint: 'Codes of yours scanned by too many clients, or in too many countries within 30 days: a copied code printed on fakes.',
    keyFileTitle: 'Or sign with the key file', keyFileButton: 'Unlock for this page', passphrase: 'Passphrase',
    unlocked: 'Key unlocked in this page: signatures are made here.', unlocking: 'Unlocking the key file…',
    wrongPass: 'Wrong passphrase or not a key file.', badFile: 'Not a Web3 keystore (v3) file.',
    mapTitle: 'Scans by region', complaintsTitle: 'Complaints about your products',
    filed: 'Filed', category: 'Category', code: 'Code', complaint: 'Complaint and replies',
    cstatus: 'Status', replyButton: 'Reply (sign in wallet)', noComplaints: 'No complaints.',
    cstatus_open: 'open', cstatus_investigating: 'investigating', cstatus_resolved: 'resolved',
    cstatus_rejected: 'rejected', replySigning: 'Sign the reply in your wallet…', replied: 'Reply signed and stored.',
    cat_counterfeit: 'suspected fake', cat_quality: 'quality', cat_label: 'label or code', cat_other: 'other',
    outcome: "The regulator's outcome",
  },
  'zh-Hans': {
    title: '真知 · 品牌控制台', back: '控制台', issueTitle: '为批次发码',
    gtin: 'GTIN', lot: '批号', count: '码数', issueButton: '发码、签名并登记',
    issueHint: '贵单位的厂商识别代码：', lotsTitle: '批次与码', issued: '发码时间',
    chainStatus: '链上登记（CodeRegistry）', labelsHead: '标签', labels: '标签页（PDF）',
    noLots: '尚未发码。', status_active: '已登记', status_unregistered: '未登记',
    status_recalled: '已召回', status_withdrawn: '已撤回',
    needsEnterprise: '本页面供品牌所有者（ENTERPRISE 角色）使用。',
    issuing: '正在发码…', signing: '请在钱包中签署批次登记（RegisterLot）…',
    relaying: '正在登记到 CodeRegistry…', done: '已在 CodeRegistry 登记：',
    noWallet: '本浏览器没有钱包（window.ethereum）：请用钱包登录后签名。',
    wrongAccount: '钱包账户不是登录所用的密钥：', refused: '被拒绝：',
    clonesTitle: '克隆码预警', serial: '序列号', scans: '扫码次数', clients: '不同客户端',
    places: '国家/地区', lastScan: '最近扫码', noAlerts: '贵品牌的码均未触发扫码历史规则。',
    clonesHint: '被过多客户端扫描，或 30 天内在过多国家被扫描的码：可能被复制印在假货上。',
    keyFileTitle: '或用密钥文件签名', keyFileButton: '在本页解锁', passphrase: '口令',
    unlocked: '密钥已在本页解锁：签名在本页完成。', unlocking: '正在解锁密钥文件…',
    wrongPass: '口令错误，或不是密钥文件。', badFile: '不是 Web3 密钥文件（v3）。',
    mapTitle: '按地区的扫码', complaintsTitle: '关于贵品牌商品的投诉',
    filed: '提交时间', category: '类别', code: '码', complaint: '投诉与答复',
    cstatus: '状态', replyButton: '答复（钱包签名）', noComplaints: '暂无投诉。',
    cstatus_open: '待处理', cstatus_investigating: '调查中', cstatus_resolved: '已办结',
    cstatus_rejected: '已驳回', replySigning: '请在钱包中签署答复…', replied: '答复已签名并保存。',
    cat_counterfeit: '怀疑假货', cat_quality: '质量问题', cat_label: '标签或码问题', cat_other: '其他',
    outcome: '监管部门的处理结果',
  },
};

const { LANG, T } = pageStrings(STRINGS);

const post = (path, body) => postJson(path, body, T.refused);

let pageKey = null; // the key file's key, when unlocked in this page

// The account that signs (the wallet's, or the key file's), checked against the session's key;
// and its EIP-712 signer.
async function typedSigner(signer) {
  if (pageKey) {
    const address = addressOf(pageKey);
    if (address.toLowerCase() !== signer.toLowerCase()) throw new Error(T.wrongAccount + address);
    return { account: address, sign: async (typed) => signTypedData(pageKey, typed) };
  }
  const eth = window.ethereum;
  if (!eth) throw new Error(T.noWallet);
  const [account] = await eth.request({ method: 'eth_requestAccounts' });
  if (account.toLowerCase() !== signer.toLowerCase()) throw new Error(T.wrongAccount + account);
  return {
    account,
    sign: (typed) => eth.request({ method: 'eth_signTypedData_v4', params: [account, JSON.stringify(typed)] }),
  };
}

async function issueAndRegister(signer, gtin, lot, count) {
  const { sign } = await typedSigner(signer);
  status(T.issuing);
  const issued = await post('/console/brand/lots', { gtin, lot, count });
  status(T.signing);
  const signature = await sign(issued.typedData);
  status(T.relaying);
  const path = `/console/brand/lots/${gtin}/${encodeURIComponent(lot)}/registration`;
  const registered = await post(path, { deadline: issued.typedData.message.deadline, signature });
  status(T.done + registered.txHash);
  document.body.dataset.registered = `${gtin}/${lot}`;
  await refresh();
}

const REPLY_TYPES = {
  EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'version', type: 'string' },
    { name: 'chainId', type: 'uint256' }],
  ComplaintReply: [{ name: 'complaint', type: 'uint256' }, { name: 'gtin', type: 'string' },
    { name: 'text', type: 'string' }, { name: 'repliedAt', type: 'uint256' }],
};

// A reply to a complaint, signed in the wallet as EIP-712 typed data (the wallet shows the
// text it signs); the gateway checks it recovers to the session's key and keeps the signature.
async function replyTo(config, id, gtin, text) {
  const { sign } = await typedSigner(config.signer);
  const repliedAt = Math.floor(Date.now() / 1000);
  const typed = {
    types: REPLY_TYPES, primaryType: 'ComplaintReply',
    domain: { name: 'Zhenzhi console', version: '1', chainId: config.chainId },
    message: { complaint: Number(id), gtin, text, repliedAt },
  };
  status(T.replySigning);
  const signature = await sign(typed);
  await post(`/console/brand/complaints/${id}/replies`, { text, repliedAt, signature });
  status(T.replied);
  document.body.dataset.replied = String(id);
  await refresh();
}

function translate(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const text = T[el.dataset.i18n];
    if (text) el.textContent = text;
  }
}

// After an action: with a wallet, reload; with a key unlocked here (in memory only), refresh
// the lists in place so the key stays.
async function refresh() {
  if (!pageKey) {
    setTimeout(() => location.reload(), 800);
    return;
  }
  const fresh = new DOMParser().parseFromString(await (await fetch(location.href,
    { cache: 'no-store', credentials: 'same-origin' })).text(), 'text/html');
  for (const id of ['lots-table', 'brand-complaints', 'clone-alerts']) {
    const el = fresh.getElementById(id);
    if (el) document.getElementById(id).replaceWith(el);
  }
  translate(document);
  bindReplies(JSON.parse(document.getElementById('console-config').textContent));
}

function bindReplies(config) {
  for (const replyForm of document.querySelectorAll('form.reply-form')) {
    replyForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const submit = replyForm.querySelector('button');
      submit.disabled = true;
      try {
        await replyTo(config, replyForm.dataset.id, replyForm.dataset.gtin, replyForm.text.value.trim());
      } catch (err) {
        status(err && err.message ? err.message : String(err), true);
      } finally {
        submit.disabled = false;
      }
    });
  }
}

function start() {
  document.documentElement.lang = LANG;
  translate(document);
  document.title = T.title;
  const form = document.getElementById('issue-form');
  if (!form) return;
  const config = JSON.parse(document.getElementById('console-config').textContent);
  const { signer } = config;
  bindReplies(config);
  const keyForm = document.getElementById('keyfile-form');
  keyForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
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
    } catch (err) {
      status(err && err.message ? err.message : String(err), true);
    }
  });
  const button = document.getElementById('issue-button');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await issueAndRegister(signer, form.gtin.value.trim(), form.lot.value.trim(),
        Number(form.count.value));
    } catch (err) {
      status(err && err.message ? err.message : String(err), true);
    } finally {
      button.disabled = false;
    }
  });
}

start();
