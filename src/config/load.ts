/**
 * Resolves the configuration: defaults < config file < $GWSERVER_CMD_ARGS <
 * command line, as gunicorn does (with $GUNICORN_CMD_ARGS). Each layer's keys
 * are checked as it is read; the merged values are then validated once, each
 * error naming the layer its value came from, and the result is frozen.
 *
 * The master calls {@link reloadConfig} on HUP: the same command line,
 * environment and start directory, and the config file read afresh.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readConfigFile } from './config-file.js';
import { parseFlags, type Action, type ParsedFlags } from './flags.js';
import { rawDefault, SETTING_BY_NAME, SETTINGS, type Config, type Setting } from './settings.js';
import { shellWords } from './shell-words.js';
import { closest } from './suggest.js';
import { UsageError } from './usage-error.js';

export { UsageError, ExitNow } from './usage-error.js';
export type { Action } from './flags.js';

/** The config file read when none is named, relative to the directory gwserver starts in. */
export const DEFAULT_CONFIG_FILE = 'gwserver.config.js';

/** What a configuration was resolved from: enough to resolve it again. */
export interface Invocation {
  /** The command line, without node and the script. */
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  /** The directory gwserver started in (before --chdir): relative paths on the command line and in the environment are relative to it. */
  cwd: string;
}

interface Resolved<A extends Action, T> {
  action: A;
  /** MODULE:CALLABLE: the positional argument, else the config file's `app`. */
  target: T;
  /** Validated and frozen. */
  config: Readonly<Config>;
  /** The config file read (absolute), if any. */
  configFile?: string;
  /** Its text as read: workers evaluate this snapshot for the hooks, not the file as it may be later. */
  configSource?: string;
  invocation: Invocation;
}

/** A resolved configuration. Only `--print-config` may go without an application. */
export type ResolvedConfig = Resolved<'run', string> | Resolved<'check', string> | Resolved<'print', string | undefined>;

/** gunicorn settings gwserver does not have, and what to do instead. */
const GUNICORN_ONLY: Record<string, string> = {
  worker_class: 'gwserver has one kind of worker, a Node.js event loop',
  threads: 'a gwserver worker is one event loop; add workers instead',
  daemon: 'run gwserver in the foreground under systemd or another supervisor',
  worker_abort: 'use workerTimeout(worker, stack), which runs in the master with the stuck stack',
  raw_env: 'set the variables in the environment gwserver starts in',
  ssl_version: 'use tlsMinVersion (--tls-min-version, TLSv1.2 by default)',
  do_handshake_on_connect: 'the TLS handshake always completes before a request is read',
  suppress_ragged_eofs: 'a client that closes without a TLS close_notify is a client gone, as with its default True',
};

/** Other names a config file may use for a setting: its snake_case and gunicorn's name. */
const ALIASES: ReadonlyMap<string, string> = (() => {
  const map = new Map<string, string>();
  for (const s of SETTINGS as readonly Setting<unknown>[]) {
    const snake = s.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    for (const alias of [snake, s.gunicorn]) {
      if (alias !== undefined && alias !== s.name) map.set(alias, s.name);
    }
  }
  return map;
})();

/** Where a value came from, for error messages. */
type Source =
  | { kind: 'default' }
  | { kind: 'env'; variable: string }
  | { kind: 'file'; label: string; key: string }
  | { kind: 'cmd-args' }
  | { kind: 'argv' };

function invalid(s: Setting<unknown>, source: Source, reason: string): UsageError {
  switch (source.kind) {
    case 'argv':
      return new UsageError(`invalid value for ${s.flag}: ${reason}`);
    case 'cmd-args':
      return new UsageError(`GWSERVER_CMD_ARGS: invalid value for ${s.flag}: ${reason}`);
    case 'file':
      return new UsageError(`${source.label}: invalid value for ${source.key}: ${reason}`);
    case 'env':
      return new UsageError(`$${source.variable}: invalid value for ${s.name}: ${reason}`);
    case 'default':
      return new UsageError(`invalid default for ${s.name}: ${reason}`);
  }
}

/** A file's settings by setting name, with the key each was written as. */
/** A config file's settings by their canonical names (snake_case and gunicorn aliases resolved), unvalidated. */
export function canonicalSettings(values: Record<string, unknown>, label: string): Record<string, unknown> {
  return Object.fromEntries([...fileSettings(values, label)].map(([name, { value }]) => [name, value]));
}

function fileSettings(values: Record<string, unknown>, label: string): Map<string, { key: string; value: unknown }> {
  const out = new Map<string, { key: string; value: unknown }>();
  for (const [key, value] of Object.entries(values)) {
    const name = SETTING_BY_NAME.has(key) ? key : ALIASES.get(key);
    if (name === undefined) {
      const instead = GUNICORN_ONLY[key];
      if (instead !== undefined) throw new UsageError(`${label}: unknown setting "${key}" (gunicorn's ${key} has no equivalent: ${instead})`);
      const guess = closest(key, [...SETTING_BY_NAME.keys()]);
      throw new UsageError(`${label}: unknown setting "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}`);
    }
    if (name === 'config') throw new UsageError(`${label}: "${key}" cannot be set in a config file (name the file with -c on the command line)`);
    const earlier = out.get(name);
    if (earlier) throw new UsageError(`${label}: sets ${name} twice (as "${earlier.key}" and "${key}")`);
    out.set(name, { key, value });
  }
  return out;
}

/** How errors name a file: relative to the start directory when it is inside it. */
function labelOf(file: string, cwd: string): string {
  const rel = path.relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

async function cmdArgs(env: NodeJS.ProcessEnv): Promise<ParsedFlags | undefined> {
  const text = env.GWSERVER_CMD_ARGS;
  if (text === undefined || text.trim() === '') return undefined;
  let words: string[];
  try {
    words = shellWords(text);
  } catch (err) {
    throw new UsageError(`GWSERVER_CMD_ARGS: ${(err as Error).message}`);
  }
  return parseFlags(words, 'GWSERVER_CMD_ARGS');
}

/**
 * Resolves the configuration from a command line, an environment and the
 * directory gwserver started in.
 *
 * @example
 * ```ts
 * const { action, target, config } = await resolveConfig(process.argv.slice(2), process.env, process.cwd());
 * ```
 * @throws UsageError with a one-line message (exit 2): an unknown flag or
 *   key, a bad value, a config file that is missing or does not load, no
 *   application to run. ExitNow after --help or --version (exit 0).
 */
export async function resolveConfig(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<ResolvedConfig> {
  const cli = await parseFlags([...argv]);
  if (cli.positional.length > 1) throw new UsageError(`one application expected, got ${cli.positional.length}: ${cli.positional.join(' ')}`);
  const fromEnv = await cmdArgs(env);

  // The config file: named on the command line, else in $GWSERVER_CMD_ARGS, else the default if present.
  const named = (cli.values.get('config') ?? fromEnv?.values.get('config')) as string | undefined;
  let configFile: string | undefined;
  if (named !== undefined) {
    if (named === '') throw new UsageError('--config: expected a file name');
    configFile = path.resolve(cwd, named);
    if (!existsSync(configFile)) throw new UsageError(`config file ${named} not found (from -c/--config${cli.values.has('config') ? '' : ' in GWSERVER_CMD_ARGS'})`);
  } else if (existsSync(path.join(cwd, DEFAULT_CONFIG_FILE))) {
    configFile = path.join(cwd, DEFAULT_CONFIG_FILE);
  }
  const label = configFile === undefined ? '' : labelOf(configFile, cwd);
  // The text is kept for the workers (src/config/snapshot.ts), read just before the import.
  const configSource = configFile === undefined || !existsSync(configFile) ? undefined : readFileSync(configFile, 'utf8');
  const file = configFile === undefined ? new Map() : fileSettings(await readConfigFile(configFile, label), label);

  // Merge, highest layer first, then validate each winning value once.
  const merged: Record<string, unknown> = {};
  for (const s of SETTINGS as readonly Setting<unknown>[]) {
    let raw: unknown;
    let source: Source;
    if (cli.values.has(s.name)) {
      raw = cli.values.get(s.name);
      source = { kind: 'argv' };
    } else if (fromEnv?.values.has(s.name)) {
      raw = fromEnv.values.get(s.name);
      source = { kind: 'cmd-args' };
    } else if (file.has(s.name)) {
      const { key, value } = file.get(s.name)!;
      raw = value;
      source = { kind: 'file', label, key };
    } else {
      raw = rawDefault(s, env);
      source = s.env !== undefined && env[s.env] !== undefined && env[s.env] !== '' ? { kind: 'env', variable: s.env } : { kind: 'default' };
    }
    try {
      merged[s.name] = s.validate(raw);
    } catch (err) {
      throw invalid(s, source, (err as Error).message);
    }
  }
  const conflict = conflicts(merged);
  if (conflict !== undefined) throw new UsageError(conflict);
  merged.config = configFile ?? '';
  const target = cli.positional[0] ?? ((merged.app as string) || undefined);
  merged.app = target ?? '';
  if (target === undefined && cli.action !== 'print') {
    throw new UsageError('no application given: run gwserver [options] MODULE:CALLABLE, e.g. gwserver app:application (or set app in the config file)');
  }
  for (const value of Object.values(merged)) if (Array.isArray(value)) Object.freeze(value);
  const config = Object.freeze(merged) as unknown as Readonly<Config>;
  const invocation: Invocation = Object.freeze({ argv: Object.freeze([...argv]), env, cwd });
  return { action: cli.action, target, config, ...(configFile === undefined ? {} : { configFile, configSource }), invocation } as ResolvedConfig;
}

/** Settings that are each valid but make no sense together: the one-line reason, or undefined. */
export function conflicts(c: Record<string, unknown>): string | undefined {
  if (c.http2Cleartext === true && !(c.httpProtocols as string[]).includes('h2')) {
    return `--http2-cleartext needs h2 in --http-protocols (it is ${(c.httpProtocols as string[]).join(',')}): e.g. --http-protocols h1,h2 --http2-cleartext`;
  }
  const min = c.workersMin as number;
  const max = c.workersMax as number;
  if (max === 0 && min !== 1) return `--workers-min ${min} needs --workers-max (adaptive workers are on only with --workers-max): e.g. --workers-min ${min} --workers-max ${min * 2}`;
  if (max > 0 && min > max) return `--workers-min ${min} is more than --workers-max ${max}`;
  return undefined;
}

/**
 * Resolves the configuration again as it was first resolved: the same
 * command line, environment and start directory, the config file read
 * afresh (gwserver's HUP). The action, hence the target's type, is that of
 * the first resolution.
 *
 * @example
 * ```ts
 * // In the master, on HUP:
 * try {
 *   resolved = await reloadConfig(resolved);
 * } catch (err) {
 *   logger.error(err.message); // a UsageError: keep running with the old config
 * }
 * ```
 * @throws UsageError when the configuration is no longer valid: keep the previous one.
 */
export async function reloadConfig<R extends ResolvedConfig>(previous: R): Promise<Extract<ResolvedConfig, { action: R['action'] }>>;
export async function reloadConfig(previous: Invocation): Promise<ResolvedConfig>;
export async function reloadConfig(previous: ResolvedConfig | Invocation): Promise<ResolvedConfig> {
  const inv = 'invocation' in previous ? previous.invocation : previous;
  return resolveConfig(inv.argv, inv.env, inv.cwd);
}
