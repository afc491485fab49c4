// Builds ../static/evidence.html: the page template (evidence.html) with the whole checker
// (src/evidence.js and everything it imports, bundled by esbuild) inlined, so the result is
// one file that works from file:// with no network. Usage: node build-evidence.mjs [out]
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, '..', 'static', 'evidence.html');
const result = await build({
  entryPoints: [join(here, 'src', 'evidence.js')], bundle: true, format: 'iife', target: 'es2020',
  platform: 'browser', minify: true, legalComments: 'none', write: false, logLevel: 'warning',
  charset: 'utf8',
});
// Inside <script>, "</script" would end the element and "<!--" could confuse the parser.
const js = result.outputFiles[0].text.replace(/<\/(script)/gi, '<\\/$1');
if (js.includes('<!--')) throw new Error('the bundle contains "<!--": it cannot be inlined as is');
const marker = '<script>/*ZHENZHI-EVIDENCE-SCRIPT*/</script>';
const template = readFileSync(join(here, 'evidence.html'), 'utf8');
if (!template.includes(marker)) throw new Error('evidence.html lacks the script marker');
writeFileSync(out, template.replace(marker, () => `<script>${js}</script>`));
