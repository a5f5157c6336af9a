/**
 * Reads a config file: a `.js`, `.mjs` or `.cjs` module, imported, whose
 * default export (module.exports for CommonJS) or named exports are the
 * settings, or a `.json` object. The result is the object as written; the
 * keys are checked and the values validated by the loader (load.ts).
 *
 * Each read imports the file afresh, so that a HUP sees the edited file.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { moduleSystemMistake } from './module-system.js';
import { UsageError } from './usage-error.js';

/** The extensions a config file may have. */
export const CONFIG_EXTENSIONS = ['.js', '.mjs', '.cjs', '.json'] as const;

const require = createRequire(import.meta.url);
let generation = 0;

/** `TypeError [ERR_X]: message (at file:line)` on one line. */
export function describe(err: unknown, file: string): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const head = typeof code === 'string' ? `${err.name} [${code}]` : err.name;
  // The first line of the config file itself in the stack, if any (an ESM
  // syntax error has none: Node 20 keeps its position to itself).
  const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const here = new RegExp(`(?:${escape(pathToFileURL(file).href)}|${escape(file)})(?:\\?[^:\\s)]*)?:(\\d+)(?::\\d+|\\n)`);
  const at = here.exec(err.stack ?? '');
  const where = at ? ` (at ${file}:${at[1]})` : err instanceof SyntaxError ? `; to see where, run: node --check ${file}` : '';
  return `${head}: ${err.message.replace(/\s*\n\s*/g, ' ')}${where}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const SHAPE = 'a config module must export its settings: `export default { workers: 4 }`, `export const workers = 4`, or `module.exports = { workers: 4 }`';

/** The settings object of an imported module namespace. */
export function settingsOf(ns: Record<string, unknown>, label: string): Record<string, unknown> {
  const named = Object.keys(ns).filter((k) => k !== 'default' && k !== '__esModule');
  if (!('default' in ns)) return Object.fromEntries(named.map((k) => [k, ns[k]]));
  let def = ns.default;
  // CommonJS compiled from ESM (tsc, babel): module.exports = { __esModule: true, default: {...} }.
  if (isPlainObject(def) && def.__esModule === true && isPlainObject(def.default)) def = def.default;
  if (!isPlainObject(def)) {
    throw new UsageError(`${label}: the default export is ${def === null ? 'null' : Array.isArray(def) ? 'an array' : `a ${typeof def}`}, not an object of settings (${SHAPE})`);
  }
  // For CommonJS, Node also offers the keys of module.exports it detects as named exports: the same values.
  const extra = named.filter((k) => !(k in def) || def[k] !== ns[k]);
  if (extra.length > 0) {
    throw new UsageError(`${label}: has both a default export and named exports (${extra.join(', ')}): put every setting in one of them`);
  }
  const { __esModule: _, ...settings } = def;
  return settings;
}

/**
 * Reads the config file at `file` (absolute) and returns its settings as
 * written. `label` names the file in error messages.
 *
 * @throws UsageError with a one-line message.
 */
export async function readConfigFile(file: string, label: string): Promise<Record<string, unknown>> {
  const ext = path.extname(file).toLowerCase();
  if (!(CONFIG_EXTENSIONS as readonly string[]).includes(ext)) {
    throw new UsageError(`${label}: a config file must be a .js, .mjs, .cjs or .json file`);
  }
  if (ext === '.json') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`${label}: cannot read the config file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`${label}: not valid JSON: ${(err as Error).message}`);
    }
    if (!isPlainObject(value)) throw new UsageError(`${label}: a JSON config file must hold an object of settings, e.g. {"workers": 4}`);
    return value;
  }
  // import() caches by URL and, for CommonJS, by file name in require.cache:
  // a new query string and a cleared cache entry make each read a fresh one.
  delete require.cache[file];
  let ns: Record<string, unknown>;
  try {
    ns = (await import(`${pathToFileURL(file).href}?gwserver-config=${++generation}`)) as Record<string, unknown>;
  } catch (err) {
    const mistake = moduleSystemMistake(err, file, 'the config file');
    if (mistake !== undefined) throw new UsageError(`${label}: ${mistake}`, { cause: err });
    throw new UsageError(`${label}: cannot load the config file: ${describe(err, file)}`, { cause: err });
  }
  return settingsOf(ns, label);
}
