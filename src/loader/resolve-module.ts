/**
 * Finds the file that MODULE names: a path relative to the working directory
 * (with `.js`, `.mjs` or `.cjs` appended if need be, or a directory with an
 * entry point), or else a package installed in a `node_modules` above it.
 *
 * Node's own resolvers cannot do this job on Node 20: `require.resolve` uses
 * the `require` export condition (so it misses ESM-only packages) and
 * `import.meta.resolve` cannot resolve from an arbitrary directory without
 * an experimental flag. So the rules are spelled out here, following Node's
 * ESM resolution for packages (`exports` with the `import`/`node`/`default`
 * conditions, else `main`).
 *
 * @module
 */
import { stat, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { GatewayError } from '../errors.js';

/** Extensions tried, in this order, after MODULE as given. */
export const EXTENSIONS = ['.js', '.mjs', '.cjs'] as const;
const INDEXES = EXTENSIONS.map((ext) => `index${ext}`);
const TS_EXTENSIONS = ['.ts', '.mts', '.cts'] as const;

// The conditions `import()` matches. "module-sync" is matched wherever
// require(esm) is on (Node 20.19+, 22.12+), as Node's own resolver does.
const CONDITIONS = new Set(['import', 'node', 'default']);
if ((process.features as { require_module?: boolean }).require_module) CONDITIONS.add('module-sync');

function loadError(message: string): GatewayError {
  return new GatewayError('GW_APP_LOAD', message);
}

async function kind(p: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(p);
    return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : undefined;
  } catch {
    return undefined;
  }
}

/** MODULE as given, then with each extension appended. */
async function findFile(base: string): Promise<string | undefined> {
  for (const candidate of [base, ...EXTENSIONS.map((ext) => base + ext)]) {
    if ((await kind(candidate)) === 'file') return candidate;
  }
  return undefined;
}

interface PackageJson {
  main?: unknown;
  exports?: unknown;
}

async function readPackageJson(dir: string): Promise<PackageJson | undefined> {
  const file = path.join(dir, 'package.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' ? (parsed as PackageJson) : {};
  } catch (err) {
    throw loadError(`${file} is not valid JSON (${(err as Error).message.split('\n')[0]}): fix it`);
  }
}

/**
 * The entry point of a directory: its package.json `exports` (".") or
 * `main`, else index.js, index.mjs or index.cjs.
 *
 * @param label - how the directory is named in errors (`directory "x"` / `package "x"`).
 */
async function directoryEntry(dir: string, label: string): Promise<string> {
  const pkg = await readPackageJson(dir);
  if (pkg?.exports !== undefined) return exportedFile(dir, pkg.exports, '.', label);
  if (typeof pkg?.main === 'string' && pkg.main !== '') {
    const main = path.resolve(dir, pkg.main);
    const found = (await findFile(main)) ?? ((await kind(main)) === 'dir' ? await indexFile(main) : undefined);
    if (found) return found;
    throw loadError(
      `${label} has "main": "${pkg.main}" in ${path.join(dir, 'package.json')}, but ${main} does not exist` +
        ` (nor with .js, .mjs or .cjs, nor as a directory with an index file): fix "main" or build the package`,
    );
  }
  const index = await indexFile(dir);
  if (index) return index;
  throw loadError(
    `${label} (${dir}) has no entry point: give its package.json a "main" or "exports", or add ${INDEXES.join(', ')}`,
  );
}

async function indexFile(dir: string): Promise<string | undefined> {
  for (const name of INDEXES) {
    const candidate = path.join(dir, name);
    if ((await kind(candidate)) === 'file') return candidate;
  }
  return undefined;
}

type Target = string | null | undefined;

/** Node's PACKAGE_TARGET_RESOLVE, for the conditions `import()` uses. */
function resolveTarget(dir: string, target: unknown, star: string | undefined): Target {
  if (typeof target === 'string') {
    if (!target.startsWith('./')) return undefined;
    const resolved = path.resolve(dir, star === undefined ? target : target.replaceAll('*', star));
    // A target, or a pattern's match, must not climb out of the package.
    if (resolved !== dir && !resolved.startsWith(dir + path.sep)) return undefined;
    return resolved;
  }
  if (Array.isArray(target)) {
    let last: Target = undefined;
    for (const t of target) {
      last = resolveTarget(dir, t, star);
      if (typeof last === 'string') return last;
    }
    return last;
  }
  if (target !== null && typeof target === 'object') {
    for (const [condition, value] of Object.entries(target)) {
      if (!CONDITIONS.has(condition)) continue;
      const r = resolveTarget(dir, value, star);
      if (r !== undefined) return r;
    }
    return undefined;
  }
  return target === null ? null : undefined;
}

/** Node's PACKAGE_EXPORTS_RESOLVE: exact subpaths first, then the most specific `*` pattern. */
function resolveExports(dir: string, exports: unknown, subpath: string): Target {
  const isSubpathMap =
    exports !== null && typeof exports === 'object' && !Array.isArray(exports) &&
    Object.keys(exports).some((k) => k.startsWith('.'));
  if (!isSubpathMap) return subpath === '.' ? resolveTarget(dir, exports, undefined) : undefined;
  const map = exports as Record<string, unknown>;
  if (Object.hasOwn(map, subpath) && !subpath.includes('*')) return resolveTarget(dir, map[subpath], undefined);
  let bestKey: string | undefined;
  let bestStar = '';
  for (const key of Object.keys(map)) {
    const starAt = key.indexOf('*');
    if (starAt < 0 || key.indexOf('*', starAt + 1) >= 0) continue;
    const prefix = key.slice(0, starAt);
    const suffix = key.slice(starAt + 1);
    if (!subpath.startsWith(prefix) || subpath === prefix) continue;
    if (suffix && (!subpath.endsWith(suffix) || subpath.length < key.length)) continue;
    const better =
      bestKey === undefined ||
      prefix.length > bestKey.indexOf('*') ||
      (prefix.length === bestKey.indexOf('*') && key.length > bestKey.length);
    if (better) {
      bestKey = key;
      bestStar = subpath.slice(prefix.length, subpath.length - suffix.length);
    }
  }
  return bestKey === undefined ? undefined : resolveTarget(dir, map[bestKey], bestStar);
}

async function exportedFile(dir: string, exports: unknown, subpath: string, label: string): Promise<string> {
  const file = resolveExports(dir, exports, subpath);
  const pkgFile = path.join(dir, 'package.json');
  if (typeof file !== 'string') {
    throw loadError(
      `${label} does not export "${subpath}" for import() (see "exports" in ${pkgFile}): ` +
        `name an exported entry point, or a file by its path`,
    );
  }
  if ((await kind(file)) !== 'file') {
    throw loadError(`${label} exports "${subpath}" as ${file}, which does not exist: build the package or fix "exports" in ${pkgFile}`);
  }
  return file;
}

/** `@scope/name/sub/path` -> name `@scope/name`, subpath `./sub/path`; undefined if not a package name. */
function splitPackageName(spec: string): { name: string; subpath: string } | undefined {
  if (spec.startsWith('.') || spec.includes('\\') || path.isAbsolute(spec)) return undefined;
  const parts = spec.split('/');
  const nameParts = spec.startsWith('@') ? 2 : 1;
  if (parts.length < nameParts || parts.slice(0, nameParts).some((p) => p === '' || p.startsWith('.'))) {
    return undefined;
  }
  const name = parts.slice(0, nameParts).join('/');
  const rest = parts.slice(nameParts).join('/');
  return { name, subpath: rest === '' ? '.' : `./${rest}` };
}

/** Undefined when no `node_modules` above `cwd` (or a global folder) holds the package. */
async function findPackage(spec: string, cwd: string): Promise<string | undefined> {
  const parsed = splitPackageName(spec);
  if (!parsed) return undefined;
  // require.resolve.paths lists the node_modules folders from cwd upwards
  // (and the global ones) exactly as Node searches them; null for builtins.
  const lookup = createRequire(path.join(cwd, 'noop.js')).resolve.paths(parsed.name) ?? [];
  for (const nodeModules of lookup) {
    const dir = path.join(nodeModules, parsed.name);
    if ((await kind(dir)) !== 'dir') continue;
    // Node stops at the first node_modules holding the package, found or not.
    const label = `package "${parsed.name}"`;
    const pkg = await readPackageJson(dir);
    if (pkg?.exports !== undefined) return exportedFile(dir, pkg.exports, parsed.subpath, label);
    if (parsed.subpath === '.') return directoryEntry(dir, label);
    const sub = path.join(dir, parsed.subpath);
    const file = await findFile(sub);
    if (file) return file;
    if ((await kind(sub)) === 'dir') return directoryEntry(sub, `directory "${spec}"`);
    throw loadError(`${label} (${dir}) has no "${parsed.subpath}" (looked for ${sub}, ${EXTENSIONS.join(', ')}, a directory)`);
  }
  return undefined;
}

/** A hint when the module exists only as TypeScript (a forgotten extension or build). */
async function typeScriptHint(base: string, spec: string): Promise<string> {
  const stem = base.endsWith('.js') ? base.slice(0, -3) : base;
  for (const ext of TS_EXTENSIONS) {
    const candidate = stem + ext;
    if ((await kind(candidate)) === 'file') {
      const named = base.endsWith('.js') ? spec.slice(0, -3) + ext : spec + ext;
      return `; ${candidate} exists: build it (tsc) and load the .js, or name the TypeScript file itself ("${named}") on a Node that strips types`;
    }
  }
  return '';
}

/**
 * The absolute path of the file MODULE names.
 *
 * Tried in order, relative to `cwd` unless MODULE is absolute: the file as
 * given; with `.js`, `.mjs`, `.cjs` appended; a directory (package.json
 * `exports` or `main`, else index.js, index.mjs, index.cjs); a package found
 * in `node_modules` from `cwd` upwards (its `exports` with the import
 * conditions, else `main`).
 *
 * @throws GatewayError `GW_APP_LOAD` naming what was looked for.
 */
export async function resolveModule(spec: string, cwd: string): Promise<string> {
  const base = path.resolve(cwd, spec);
  // A trailing slash names a directory, as it does for Node (path.resolve drops it).
  const file = /[\\/]$/.test(spec) ? undefined : await findFile(base);
  if (file) return file;
  if ((await kind(base)) === 'dir') return directoryEntry(base, `directory "${spec}"`);
  const fromPackage = await findPackage(spec, cwd);
  if (fromPackage) return fromPackage;
  const looked = [base, ...EXTENSIONS, 'a directory', ...(splitPackageName(spec) ? ['a package'] : [])];
  throw loadError(
    `cannot find module "${spec}" (looked for ${looked.join(', ')}) relative to ${cwd}` + (await typeScriptHint(base, spec)),
  );
}
