/**
 * A config file as the master read it. Hooks are functions, which cannot
 * cross the IPC channel, so a worker evaluates the config file itself; to
 * run the hooks of the configuration the master runs (and not of a file
 * edited since, without a HUP), the master hands over the source text it
 * read and the worker evaluates that text under the file's own name, so
 * that the file's relative imports resolve as they did for the master.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, settingsOf } from './config-file.js';
import { UsageError } from './usage-error.js';

/** The module format Node gives a `.js` file: the nearest package.json's "type". */
function isEsm(file: string): boolean {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.mjs') return true;
  if (ext === '.cjs') return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: string }).type === 'module';
      } catch {
        return false;
      }
    }
    if (path.dirname(dir) === dir) return false;
  }
}

// Loader hooks (run on Node's loader thread): serve the snapshot's text for its URL.
const HOOKS = `
let sources = new Map();
export function initialize(data) { sources = new Map(data.entries); }
export async function load(url, context, next) {
  const source = sources.get(url);
  if (source !== undefined) return { format: 'module', source, shortCircuit: true };
  return next(url, context);
}
`;

/**
 * Evaluates `source` as the config file `file` and returns its settings as
 * written (hooks included).
 *
 * @throws UsageError with a one-line message.
 */
export async function evaluateSnapshot(file: string, source: string, label: string): Promise<Record<string, unknown>> {
  const ext = path.extname(file).toLowerCase();
  try {
    if (ext === '.json') return JSON.parse(source) as Record<string, unknown>;
    if (!isEsm(file)) {
      const ModuleCtor = Module as unknown as {
        new (id: string): { filename: string; paths: string[]; exports: unknown; _compile(source: string, filename: string): void };
        _nodeModulePaths(dir: string): string[];
      };
      const m = new ModuleCtor(file);
      m.filename = file;
      m.paths = ModuleCtor._nodeModulePaths(path.dirname(file));
      m._compile(source, file);
      return settingsOf({ default: m.exports }, label);
    }
    const url = `${pathToFileURL(file).href}?gwserver-config-snapshot`;
    register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { data: { entries: [[url, source]] } });
    return settingsOf((await import(url)) as Record<string, unknown>, label);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${label}: cannot load the config file: ${describe(err, file)}`, { cause: err });
  }
}
