// What every scripted console page does alike (brand, operator): pick its language from its
// string tables, show a status line, and POST JSON to the gateway, a refusal thrown with the
// problem's words.

/** The page's language (`?lang=`, else the browser's) and its strings; the tables are exposed
 * for the test that walks each console page in zh-Hans. */
export function pageStrings(strings) {
  const asked = new URLSearchParams(location.search).get('lang');
  const lang = asked && strings[asked] ? asked
    : ((navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-Hans' : 'en');
  globalThis.zhenzhiConsoleStrings = strings;
  return { LANG: lang, T: strings[lang] };
}

export function status(text, error = false) {
  const el = document.getElementById('status');
  el.textContent = text;
  el.className = error ? 'error' : '';
}

export async function problemText(response) {
  try {
    const p = await response.json();
    return p.detail || p.title || String(response.status);
  } catch {
    return String(response.status);
  }
}

/** POST `body` (or `{}`) as JSON with the session cookie; a refusal throws `refused` + the
 * problem's detail. */
export async function postJson(path, body, refused) {
  const response = await fetch(path, {
    method: 'POST', credentials: 'same-origin', cache: 'no-store',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body || {}),
  });
  if (!response.ok) throw new Error(refused + await problemText(response));
  return response.json();
}
