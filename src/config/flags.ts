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

function firstSentence(doc: string): string {
  // "e.g." and "i.e." do not end a sentence.
  const i = doc.search(/(?<!\be\.g|\bi\.e)\.(\s|$)/);
  return i >= 0 ? doc.slice(0, i + 1) : doc;
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
  if (cli) {
    parser
      .usage('$0 [options] [MODULE:CALLABLE]\n\nServe the gateway application CALLABLE (default: application) of MODULE (a file, directory or package).')
      .version(VERSION)
      .help()
      .alias('help', 'h')
      .wrap(Math.min(100, process.stdout.columns || 100))
      .option('print-config', { type: 'boolean', describe: 'Print the resolved configuration, one "name = value" line per setting, and exit.', group: 'Actions:' })
      .option('check-config', { type: 'boolean', describe: 'Check the configuration and load the app, then exit: 0 if both are fine.', group: 'Actions:' })
      .epilog('Settings also come from a config file (-c, default ./gwserver.config.js) and $GWSERVER_CMD_ARGS; the command line wins. Hooks are set in the config file. See docs/settings.md and docs/configuration.md.');
  } else {
    parser.help(false).version(false);
  }
  for (const [name, s] of BY_FLAG) {
    parser.option(name, {
      type: s.type === 'bool' ? 'boolean' : 'string',
      alias: s.short,
      describe: firstSentence(s.doc),
      requiresArg: s.type !== 'bool',
      group: `${s.section}:`,
    });
  }
  const args = await parser.parseAsync();
  const where = cli ? '' : `${source}: `;
  if (failure !== undefined) {
    const message = withSuggestion(failure);
    throw new UsageError(`${where}${message}${cli && message === failure ? ' (see gwserver --help)' : ''}`);
  }
  if (cli && (args.help || args.version)) throw new ExitNow();

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
  const last = (v: unknown) => (Array.isArray(v) ? v[v.length - 1] : v) === true;
  const print = last(args['print-config']);
  const check = last(args['check-config']);
  if (print && check) throw new UsageError('--print-config and --check-config cannot be combined');
  return { values, positional, action: print ? 'print' : check ? 'check' : 'run' };
}
