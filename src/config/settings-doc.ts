/**
 * Generates docs/settings.md from the settings registry, so the reference
 * cannot drift from the code (a unit test compares the two).
 * Run `npm run docs:settings` after changing a setting.
 *
 * @module
 */
import { SETTINGS, type Setting } from './settings.js';

function defaultText(s: Setting<unknown>): string {
  if (s.defaultDoc !== undefined) return s.defaultDoc;
  const d = s.default;
  if (typeof d === 'string') return d === '' ? '(empty)' : `'${d}'`;
  return JSON.stringify(d);
}

/** The Markdown text of docs/settings.md. */
export function settingsMarkdown(): string {
  const out: string[] = [
    '# Settings',
    '',
    '<!-- Generated from src/config/settings.ts by `npm run docs:settings`; do not edit by hand. -->',
    '',
    'Every setting is a command-line flag. Names, meanings and defaults follow gunicorn where gunicorn has the same setting.',
    '',
  ];
  const sections = [...new Set(SETTINGS.map((s) => s.section))];
  for (const section of sections) {
    out.push(`## ${section}`, '');
    for (const s of SETTINGS as readonly Setting<unknown>[]) {
      if (s.section !== section) continue;
      const flags = [s.short ? `-${s.short}` : undefined, `${s.flag} ${s.meta ?? ''}`.trim()].filter(Boolean).join(', ');
      out.push(`### \`${s.flag.slice(2)}\``, '', `- Flag: \`${flags}\``, `- Default: \`${defaultText(s)}\``, '', s.doc, '');
    }
  }
  return out.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!) && process.argv.includes('--write')) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(new URL('../../docs/settings.md', import.meta.url), settingsMarkdown());
}
