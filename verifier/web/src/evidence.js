// The offline evidence page (verifier/static/evidence.html, one self-contained file): drop a
// sealed evidence file, paste the block hash confirmed on a consortium node, optionally drop
// the consortium's deployment manifest, and read the report: what was proven, by whom, when,
// at which block, and what could not be checked. Nothing is fetched; every check runs here.
// Also `window.zhenzhiCheckSealed(textOrBytes, {trust, manifest})` for test harnesses.
import { checkSealed, parseTrust, parseManifest } from './offline/check.js';
import { LANGUAGES, chooseLanguage } from './i18n.js';
import { t } from './evidence_i18n.js';

const state = { lang: 'zh-Hans', raw: null, name: '', trust: '', manifest: null, report: null, error: null, busy: false };

function toBytes(input) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  return new TextEncoder().encode(String(input));
}

/** Check a sealed bundle; `trust` a 0x-hex hash (or null); `manifest` deployment.json as an
 * object (or null). Resolves to the report (checks/offline/check.js). */
async function zhenzhiCheckSealed(input, { trust = null, manifest = null } = {}) {
  return checkSealed(toBytes(input), { trust: trust ? parseTrust(trust) : null, manifest: manifest ? parseManifest(manifest) : null });
}
globalThis.zhenzhiCheckSealed = zhenzhiCheckSealed;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-') || k === 'for') node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

async function run() {
  if (!state.raw) return;
  state.busy = true;
  state.error = null;
  render();
  let trust = null;
  let manifest = null;
  try {
    if (state.trust.trim()) trust = parseTrust(state.trust);
  } catch { state.error = t(state.lang, 'ev.error.trust'); }
  try {
    if (state.manifest) manifest = parseManifest(state.manifest);
  } catch (e) { state.error = t(state.lang, 'ev.error.manifest', { why: e.message }); }
  state.report = await checkSealed(state.raw, { trust, manifest });
  globalThis.zhenzhiReport = state.report;
  state.busy = false;
  render();
}

async function readFile(file) {
  return new Uint8Array(await file.arrayBuffer());
}

function inputs() {
  const lang = state.lang;
  const n = state.report && state.report.block ? state.report.block.number : 'N';
  const drop = el('label', { class: 'drop', id: 'drop', for: 'bundle' }, t(lang, 'ev.drop'),
    state.name ? el('span', { class: 'filename' }, ` — ${state.name}`) : null);
  const file = el('input', { type: 'file', id: 'bundle', accept: '.json,application/json', onchange: async (e) => {
    const f = e.target.files[0];
    if (!f) return;
    state.name = f.name;
    state.raw = await readFile(f);
    run();
  } });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    const f = e.dataTransfer.files[0];
    if (!f) return;
    state.name = f.name;
    state.raw = await readFile(f);
    run();
  });
  const trust = el('input', { type: 'text', id: 'trust', value: state.trust, spellcheck: false, placeholder: '0x…',
    onchange: (e) => { state.trust = e.target.value; run(); } });
  const manifest = el('input', { type: 'file', id: 'manifest', accept: '.json,application/json', onchange: async (e) => {
    const f = e.target.files[0];
    if (!f) return;
    try { state.manifest = JSON.parse(new TextDecoder().decode(await readFile(f))); } catch (exc) {
      state.manifest = { invalid: String(exc.message) };
    }
    run();
  } });
  return el('section', { id: 'inputs', class: 'inputs' },
    el('p', { class: 'intro' }, t(lang, 'ev.intro')),
    el('div', { class: 'field' }, el('span', { class: 'label' }, t(lang, 'ev.file')), drop, file),
    el('div', { class: 'field' }, el('label', { for: 'trust', class: 'label' }, t(lang, 'ev.trust')), trust,
      el('small', {}, t(lang, 'ev.trust.hint', { number: n }))),
    el('div', { class: 'field' }, el('label', { for: 'manifest', class: 'label' }, t(lang, 'ev.manifest')), manifest),
    el('button', { type: 'button', id: 'check', onclick: () => { state.trust = document.getElementById('trust').value; run(); } }, t(lang, 'ev.check')));
}

function report(r) {
  const lang = state.lang;
  const out = [];
  const title = r.result === 'REFUSED' ? t(lang, 'result.REFUSED') : t(lang, `verdict.${r.result}`);
  out.push(el('section', { id: 'verdict', class: `verdict v-${r.result}`, 'data-result': r.result, 'data-place': r.place || '' },
    el('h1', {}, title),
    r.place ? el('p', { class: 'place' }, t(lang, 'ev.refused.at', { place: r.place })) : null,
    r.unproven ? el('p', { class: 'unproven', 'data-unproven': r.unproven }, t(lang, `ev.unproven.${r.unproven}`)) : null,
    r.unproven && r.verdict ? el('p', { class: 'would' }, t(lang, 'ev.would', { verdict: t(lang, `verdict.${r.verdict.verdict}`) })) : null,
    el('p', { class: 'reason' }, r.reason),
    state.error ? el('p', { class: 'error' }, state.error) : null));
  if (r.block) {
    const contracts = Object.entries(r.deployment.contracts).map(([k, v]) => el('li', {}, `${k} ${v}`));
    out.push(el('section', { id: 'what', class: 'what' }, el('h2', {}, t(lang, 'ev.what')),
      el('dl', {},
        el('dt', {}, t(lang, r.kind === 'consignment' ? 'ev.consignment' : 'ev.item')), el('dd', { class: 'code' }, r.code),
        r.kind === 'consignment' ? el('dd', { class: 'view', 'data-disclosure': r.disclosure }, t(lang, `ev.view.${r.disclosure}`)) : null,
        el('dt', {}, t(lang, 'ev.block')), el('dd', { class: 'block' }, t(lang, 'ev.block.line', { number: r.block.number, chainId: r.deployment.chainId, time: r.block.time })),
        el('dt', {}, t(lang, 'ev.hash')), el('dd', { class: 'hash', 'data-confirmed': String(r.block.confirmed) },
          el('code', {}, r.block.hash), ' — ', t(lang, `ev.block.${r.block.confirmed}`)),
        el('dt', {}, t(lang, 'ev.fork')), el('dd', { class: 'fork' }, r.block.fork),
        el('dt', {}, t(lang, 'ev.contracts')), el('dd', { class: 'contracts', 'data-confirmed': String(r.deployment.confirmed) },
          t(lang, `ev.deployment.${r.deployment.confirmed}`), el('ul', {}, contracts)))));
  }
  const v = r.verdict;
  if (v) {
    const signers = v.checks.filter((c) => c.name === 'capture.signature' && c.outcome === 'PASS' && c.details);
    out.push(el('section', { id: 'signers', class: 'signers' }, el('h2', {}, t(lang, 'ev.byWhom')),
      el('ul', {}, signers.map((c) => el('li', {}, t(lang, 'ev.signer', { signer: c.details.signer, org: glnOrHex(c.details.org) }))))));
    if (r.kind === 'consignment') out.push(...consignmentSections(v));
    else out.push(el('section', { id: 'journey', class: 'journey' }, el('h2', {}, t(lang, 'ev.journey')),
      el('ol', {}, (v.journey || []).map((s) => el('li', { 'data-stage': s.stage },
        el('span', { class: 'stage' }, t(lang, `stage.${s.stage}`)), ' ',
        el('time', { dateTime: s.timeText }, s.timeText),
        s.location ? el('span', { class: 'place' }, ` · ${t(lang, 'journey.place')}: ${s.location}`) : null,
        el('span', { class: 'org' }, ` · ${t(lang, 'journey.org')}: ${s.gln ? 'GLN ' + s.gln : s.org}`))))));
  }
  if (r.failures && r.failures.length) {
    out.push(el('section', { id: 'failures', class: 'failures' }, el('h2', {}, t(lang, 'ev.failures')),
      el('ul', {}, r.failures.map((f) => el('li', { 'data-place': f.place }, el('code', {}, f.place), ` ${t(lang, `check.${f.check}`)} — ${f.reason}`)))));
  }
  if (r.toConfirm && r.toConfirm.length) {
    out.push(el('section', { id: 'confirm', class: 'confirm' }, el('h2', {}, t(lang, 'ev.toConfirm')),
      el('ul', {}, r.toConfirm.map((c) => el('li', { 'data-what': c.what }, c.what === 'block'
        ? t(lang, 'ev.confirm.block', c)
        : t(lang, 'ev.confirm.deployment', { chainId: c.chainId, contracts: Object.entries(c.contracts).map(([k, a]) => `${k} ${a}`).join(', ') }))))));
  }
  if (v) {
    const passed = v.checks.filter((c) => c.outcome === 'PASS').length;
    out.push(el('section', { id: 'checks', class: 'checks' }, el('h2', {}, t(lang, 'ev.checks', { passed, total: v.checks.length })),
      el('ul', {}, v.checks.map((c) => el('li', { class: `o-${c.outcome}`, 'data-check': c.name, 'data-outcome': c.outcome },
        el('span', { class: 'outcome' }, t(lang, `outcome.${c.outcome}`)), ' ',
        el('span', { class: 'title' }, t(lang, `check.${c.name}`)), ' ',
        el('span', { class: 'reason' }, c.reason + (c.subject ? ` [${c.subject}]` : '')))))));
  }
  out.push(el('section', { id: 'not-checked', class: 'not-checked' }, el('h2', {}, t(lang, 'ev.notChecked')),
    el('ul', {}, (r.notChecked || []).map((k) => el('li', { 'data-what': k }, t(lang, `ev.nc.${k}`))))));
  if (r.ms != null) out.push(el('p', { class: 'timing' }, t(lang, 'ev.time', { ms: Math.round(r.ms), calls: r.calls || 0 })));
  return out;
}

// A consignment's report (verifier/sealed.py `consignment_lines`): customs' decisions, the
// signed story with the trade documents each step names, the lots, the organisations.
function consignmentSections(v) {
  const lang = state.lang;
  const names = v.organisations || {};
  const who = (org) => names[org] || glnOrHex(org);
  const iso = (ts) => new Date(ts * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const docName = (type) => {
    const k = `ev.doc.${String(type).split(/[:/]/).pop()}`;
    const text = t(lang, k);
    return text === k ? type : text;
  };
  const decisions = el('section', { id: 'decisions', class: 'decisions' }, el('h2', {}, t(lang, 'ev.decisions')),
    el('ol', {}, v.decisions.length ? v.decisions.map((d) => el('li', { 'data-decision': d.decision, 'data-released': String(d.released) },
      t(lang, 'ev.decision.line', { sequence: d.sequence, decision: d.decision, inspection: d.inspection,
        state: t(lang, `ev.decision.${d.released ? 'released' : d.refused ? 'refused' : 'pending'}`), time: iso(d.decidedAt), recorder: d.recorder })))
      : [el('li', {}, t(lang, 'ev.decisions.none'))]));
  const story = el('section', { id: 'story', class: 'story' }, el('h2', {}, t(lang, 'ev.story', { n: v.story.length })),
    el('ol', {}, v.story.map((s) => el('li', { 'data-event': String(s.event), 'data-bizstep': s.bizStep || '', 'data-covered': String(s.covered) },
      el('time', { dateTime: s.eventTime || '' }, `${s.eventTime || '-'}${s.offset ? ` (${s.offset})` : ''}`), ' ',
      el('strong', {}, s.bizStep || '-'), ` (${s.disposition || '-'})`,
      s.place ? ` · ${t(lang, 'journey.place')}: ${s.place}` : null, ' · ',
      t(lang, 'ev.story.signed', { who: who(s.org), time: iso(s.signedAt), block: s.anchoredBlock }),
      s.covered ? el('span', { class: 'covered' }, ` · ${t(lang, 'ev.story.covered')}`) : null,
      s.documents.length ? el('span', { class: 'docs' }, s.documents.map((d) => ` [${docName(d.type)} ${d.id.split('/').pop()}]`).join('')) : null))));
  const out = [decisions, story];
  const docs = Object.entries(v.documents || {});
  if (docs.length) {
    out.push(el('section', { id: 'documents', class: 'documents' }, el('h2', {}, t(lang, 'ev.documents')),
      el('dl', {}, docs.flatMap(([type, ids]) => [el('dt', { 'data-type': type }, docName(type)), el('dd', {}, ids.join(', '))]))));
  }
  if (v.lots.length) {
    out.push(el('section', { id: 'lots', class: 'lots' }, el('h2', {}, t(lang, 'ev.lots')),
      el('ul', {}, v.lots.map((x) => el('li', { 'data-lot': x.lot, 'data-status': x.status || 'none' },
        t(lang, 'ev.lot.line', { gtin: x.gtin, lot: x.lot, status: t(lang, `ev.lot.${x.status || 'none'}`) }),
        x.owner ? t(lang, 'ev.lot.by', { owner: x.ownerName || x.owner, codes: x.codes }) : null)))));
  }
  const orgs = Object.entries(names).sort();
  if (orgs.length) {
    out.push(el('section', { id: 'orgs', class: 'orgs' }, el('h2', {}, t(lang, 'ev.orgs')),
      el('ul', {}, orgs.map(([org, name]) => el('li', { 'data-org': org }, `${name} (${glnOrHex(org)})`)))));
  }
  return out;
}

function glnOrHex(orgHex) {
  const m = /^0x((?:3[0-9]){13})0{38}$/.exec(orgHex || '');
  return m ? 'GLN ' + m[1].match(/../g).map((h) => String.fromCharCode(parseInt(h, 16))).join('') : orgHex;
}

function render() {
  const lang = state.lang;
  document.documentElement.lang = lang;
  document.title = t(lang, 'ev.title');
  const switcher = el('nav', { class: 'langs', 'aria-label': 'language' },
    LANGUAGES.map((l) => el('button', { type: 'button', 'data-lang': l, class: l === lang ? 'on' : '',
      onclick: () => { state.lang = l; render(); } }, t(l, 'lang.name'))));
  const body = state.busy ? [el('section', { id: 'verdict', class: 'verdict pending', 'data-result': '' }, el('h1', {}, t(lang, 'ev.checking')))]
    : state.report ? report(state.report) : [el('p', { class: 'waiting' }, t(lang, 'ev.waiting'))];
  document.getElementById('zz-app').replaceChildren(switcher, el('h1', { class: 'page-title' }, t(lang, 'ev.title')), inputs(), el('main', {}, body));
  document.body.dataset.state = state.busy ? 'checking' : state.report ? 'done' : 'waiting';
}

function boot() {
  if (!document.getElementById('zz-app')) return;
  const params = new URLSearchParams(location.search);
  state.lang = LANGUAGES.includes(params.get('lang')) ? params.get('lang') : chooseLanguage(navigator.languages || [navigator.language]);
  if (params.get('trust')) state.trust = params.get('trust');
  render();
}

if (typeof document !== 'undefined') {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
}
