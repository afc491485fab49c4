// The console's log-in page: Sign-In with Ethereum (EIP-4361) with a wallet (EIP-1193
// `personal_sign`) or with the CLI's keystore file (Web3 Secret Storage v3, scrypt or pbkdf2)
// unlocked here. The private key stays in this page's memory: only the signed message and its
// signature are sent. The gateway issues the nonce and decides (gateway/sessions.py).
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils';
import { addressOf, checksumAddress, personalSign, unlockKeystore as unlock } from './keystore.js';

export { addressOf, checksumAddress, personalSign };
export const unlockKeystore = (json, passphrase) => unlock(json, passphrase,
  { badFile: T.badFile, wrongPass: T.wrongPass });

const STRINGS = {
  en: {
    title: 'Zhenzhi console · log in',
    intro: "Log in with a signing key your organisation holds on the Consortium. No password is stored anywhere; the key never leaves this browser.",
    walletTitle: 'Browser wallet', walletHint: 'MetaMask, Rabby, or a hardware wallet through them (EIP-1193).',
    walletButton: 'Log in with wallet', keystoreTitle: 'Key file',
    keystoreHint: 'The encrypted key file the command line uses (var/keys/*.json), unlocked in this page.',
    fileLabel: 'Key file', passLabel: 'Passphrase', keystoreButton: 'Unlock and log in',
    noWallet: 'No wallet found in this browser (window.ethereum). Use the key file instead.',
    unlocking: 'Unlocking the key file (this takes a few seconds)…', wrongPass: 'Wrong passphrase or not a key file.',
    badFile: 'Not a Web3 keystore (v3) file.', signing: 'Sign the log-in message in your wallet…',
    sending: 'Checking with the Consortium…', done: 'Logged in. Opening the console…',
    refused: 'Log-in refused: ',
  },
  'zh-Hans': {
    title: '真知控制台 · 登录',
    intro: '用贵单位在联盟登记的签名密钥登录。不存储任何密码；密钥不会离开本浏览器。',
    walletTitle: '浏览器钱包', walletHint: 'MetaMask、Rabby 或通过它们连接的硬件钱包（EIP-1193）。',
    walletButton: '用钱包登录', keystoreTitle: '密钥文件',
    keystoreHint: '命令行使用的加密密钥文件（var/keys/*.json），在本页内解锁。',
    fileLabel: '密钥文件', passLabel: '口令', keystoreButton: '解锁并登录',
    noWallet: '本浏览器没有钱包（window.ethereum）。请改用密钥文件。',
    unlocking: '正在解锁密钥文件（需要几秒钟）…', wrongPass: '口令错误，或不是密钥文件。',
    badFile: '不是 Web3 密钥文件（v3）。', signing: '请在钱包中签署登录消息…',
    sending: '正在向联盟核验…', done: '已登录，正在打开控制台…', refused: '登录被拒绝：',
  },
};

function language() {
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked && STRINGS[asked]) return asked;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-Hans' : 'en';
}
const LANG = typeof location !== 'undefined' ? language() : 'en';
const T = STRINGS[LANG];
// The page's string tables, for the test that walks each console page in zh-Hans.
globalThis.zhenzhiConsoleStrings = STRINGS;

function status(text, error = false) {
  const el = document.getElementById('status');
  el.textContent = text;
  el.className = error ? 'error' : '';
}

// The EIP-4361 message text, every field from the gateway's nonce answer but the address.
export function siweMessage(f, address) {
  return `${f.domain} wants you to sign in with your Ethereum account:\n${address}\n\n`
    + `${f.statement}\n\nURI: ${f.uri}\nVersion: ${f.version}\nChain ID: ${f.chainId}\n`
    + `Nonce: ${f.nonce}\nIssued At: ${f.issuedAt}\nExpiration Time: ${f.expirationTime}`;
}

async function problemText(response) {
  try {
    const p = await response.json();
    return p.detail || p.title || String(response.status);
  } catch {
    return String(response.status);
  }
}

async function logIn(address, sign) {
  const nonceResponse = await fetch('/console/nonce', { cache: 'no-store', credentials: 'same-origin' });
  if (!nonceResponse.ok) throw new Error(await problemText(nonceResponse));
  const message = siweMessage(await nonceResponse.json(), address);
  const signature = await sign(message);
  status(T.sending);
  const response = await fetch('/console/login', {
    method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ message, signature }),
  });
  if (!response.ok) throw new Error(T.refused + await problemText(response));
  status(T.done);
  location.assign('/console');
}

async function withWallet() {
  const eth = window.ethereum;
  if (!eth) { status(T.noWallet, true); return; }
  const [account] = await eth.request({ method: 'eth_requestAccounts' });
  const address = checksumAddress(account);
  status(T.signing);
  await logIn(address, (message) => eth.request({
    method: 'personal_sign', params: ['0x' + bytesToHex(utf8ToBytes(message)), address],
  }));
}

async function withKeystore(file, passphrase) {
  let json;
  try {
    json = JSON.parse(await file.text());
  } catch {
    throw new Error(T.badFile);
  }
  status(T.unlocking);
  const key = await unlockKeystore(json, passphrase);
  try {
    await logIn(addressOf(key), async (message) => personalSign(key, message));
  } finally {
    key.fill(0);
  }
}

function start() {
  document.documentElement.lang = LANG;
  for (const el of document.querySelectorAll('[data-i18n]')) {
    const text = T[el.dataset.i18n];
    if (text) el.textContent = text;
  }
  document.title = T.title;
  const buttons = [...document.querySelectorAll('button')];
  const busy = async (work) => {
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await work();
    } catch (err) {
      status(err && err.message ? err.message : String(err), true);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  };
  document.getElementById('wallet-login').addEventListener('click', () => busy(withWallet));
  document.getElementById('keystore-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const file = document.getElementById('keyfile').files[0];
    const passphrase = document.getElementById('passphrase').value;
    busy(() => withKeystore(file, passphrase));
  });
}

// Only on the log-in page: the console's pages import the keystore code without it.
if (typeof document !== 'undefined' && document.getElementById('keystore-form')) start();
