/**
 * Generates docs/settings.md from the settings registry, so the reference
 * cannot drift from the code (a unit test compares the two).
 * Run `npm run docs:settings` after changing a setting.
 *
 * @module
 */
import { appliesOn, SECTIONS, SETTINGS, type Setting } from './settings.js';

const ALL = SETTINGS as readonly Setting<unknown>[];

function defaultText(s: Setting<unknown>): string {
  if (s.defaultDoc !== undefined) return s.defaultDoc;
  const d = s.default;
  if (typeof d === 'string') return d === '' ? '(empty)' : `'${d}'`;
  if (s.type === 'octal' && typeof d === 'number') return `0o${d.toString(8).padStart(3, '0')}`;
  return JSON.stringify(d);
}

function flagsText(s: Setting<unknown>): string {
  return [s.short ? `-${s.short}` : undefined, `${s.flag} ${s.meta ?? ''}`.trim()].filter(Boolean).join(', ');
}

function keyText(s: Setting<unknown>): string {
  return s.gunicorn !== undefined ? `\`${s.name}\` (gunicorn: \`${s.gunicorn}\`)` : `\`${s.name}\``;
}

const HEAD = `# Settings

<!-- Generated from src/config/settings.ts by \`npm run docs:settings\`; do not edit by hand. -->

Every setting can be set in a config file; every setting but the hooks and
\`app\` is also a command-line flag. Names, meanings and defaults follow
gunicorn where gunicorn has the same setting. See
[configuration.md](configuration.md) for the config file, a worked example
and a migration guide from gunicorn.conf.py.

## Where settings come from

Each setting takes its value from the first of these that sets it:

1. the command line;
2. \`$GWSERVER_CMD_ARGS\`, flags in one environment variable, split as a shell
   would (quotes, backslashes): \`GWSERVER_CMD_ARGS="-w 4 --name 'my app'"\`
   (gunicorn's \`$GUNICORN_CMD_ARGS\`);
3. the config file: \`-c/--config FILE\` (on the command line or in
   \`$GWSERVER_CMD_ARGS\`), else \`./gwserver.config.js\` when it exists in the
   directory gwserver starts in. Keys are the camelCase names below;
   gunicorn's names and the snake_case spelling of every name work too
   (\`max_requests\`);
4. the default, some of which come from the environment (below).

A list (\`bind\`) given by a higher layer replaces the lower one's; it is not
appended to. Unknown flags or keys and bad values stop gwserver with one
line saying what is wrong, and exit status 2. \`gwserver --print-config\`
shows the result; \`gwserver --check-config\` also loads the app.

## When a change takes effect

A HUP reads the configuration again and starts new workers with it: every
setting the workers read (timeouts, limits, logs, the app, hooks...) takes
its new value then. The settings marked "on a restart" below are set up
once by the master (its sockets, its directory, the metrics socket, the pid
file, the reload watcher): a HUP that changes one logs a warning naming it
and keeps the old value; a restart or an upgrade (USR2) applies it.
\`--print-config\` ends their lines with \`# restart\`.

## Environment variables

| Variable | Effect |
| --- | --- |
| \`GWSERVER_CMD_ARGS\` | Flags, as on the command line; the command line wins over them. |
`;

/** The Markdown text of docs/settings.md. */
export function settingsMarkdown(): string {
  const out: string[] = [HEAD.trimEnd()];
  for (const s of ALL) {
    if (s.env !== undefined) out.push(`| \`${s.env}\` | The default of ${s.flag ? `\`${s.flag}\`` : `\`${s.name}\``} (see [${s.name}](#${s.name.toLowerCase()})). |`);
  }
  out.push('');
  for (const section of SECTIONS) {
    const settings = ALL.filter((s) => s.section === section);
    if (settings.length === 0) continue;
    out.push(`## ${section}`, '');
    if (section === 'Server hooks') {
      out.push(
        'Hooks are functions in the config file; they cannot be given on the command line or in `$GWSERVER_CMD_ARGS`. ' +
          'A hook may be async. gwserver awaits the hooks that come before something (onStarting, onReload, preFork, postWorkerInit, preRequest, workerInt, onExit; workerTimeout for up to 2 s before the kill); the ones that report something that already happened (postFork, postRequest, childExit, workerExit, nworkersChanged, whenReady) run without holding the master up. A hook that throws is logged and gwserver carries on. ' +
          'The arguments follow gunicorn\'s hooks of the same name; what `server` and `worker` offer (`server.log.info(...)`, `worker.log`, `server.reload()`...) is in [configuration.md](configuration.md#server-hooks). `--print-config` shows a hook as `<function>`, or `None` when it is not set.',
        '',
      );
    }
    for (const s of settings) {
      out.push(`### \`${s.name}\``, '');
      if (s.type === 'function') {
        out.push(`- Signature: \`${s.signature}\``, `- Config file only${s.gunicorn ? ` (gunicorn: \`${s.gunicorn}\`)` : ''}`);
      } else {
        out.push(s.flag ? `- Flag: \`${flagsText(s)}\`` : '- Config file only (no flag)', `- Config key: ${keyText(s)}`, `- Default: \`${defaultText(s)}\``, `- Takes effect: ${appliesOn(s) === 'restart' ? 'on a restart or an upgrade (USR2); a HUP that changes it says so in the log and keeps the old value' : 'on HUP (the new workers take it)'}`);
      }
      out.push('', s.doc, '');
    }
  }
  return out.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!) && process.argv.includes('--write')) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(new URL('../../docs/settings.md', import.meta.url), settingsMarkdown());
}
