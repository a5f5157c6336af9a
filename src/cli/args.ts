/**
 * From argv (and the environment) to the validated settings: yargs options
 * generated from the settings registry, each value through its validator.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { defaults, SETTINGS, type Config, type Setting } from '../config/settings.js';

export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A mistake on the command line or in the config: one line for the user, exit 2. */
export class UsageError extends Error {}

function firstSentence(doc: string): string {
  const i = doc.search(/\.(\s|$)/);
  return i >= 0 ? doc.slice(0, i + 1) : doc;
}

/** Parses argv into the target and the validated config. Throws UsageError with a one-line message. */
export async function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ target: string; config: Config }> {
  let failure: string | undefined;
  const parser = yargs(argv)
    .scriptName('gwserver')
    .usage('$0 [options] MODULE:CALLABLE\n\nServe the gateway application CALLABLE (default: application) of MODULE (a file, directory or package).')
    .parserConfiguration({ 'camel-case-expansion': false, 'parse-numbers': false, 'parse-positional-numbers': false, 'boolean-negation': false })
    .strictOptions()
    .version(VERSION)
    .help()
    .alias('help', 'h')
    .wrap(Math.min(100, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      failure = msg || err?.message || 'invalid arguments';
    });
  for (const s of SETTINGS as readonly Setting<unknown>[]) {
    const name = s.flag.slice(2);
    parser.option(name, {
      type: s.type === 'bool' ? 'boolean' : 'string',
      alias: s.short,
      describe: firstSentence(s.doc),
      requiresArg: s.type !== 'bool',
      group: `${s.section}:`,
    });
  }
  const args = await parser.parseAsync();
  if (failure !== undefined) throw new UsageError(`${failure} (see gwserver --help)`);
  if (args.help || args.version) throw new ExitNow();
  const positional = args._.map(String);
  if (positional.length === 0) throw new UsageError('no application given: run gwserver [options] MODULE:CALLABLE, e.g. gwserver examples/hello:application');
  if (positional.length > 1) throw new UsageError(`one application expected, got ${positional.length}: ${positional.join(' ')}`);

  const config = defaults(env) as unknown as Record<string, unknown>;
  for (const s of SETTINGS as readonly Setting<unknown>[]) {
    const raw = args[s.flag.slice(2)];
    if (raw === undefined) continue;
    const value = s.type === 'strings' ? (Array.isArray(raw) ? raw : [raw]) : Array.isArray(raw) ? raw[raw.length - 1] : raw;
    try {
      config[s.name] = s.validate(value);
    } catch (err) {
      throw new UsageError(`invalid value for ${s.flag}: ${(err as Error).message}`);
    }
  }
  return { target: positional[0]!, config: config as unknown as Config };
}

/** --help or --version was printed: exit 0. */
export class ExitNow extends Error {}

