/**
 * Loads the application named by `MODULE:CALLABLE` (gunicorn's APP_MODULE):
 * finds the module, imports it, walks to the callable, calls it first if it
 * is a factory, and checks that the result is a function.
 *
 * Every failure is a `GW_APP_LOAD` {@link GatewayError} whose message is one
 * line saying what went wrong and what to do, so that the CLI can print it
 * as is; the original error, when there is one, is the error's `cause`.
 *
 * @module
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GatewayError } from '../errors.js';
import type { Application } from '../gateway/types.js';
import { DEFAULT_CALLABLE, parseTarget, type AppTarget } from './parse-target.js';
import { resolveModule } from './resolve-module.js';

export { parseTarget, DEFAULT_CALLABLE, type AppTarget } from './parse-target.js';

/** Options of {@link loadApp}. */
export interface LoadAppOptions {
  /** The directory a relative MODULE and package names are resolved from. Default: `process.cwd()`. */
  cwd?: string;
}

const TS_FILE = /\.[cm]?ts$/;
const LIST_LIMIT = 30;

function loadError(message: string, cause?: unknown): GatewayError {
  return new GatewayError('GW_APP_LOAD', message, cause === undefined ? undefined : { cause });
}

/** `TypeError [ERR_X]: message` on one line, without the stack. */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return oneLine(typeof err === 'string' ? JSON.stringify(err) : String(err));
  const code = (err as { code?: unknown }).code;
  const head = typeof code === 'string' ? `${err.name} [${code}]` : err.name;
  const where = location(err);
  return `${head}: ${oneLine(err.message)}${where ? ` (at ${where})` : ''}`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

const OWN_FILES = new Set([fileURLToPath(import.meta.url)]);

/**
 * Where the error arose in the user's code: the `file:line` header Node puts
 * above an ESM syntax error, else the first stack frame outside Node's
 * internals and this loader. It turns "threw while loading" into something
 * actionable without printing a stack.
 */
function location(err: Error): string | undefined {
  const stack = typeof err.stack === 'string' ? err.stack : '';
  const header = /^(file:\/\/\S+|\/\S+|[A-Za-z]:\\\S+):(\d+)\n/.exec(stack);
  if (header) return `${toPath(header[1]!)}:${header[2]}`;
  for (const line of stack.split('\n')) {
    const frame = /^\s+at (?:.*? \()?((?:file:\/\/|\/|[A-Za-z]:\\)[^()]*?):(\d+):(\d+)\)?$/.exec(line);
    if (!frame) continue;
    const file = toPath(frame[1]!);
    if (OWN_FILES.has(file)) continue;
    return `${file}:${frame[2]}:${frame[3]}`;
  }
  return undefined;
}

function toPath(fileOrUrl: string): string {
  try {
    return fileOrUrl.startsWith('file://') ? fileURLToPath(fileOrUrl) : fileOrUrl;
  } catch {
    return fileOrUrl;
  }
}

/** "an object", "a string", "an instance of Foo", "null"... for "it is ..." messages. */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    const ctor = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name;
    if (typeof (value as { then?: unknown }).then === 'function') return 'a promise';
    return ctor && ctor !== 'Object' ? `an instance of ${ctor}` : 'an object';
  }
  const type = typeof value;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function isClass(fn: Function): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(fn));
}

function names(value: object, exclude: Set<string> = new Set()): string[] {
  const found = new Set<string>();
  for (const key of Object.keys(value)) found.add(key);
  // Methods of a class instance live on its prototypes.
  for (let proto = Object.getPrototypeOf(value); proto && proto !== Object.prototype && proto !== Function.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Object.getOwnPropertyNames(proto)) if (key !== 'constructor') found.add(key);
  }
  return [...found].filter((n) => !exclude.has(n));
}

function list(items: string[]): string {
  if (items.length === 0) return 'nothing';
  const shown = items.slice(0, LIST_LIMIT).join(', ');
  return items.length > LIST_LIMIT ? `${shown}, ... (${items.length} in all)` : shown;
}

function isObjectLike(value: unknown): value is object {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

/**
 * Whether `key` is an attribute of `obj` the user could mean: its own or
 * inherited from a class, but not Object's or Function's builtins, so that
 * `toString` or `call` never pass for an application.
 */
function hasAttr(obj: object, key: string): boolean {
  for (let o: object | null = obj; o && o !== Object.prototype && o !== Function.prototype; o = Object.getPrototypeOf(o)) {
    if (Object.hasOwn(o, key)) return true;
  }
  return false;
}

/**
 * Walks a dotted path from the module namespace. The first name is looked up
 * among the module's exports, then on its default export: for a CommonJS
 * module the default export is `module.exports`, and Node's static detection
 * of CommonJS named exports misses many of them (`module.exports = {...}`
 * built at run time).
 *
 * @returns the value and the object it was read from (undefined for the
 *   namespace itself, which is not a meaningful `this`).
 */
function walk(ns: Record<string, unknown>, dotted: string, target: string, spec: string): { value: unknown; parent: object | undefined } {
  const [first, ...rest] = dotted.split('.') as [string, ...string[]];
  const fallback = ns.default;
  let parent: object | undefined;
  let value: unknown;
  if (first in ns) {
    value = ns[first];
  } else if (isObjectLike(fallback) && hasAttr(fallback, first)) {
    parent = fallback;
    value = (fallback as Record<string, unknown>)[first];
  } else {
    const exported = names(ns);
    if (isObjectLike(fallback)) exported.push(...names(fallback, new Set(exported)));
    // The usual slip: a module whose app is its default export, loaded without naming a CALLABLE.
    const hint = typeof fallback === 'function' && dotted === DEFAULT_CALLABLE
      ? `; its default export (module.exports for CommonJS) is a function: use "${spec}:default"`
      : '';
    throw loadError(`module "${spec}" has no attribute "${dotted}" (it exports: ${list(exported)})${hint}`);
  }
  let walked = first;
  for (const key of rest) {
    if (!isObjectLike(value) || !hasAttr(value, key)) {
      const has = isObjectLike(value) ? `"${walked}" has: ${list(names(value))}` : `"${walked}" is ${describeValue(value)}`;
      throw loadError(`module "${spec}" has no attribute "${dotted}" (${has}); check "${target}"`);
    }
    parent = value;
    value = (value as Record<string, unknown>)[key];
    walked += `.${key}`;
  }
  return { value, parent };
}

/** Attributes holding functions, read from property descriptors so that no getter runs. */
function methodNames(obj: object): string[] {
  return names(obj).filter((key) => {
    for (let o: object | null = obj; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
      const desc = Object.getOwnPropertyDescriptor(o, key);
      if (desc) return typeof desc.value === 'function';
    }
    return false;
  });
}

function checkFunction(what: string, value: unknown, verb: 'is' | 'returned'): asserts value is Function {
  if (typeof value !== 'function') {
    const methods = verb === 'is' && isObjectLike(value) ? methodNames(value) : [];
    const pickMethod = methods.length ? `; to serve one of its methods (${list(methods)}), name it, e.g. "${what}.${methods[0]}"` : '';
    throw loadError(
      `"${what}" ${verb === 'is' ? 'is not a function' : 'did not return a function'} (it ${verb} ${describeValue(value)}): ` +
        `the application must be a function (environ, startResponse)${pickMethod}`,
    );
  }
  if (isClass(value)) {
    throw loadError(
      `"${what}" ${verb} a class, which cannot be called without new: ` +
        `name a method of an instance (e.g. app.handle) or a factory that returns the application`,
    );
  }
}

/** Why this Node cannot import a .ts file, and the three ways out. */
function typeScriptMessage(spec: string): string {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const hasFlag = (major === 22 && minor >= 6) || (major === 23 && minor < 6);
  const enable = hasFlag
    ? 'enable type stripping (NODE_OPTIONS=--experimental-strip-types)'
    : 'use Node 22.18+ or 23.6+, which strips types';
  return (
    `cannot load TypeScript module "${spec}": Node v${process.versions.node} does not run TypeScript here; ` +
    `compile it (tsc) and load the .js, or ${enable}, or run gwserver through a loader (node --import tsx <gwserver> ...)`
  );
}

async function importFile(file: string, spec: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    // Importing a .ts file is always attempted: Node's type stripping
    // (process.features.typescript) or a loader such as tsx may handle it,
    // and only Node knows. When nothing did, say how to make it work.
    const code = (err as { code?: unknown } | null)?.code;
    if (TS_FILE.test(file) && code === 'ERR_UNKNOWN_FILE_EXTENSION') throw loadError(typeScriptMessage(spec), err);
    // Node 20 keeps the line of an ES module's syntax error to itself.
    const where = err instanceof SyntaxError && !location(err) ? `; to see where, run: node --check ${file}` : '';
    throw loadError(`module "${spec}" (${file}) threw while loading: ${describeError(err)}${where}`, err);
  }
}

/**
 * Loads the application that `target` (`MODULE:CALLABLE`) names.
 *
 * MODULE is resolved from `options.cwd` (see {@link resolveModule}) and
 * imported with `import()`, so ES modules and CommonJS both work; a `.ts`
 * file works where the running Node (or a loader) handles TypeScript.
 * CALLABLE (default `application`) is an export, `default` (for CommonJS:
 * `module.exports`), a dotted path whose last step is bound to its object
 * (`app.handler`), or a factory call with JSON arguments
 * (`createApp("prod", 2)`) whose result is awaited.
 *
 * @example
 * ```ts
 * const app = await loadApp('examples/hello');             // examples/hello.js, export "application"
 * const api = await loadApp('./api.mjs:createApp("prod")'); // factory call
 * ```
 * @throws GatewayError `GW_APP_LOAD` with a one-line message; `cause` holds
 *   the error the module or factory threw, if any.
 */
export async function loadApp(target: string, options: LoadAppOptions = {}): Promise<Application> {
  const parsed: AppTarget = parseTarget(target);
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const file = await resolveModule(parsed.module, cwd);
  const ns = await importFile(file, parsed.module);
  const spec = parsed.module;
  const dotted = parsed.call?.name ?? parsed.callable;
  const { value, parent } = walk(ns, dotted, target, spec);
  const named = `${spec}:${dotted}`;

  checkFunction(named, value, 'is');
  if (!parsed.call) {
    // A method taken off its object would lose `this`.
    return (parent ? value.bind(parent) : value) as Application;
  }
  let app: unknown;
  try {
    app = await value.apply(parent, parsed.call.args);
  } catch (err) {
    throw loadError(`factory "${target}" threw: ${describeError(err)}`, err);
  }
  checkFunction(target, app, 'returned');
  return app as Application;
}
