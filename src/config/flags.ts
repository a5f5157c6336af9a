/**
 * Flags to raw setting values: the yargs options are generated from the
 * settings registry. The same parser reads the command line and
 * $GWSERVER_CMD_ARGS; only the command line has --help, --version, the
 * actions (--print-config, --check-config) and the application.
 *
 * It lives in config/, not cli/, because the master re-reads the command
 * line on HUP (reloadConfig) and must not import the CLI.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { SETTINGS, type Setting } from './settings.js';
import { closest } from './suggest.js';
import { ExitNow, UsageError } from './usage-error.js';

export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** What gwserver is asked to do: serve, print the resolved configuration, or check it and the app. */
export type Action = 'run' | 'print' | 'check';

/** The flags that are not settings, each a question to answer instead of serving; only the command line has them. */
export const ACTION_FLAGS: ReadonlyArray<{ flag: string; short?: string; doc: string }> = [
  { flag: '--help', short: 'h', doc: 'Show this help and exit.' },
  { flag: '--version', short: 'v', doc: 'Print the version and exit.' },
  { flag: '--print-config', doc: 'Print the resolved configuration, one "name = value" line per setting, and exit.' },
  { flag: '--check-config', doc: 'Check what a start checks, without binding or forking: the configuration, each --bind (a unix socket\'s directory, a host name), --group and --user, and the app loaded as that user; then exit, 0 if all is fine (the exit codes: docs/configuration.md).' },
];

/** Settings that have a flag, keyed by the flag without its dashes. */
const BY_FLAG = new Map(
  (SETTINGS as readonly Setting<unknown>[]).filter((s) => s.flag !== undefined).map((s) => [s.flag!.slice(2), s]),
);
const FILE_ONLY = (SETTINGS as readonly Setting<unknown>[]).filter((s) => s.flag === undefined);

export interface ParsedFlags {
  /** Raw values by setting name, as typed (strings; booleans for bool flags; arrays for repeatable ones). */
  values: Map<string, unknown>;
  positional: string[];
  action: Action;
}

/** "Unknown argument: worker" plus what was probably meant. */
function withSuggestion(message: string): string {
  const m = /^Unknown arguments?: ([^,\s]+)/.exec(message);
  if (!m || m[1]!.length < 2) return message;
  const name = m[1]!;
  const hook = FILE_ONLY.find((s) => closest(name, [s.name]) !== undefined);
  if (hook?.name === 'app') return `${message} (give MODULE:CALLABLE as the last argument, or app in a config file)`;
  if (hook) return `${message} (${hook.name} can only be set in a config file)`;
  const flag = closest(name, BY_FLAG.keys());
  return flag ? `${message} (did you mean --${flag}?)` : message;
}

/**
 * Parses `words` (the command line, or the split $GWSERVER_CMD_ARGS when
 * `source` names it). Validation is left to the loader, once values are merged.
 *
 * @throws UsageError for an unknown flag or a missing value; ExitNow after --help or --version.
 */
export async function parseFlags(words: string[], source?: 'GWSERVER_CMD_ARGS'): Promise<ParsedFlags> {
  const cli = source === undefined;
  let failure: string | undefined;
  const parser = yargs(words)
    .scriptName('gwserver')
    .parserConfiguration({ 'camel-case-expansion': false, 'parse-numbers': false, 'parse-positional-numbers': false, 'boolean-negation': false })
    .strictOptions()
    .exitProcess(false)
    .fail((msg, err) => {
      failure = msg || err?.message || 'invalid arguments';
    });
  // yargs' own help and version are off: src/cli/help.ts writes a help with metavars and defaults, and gunicorn's -v.
  parser.help(false).version(false);
  if (cli) {
    for (const a of ACTION_FLAGS) parser.option(a.flag.slice(2), { type: 'boolean', ...(a.short === undefined ? {} : { alias: a.short }) });
  }
  for (const [name, s] of BY_FLAG) {
    parser.option(name, {
      type: s.type === 'bool' ? 'boolean' : 'string',
      alias: s.short,
      requiresArg: s.type !== 'bool',
    });
  }
  const args = await parser.parseAsync();
  const where = cli ? '' : `${source}: `;
  if (failure !== undefined) {
    const message = withSuggestion(failure);
    throw new UsageError(`${where}${message}${cli && message === failure ? ' (see gwserver --help)' : ''}`);
  }
  const last = (v: unknown) => (Array.isArray(v) ? v[v.length - 1] : v) === true;
  if (cli && last(args.help)) throw new ExitNow('help');
  if (cli && last(args.version)) throw new ExitNow('version');

  const values = new Map<string, unknown>();
  for (const [name, s] of BY_FLAG) {
    const raw = args[name];
    if (raw === undefined) continue;
    values.set(s.name, s.type === 'strings' ? (Array.isArray(raw) ? raw : [raw]) : Array.isArray(raw) ? raw[raw.length - 1] : raw);
  }
  const positional = args._.map(String);
  if (!cli && positional.length > 0) {
    throw new UsageError(`${where}holds flags only; put the application on the command line (found ${JSON.stringify(positional.join(' '))})`);
  }
  const print = last(args['print-config']);
  const check = last(args['check-config']);
  if (print && check) throw new UsageError('--print-config and --check-config cannot be combined');
  return { values, positional, action: print ? 'print' : check ? 'check' : 'run' };
}
