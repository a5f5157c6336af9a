/**
 * What `gwserver --help` and `gwserver --version` print. The help is made
 * here from the settings registry rather than by yargs: each option shows
 * its metavar and its default (`-t, --timeout SECONDS (default 30)`), as
 * gunicorn's argparse help does, without yargs' `[string]` tags, which said
 * "string" for every number (flags are parsed as strings and validated
 * later). The flag line comes first and the description under it, so that
 * the long flags (`--http2-max-concurrent-streams INT`) need no column of
 * their own and the text stays readable at 80 columns.
 *
 * @module
 */
import { ACTION_FLAGS, VERSION } from '../config/flags.js';
import { SECTIONS, SETTINGS, type Setting } from '../config/settings.js';

const ALL = SETTINGS as readonly Setting<unknown>[];

/** As gunicorn prints it (`gunicorn (version 23.0.0)`), for -v and --version alike. */
export function versionText(): string {
  return `gwserver (version ${VERSION})\n`;
}

/** The three invocations most people need, with what each does (at most 80 columns). */
const EXAMPLES: ReadonlyArray<[string, string]> = [
  ['gwserver app:application', "serve app.mjs's application"],
  ['gwserver -w 4 -b 0.0.0.0:8000 app:application', '4 workers on 0.0.0.0:8000'],
  ['gwserver -c gwserver.config.js', 'settings (and app) from a file'],
];

/** The doc's first sentence ("e.g." and "i.e." do not end one), without Markdown's backticks. */
export function firstSentence(doc: string): string {
  const i = doc.search(/(?<!\be\.g|\bi\.e)\.(\s|$)/);
  return (i >= 0 ? doc.slice(0, i + 1) : doc).replace(/`/g, '');
}

/**
 * A setting's default as the help shows it: `on`/`off` for a switch, the
 * octal of a mode, a list comma-separated, `none` for an empty value; a
 * computed default by its description (`$WEB_CONCURRENCY, or 1`), with
 * docs/settings.md's quoting of empty strings and lists left out.
 */
export function helpDefault(s: Setting<unknown>): string {
  if (s.defaultDoc !== undefined) {
    return s.defaultDoc
      // '' (no TLS) reads "no TLS"; '' (the key is in --certfile), "none: the key is in --certfile".
      .replace(/^''(?: \((.*)\))?$/, (_m, why: string | undefined) => (why === undefined ? 'none' : /^(no |off$)/.test(why) ? why : `none: ${why}`))
      .replace(/^\((.*)\)$/, '$1')
      .replace(/\['([^']*)'\]/g, '$1')
      .replace(/'([^']*)'/g, '$1');
  }
  const d = s.default;
  if (s.type === 'bool') return d === true ? 'on' : 'off';
  if (s.type === 'octal' && typeof d === 'number') return d.toString(8);
  if (Array.isArray(d)) return d.join(',');
  if (d === '' || d === undefined) return 'none';
  return typeof d === 'string' && /\s/.test(d) ? `'${d}'` : String(d);
}

/** Words of `text` in lines of at most `width` columns, each starting with `indent` (a longer word gets a line of its own). */
function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}

/**
 * One option: `-t, --timeout SECONDS (default 30)` (a switch has no
 * metavar; long flags line up whether or not a short one comes first), then
 * its description under it. A default too long for the flag's line goes
 * on the next.
 */
function option(flag: string, short: string | undefined, meta: string | undefined, dflt: string | undefined, doc: string, width: number): string[] {
  const lead = `  ${short === undefined ? '    ' : `-${short}, `}${flag}${meta === undefined ? '' : ` ${meta}`}`;
  const shown = dflt === undefined ? '' : `(default ${dflt})`;
  const head = shown === '' ? [lead] : `${lead} ${shown}`.length <= width ? [`${lead} ${shown}`] : [lead, ...wrap(shown, width, '          ')];
  return [...head, ...wrap(doc, width, '        ')];
}

/**
 * The text of `gwserver --help`, wrapped to `width` columns (the terminal's,
 * at most 100; 80 when stdout is not a terminal).
 */
export function helpText(width = Math.min(100, process.stdout.columns || 80)): string {
  const out: string[] = ['usage: gwserver [OPTIONS] [MODULE:CALLABLE]', ''];
  const pad = Math.max(...EXAMPLES.map(([cmd]) => cmd.length)) + 3;
  for (const [cmd, what] of EXAMPLES) out.push(`  ${cmd.padEnd(pad)}${what}`);
  out.push('', ...wrap('Serves CALLABLE (default: application), an export of MODULE: a file (app for app.mjs, app.js...), a directory or a package.', width, ''), '');
  out.push('Actions:');
  for (const a of ACTION_FLAGS) out.push(...option(a.flag, a.short, undefined, undefined, a.doc, width));
  for (const section of SECTIONS) {
    const settings = ALL.filter((s) => s.section === section && s.flag !== undefined);
    if (settings.length === 0) continue;
    out.push('', `${section}:`);
    for (const s of settings) {
      // A switch that is on by default is turned off by `--capture-output false`.
      const meta = s.type !== 'bool' ? s.meta : s.default === true ? '[true|false]' : undefined;
      out.push(...option(s.flag!, s.short, meta, helpDefault(s), firstSentence(s.doc), width));
    }
  }
  out.push(
    '',
    ...wrap('Settings also come from a config file (-c, default ./gwserver.config.js) and $GWSERVER_CMD_ARGS; the command line wins. Hooks are set in the config file. Every setting in full: docs/settings.md; the config file: docs/configuration.md.', width, ''),
  );
  return `${out.join('\n')}\n`;
}
