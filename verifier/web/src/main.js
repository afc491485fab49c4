// The shopper's page: read the item code from the URL path, fetch the public proof and
// config.json, verify in the browser, and show the verdict, the node and block it read, every
// check and the journey. Also `window.zhenzhiVerify(proofJson, config)` for test harnesses.
import { verify, parseProofText } from './verify.js';
import { LANGUAGES, chooseLanguage, t, has } from './i18n.js';
import { DOMAIN_VERSION } from './capture.js';
import { coldChainTitle, describeColdChain } from './coldchain.js';
import { FIELDS, partyUri } from './profile.js';

const state = { lang: null, result: null, error: null, complaint: null };

/** Verify one proof (parsed JSON) with a config; the code is config.code or the proof's own. */
async function zhenzhiVerify(proofJson, config, opts = {}) {
  const code = (opts && opts.code) || (config && config.code) || (proofJson && proofJson.code) || '';
  return verify(code, proofJson, config, opts);
}

globalThis.zhenzhiVerify = zhenzhiVerify;
globalThis.zhenzhiDomainVersion = DOMAIN_VERSION;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

/** The item path (/01/<gtin>[/10/<lot>]/21/<serial>) in a page address, or null. */
export function itemPath(pathname) {
  const at = pathname.indexOf('/01/');
  if (at < 0) return null;
  const path = pathname.slice(at).replace(/\/+$/, '');
  return /^\/01\/[^/]+(\/(10|21|22|235)\/[^/]+)*$/.test(path) ? path : null;
}

async function fetchJson(url, init, parse = JSON.parse) {
  let res;
  try { res = await fetch(url, init); } catch (e) { throw new Error(e.message || String(e)); }
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const text = await res.text();
  try { return parse(text); } catch { return { malformed: true, text: text.slice(0, 80) }; }
}

// --- the profile as text (verifier/page.py `field_text`, `source_text`: the same rules) -------
const TIMES = new Set(['declarationTime', 'inspectionTime', 'releaseTime', 'saleTime']);
const PARTIES = new Set(['manufacturer', 'exporter', 'carrier', 'declaringEnterprise', 'warehouse', 'platform', 'seller']);

/** A signed text: a string, or a language map read in `lang` (else the other Chinese script, else English, else the first). */
export function localText(value, lang) {
  if (value && typeof value === 'object') {
    const other = { 'zh-Hans': 'zh-Hant', 'zh-Hant': 'zh-Hans' }[lang] || lang;
    for (const k of [lang, other, 'en', ...Object.keys(value)]) if (typeof value[k] === 'string') return value[k];
    return '';
  }
  return value == null ? '' : String(value);
}

/** [date, hh:mm, offset] of an eventTime in the offset the event states (ledger/trade/profile.py `local_time`). */
export function localTime(value, offset) {
  const text = String(value);
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) return null;
  if (!/(Z|[+-]\d\d:\d\d)$/i.test(text)) return [text.slice(0, 10), text.slice(11, 16), ''];
  const m = /^([+-])(\d\d):(\d\d)$/.exec(offset || '');
  const shift = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60000 : 0;
  const iso = new Date(ms + shift).toISOString();
  return [iso.slice(0, 10), iso.slice(11, 16), m ? offset : '+00:00'];
}

const country = (lang, code) => (has(lang, `country.${code}`) ? t(lang, `country.${code}`) : String(code));
const glnOfOrg = (org) => { const u = partyUri(org); return u ? `GLN ${u.split('/').pop()}` : null; };

export function fieldText(key, f, lang, names) {
  const value = f.value;
  if (TIMES.has(key) || (key === 'productionDate' && String(value).includes('T'))) {
    const shown = localTime(value, f.offset);
    if (!shown) return String(value);
    const [date, time, offset] = shown;
    return offset ? t(lang, 'time.local', { date, time, offset }) : `${date} ${time}`;
  }
  if (key === 'originCountry') return country(lang, value);
  if (key === 'customsDecision') {
    const text = has(lang, `decision.${value}`) ? t(lang, `decision.${value}`) : String(value);
    return f.inspection ? `${text} · ${has(lang, `inspection.${f.inspection}`) ? t(lang, `inspection.${f.inspection}`) : f.inspection}` : text;
  }
  if (key === 'lotStatus') return has(lang, `status.${value}`) ? t(lang, `status.${value}`) : String(value);
  if (key === 'logistics' && Array.isArray(value)) return value.map((v) => localText(v, lang)).join(t(lang, 'route.sep'));
  let text = localText(value, lang);
  if (PARTIES.has(key) && !text) text = names[f.by] || '';
  if (PARTIES.has(key) && f.country) text = text ? `${text} (${country(lang, f.country)})` : country(lang, f.country);
  if (key === 'warehouse' && f.place) text += ` · ${localText(f.place, lang)}`;
  if (key === 'portOfEntry' && f.country) text = `${text} (${country(lang, f.country)})`;
  return text;
}

export function sourceText(key, f, lang, names) {
  const by = f.by;
  if (by === 'CodeRegistry' || by === 'CustomsRelease') return t(lang, `by.${by}`);
  if (!by) return t(lang, 'by.code');
  const who = names[by] || glnOfOrg(by) || `${String(by).slice(0, 14)}…`;
  return (key === 'gtin' || key === 'serial') ? t(lang, 'by.registrant', { org: who }) : t(lang, 'by.org', { org: who });
}

function localNames(profile, lang) {
  const out = {};
  for (const key of PARTIES) {
    const f = profile[key];
    if (key === 'seller' || !f || !f.by) continue;
    const text = localText(f.value, lang);
    if (text && !(f.by in out)) out[f.by] = text;
  }
  return out;
}

function checkMeaning(lang, c) {
  return c.outcome === 'SKIPPED' ? t(lang, 'check.SKIPPED') : t(lang, `check.${c.name}.${c.outcome}`);
}

const day = (ms) => new Date(ms).toISOString().slice(0, 10);

/** Where the shopper's own complaint stands (GET /complaints/{id}?receipt=…), or that the
 * receipt matches none: the gateway answers the same 404 for a wrong receipt and an unknown id. */
export function complaintSection(lang, c) {
  if (c.unknown) {
    return el('section', { id: 'complaint-standing', class: 'complaint-standing', 'data-status': 'unknown' },
      el('h2', {}, t(lang, 'complaint.standing')), el('p', {}, t(lang, 'complaint.unknown')));
  }
  const replies = c.replies || [];
  return el('section', { id: 'complaint-standing', class: 'complaint-standing', 'data-status': c.status },
    el('h2', {}, t(lang, 'complaint.standing')),
    el('p', { class: 'note' }, t(lang, 'complaint.receipt')),
    el('dl', {},
      el('dt', {}, t(lang, 'complaint.filed', { date: day(c.createdMs) })), el('dd', { class: 'text' }, c.text),
      el('dt', {}, t(lang, 'complaint.status')),
      el('dd', { class: 'status' }, t(lang, `complaint.status.${c.status}`)),
      c.outcome ? [el('dt', {}, t(lang, 'complaint.outcome')), el('dd', { class: 'outcome' }, c.outcome)] : null,
      el('dt', {}, t(lang, 'complaint.replies')),
      el('dd', { class: 'replies' }, replies.length
        ? el('ul', {}, replies.map((r) => el('li', { class: 'reply' }, r.text,
          el('small', { class: 'by' }, ` — ${t(lang, 'complaint.reply.by', { org: r.orgName || r.org, date: day(r.repliedMs) })}`))))
        : t(lang, 'complaint.noreply'))));
}

async function loadComplaint(params) {
  const id = params.get('complaint');
  const receipt = params.get('receipt');
  if (!id || !receipt || !/^\d{1,18}$/.test(id)) return;
  try {
    const res = await fetch(`/complaints/${id}?receipt=${encodeURIComponent(receipt)}`,
      { headers: { Accept: 'application/json' }, cache: 'no-store', referrerPolicy: 'no-referrer' });
    state.complaint = res.ok ? await res.json() : { unknown: true };
  } catch {
    state.complaint = { unknown: true };
  }
  render();
}

function render() {
  const lang = state.lang;
  const app = document.getElementById('zz-app');
  document.documentElement.lang = lang;
  document.title = t(lang, 'title');
  const r = state.result;
  const sections = [];

  const switcher = el('nav', { class: 'langs', 'aria-label': 'language' },
    LANGUAGES.map((l) => el('button', { type: 'button', 'data-lang': l, class: l === lang ? 'on' : '',
      onclick: () => { state.lang = l; try { localStorage.setItem('zhenzhi-lang', l); } catch { /* private mode */ } render(); } },
    t(l, 'lang.name'))));

  if (!r) {
    sections.push(el('section', { id: 'verdict', class: 'verdict pending', 'data-verdict': '' },
      el('h1', {}, t(lang, 'verifying'))));
  } else {
    const deciding = r.checks.find((c) => c.meaning === r.verdict);
    sections.push(el('section', { id: 'verdict', class: `verdict v-${r.verdict}`, 'data-verdict': r.verdict },
      el('h1', {}, t(lang, `verdict.${r.verdict}`)),
      el('p', { class: 'explain' }, t(lang, `explain.${r.verdict}`)),
      state.error ? el('p', { class: 'error' }, state.error) : null,
      deciding ? el('p', { class: 'deciding', 'data-check': deciding.name, title: deciding.reason },
        el('strong', {}, `${t(lang, 'deciding')}: ${t(lang, `check.${deciding.name}`)}`), ' — ',
        lang === 'en' ? deciding.reason : checkMeaning(lang, deciding)) : null,
      el('p', { class: 'by' }, t(lang, 'by.browser'))));
    if (r.lot && r.lot.status !== 'active') {
      sections.push(el('section', { id: 'recall', class: 'recall' },
        t(lang, 'recall.banner', { lot: r.lot.name, status: t(lang, `status.${r.lot.status}`) })));
    }
    const profile = r.profile || {};
    // Signers' names in the reader's language, from the master data each signed about itself.
    const names = { ...(r.names || {}), ...localNames(profile, lang) };
    const rows = [];
    for (const key of FIELDS) {
      const f = profile[key];
      if (!f) continue;
      const text = fieldText(key, f, lang, names);
      if (!text) continue;
      rows.push(el('dt', { 'data-field': key }, t(lang, `field.${key}`)),
        el('dd', { 'data-field': key }, el('span', { class: 'value' }, text), el('small', { class: 'by' }, sourceText(key, f, lang, names))));
    }
    sections.push(el('section', { id: 'fields', class: 'fields' }, el('h2', {}, t(lang, 'fields')),
      rows.length ? [el('p', { class: 'note' }, t(lang, 'fields.note')), el('dl', {}, rows)] : el('p', {}, t(lang, 'fields.empty'))));
    const n = r.node || {};
    sections.push(el('section', { id: 'node', class: 'node' }, el('h2', {}, t(lang, 'node')),
      el('dl', {},
        el('dt', {}, t(lang, 'node.url')), el('dd', { class: 'url' }, n.url || '—'),
        el('dt', {}, t(lang, 'node.chain')), el('dd', { class: 'chain' }, n.chainId ?? '—'),
        el('dt', {}, t(lang, 'node.block')), el('dd', { class: 'block' }, n.block ?? t(lang, 'node.none')),
        el('dt', {}, t(lang, 'node.hash')), el('dd', { class: 'hash' }, n.blockHash || '—'),
        el('dt', {}, t(lang, 'node.time')), el('dd', { class: 'ms' }, `${Math.round(r.ms)} ms`))));
    const steps = r.journey || [];
    sections.push(el('section', { id: 'journey', class: 'journey' }, el('h2', {}, t(lang, 'journey')),
      steps.length ? el('ol', {}, steps.map((s) => el('li', { 'data-stage': s.stage },
        el('span', { class: 'stage' }, t(lang, `stage.${s.stage}`)),
        el('time', { dateTime: s.timeText }, s.timeText),
        s.place && s.place.value
          ? el('span', { class: 'place' }, `${t(lang, 'journey.place')}: ${localText(s.place.value, lang)}${s.place.country ? ` (${country(lang, s.place.country)})` : ''}`)
          : s.location ? el('span', { class: 'place' }, `${t(lang, 'journey.place')}: ${s.location}`) : null,
        el('span', { class: 'org' }, `${t(lang, 'journey.org')}: ${[s.orgName, s.gln ? 'GLN ' + s.gln : s.org].filter(Boolean).join(' · ')}`))))
        : el('p', {}, t(lang, 'journey.empty'))));
    if (r.coldChain) {
      sections.push(el('section', { id: 'coldchain', class: `coldchain c-${r.coldChain.status}`, 'data-status': r.coldChain.status },
        el('h2', {}, coldChainTitle(lang)), el('ul', {}, describeColdChain(r.coldChain, lang).map((line) => el('li', {}, line)))));
    }
    const passed = r.checks.filter((c) => c.outcome === 'PASS').length;
    sections.push(el('section', { id: 'checks', class: 'checks' },
      el('h2', {}, t(lang, 'checks', { passed, total: r.checks.length })),
      el('ul', {}, r.checks.map((c) => el('li', { class: `o-${c.outcome}`, 'data-check': c.name, 'data-outcome': c.outcome, title: c.reason },
        el('span', { class: 'outcome' }, t(lang, `outcome.${c.outcome}`)),
        el('span', { class: 'title' }, t(lang, `check.${c.name}`)),
        el('span', { class: 'meaning' }, checkMeaning(lang, c)),
        el('span', { class: 'name' }, c.name + (c.subject ? ` · ${c.subject}` : '')),
        lang === 'en' ? el('span', { class: 'reason' }, c.reason) : null)))));
  }
  if (state.complaint) sections.unshift(complaintSection(lang, state.complaint));
  const server = el('p', { class: 'server' }, el('a', { href: `${location.pathname}?verdict=server` }, t(lang, 'server.link')));
  app.replaceChildren(switcher, el('main', {}, sections), server);
  document.body.dataset.state = r ? 'done' : 'verifying';
}

async function boot() {
  if (!document.getElementById('zz-app')) return;
  const params = new URLSearchParams(location.search);
  let saved = null;
  try { saved = localStorage.getItem('zhenzhi-lang'); } catch { /* private mode */ }
  state.lang = LANGUAGES.includes(params.get('lang')) ? params.get('lang')
    : LANGUAGES.includes(saved) ? saved : chooseLanguage(navigator.languages || [navigator.language]);
  render();
  const complaint = loadComplaint(params);
  const path = itemPath(location.pathname);
  const meta = document.querySelector('meta[name="zhenzhi-config"]');
  const configUrl = meta ? meta.content : '/verifier/config.json';
  let config = null;
  let proof = null;
  const errors = [];
  try { config = await fetchJson(configUrl, { cache: 'no-cache' }); } catch (e) { errors.push(t(state.lang, 'error.config', { why: e.message })); }
  if (path === null) errors.push(t(state.lang, 'error.code'));
  else {
    try { proof = await fetchJson(path, { headers: { Accept: 'application/json' }, cache: 'no-store' }, parseProofText); } catch (e) {
      errors.push(t(state.lang, 'error.proof', { why: e.message }));
    }
  }
  const code = path === null ? location.href : `https://id.gs1.org${path}`;
  state.result = await verify(code, proof, config);
  state.error = errors.join(' ') || null;
  globalThis.zhenzhiResult = state.result;
  await complaint;
  render();
}

if (typeof document !== 'undefined') {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
}
