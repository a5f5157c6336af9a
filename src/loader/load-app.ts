/**
 * Loads the application named by `MODULE:CALLABLE` (gunicorn's APP_MODULE):
 * finds the module, imports it, walks to the callable, calls it first if it
 * is a factory, and checks what the result is. {@link loadApp} wants a
 * gateway function; {@link loadServedApp} also takes node:http handlers and
 * fetch handlers (Express, Koa, Fastify, Hono...), and says which of the
 * three calling conventions a worker must serve the app with, and why.
 *
 * Every failure is a `GW_APP_LOAD` {@link GatewayError} whose message is one
 * line saying what went wrong and what to do, so that the CLI can print it
 * as is; the original error, when there is one, is the error's `cause`.
 *
 * @module
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { types } from 'node:util';
import { GatewayError } from '../errors.js';
import { moduleSystemMistake } from '../config/module-system.js';
import type { Config } from '../config/settings.js';
import type { Application } from '../gateway/types.js';
import { markOf, type FetchHandler, type InterfaceMark, type InterfaceName, type InterfaceSetting, type NodeHandler, type ServedApp } from '../interop/kinds.js';
import { DEFAULT_CALLABLE, parseTarget, type AppTarget } from './parse-target.js';
import { resolveModule } from './resolve-module.js';

export { parseTarget, DEFAULT_CALLABLE, type AppTarget } from './parse-target.js';

/** Options of {@link loadApp}. */
export interface LoadAppOptions {
  /** The directory a relative MODULE and package names are resolved from. Default: `process.cwd()`. */
  cwd?: string;
}

/** Options of {@link loadServedApp}. */
export interface LoadServedAppOptions extends LoadAppOptions {
  /** `--interface`: the calling convention to serve the app with, or `auto` (the default) to decide from the app. */
  interface?: InterfaceSetting;
}

// The setting's values and the loader's are the same four (checked by the compiler).
const _sameInterfaces: [Config['interface'], InterfaceSetting] extends [InterfaceSetting, Config['interface']] ? true : never = true;
void _sameInterfaces;

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

/** gwserver's own code (dist/, or src/ under tsx): never the user's. */
const OWN_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url))) + path.sep;

/** Whether a stack frame's file is the user's own code: not a dependency, not gwserver (Node's internals have no path). */
function isUserFile(file: string): boolean {
  return !file.startsWith(OWN_DIR) && !file.split(/[\\/]/).includes('node_modules');
}

/**
 * Where the error arose in the user's code: the `file:line` header Node puts
 * above an ESM syntax error, else the first stack frame in the user's own
 * files (not node_modules, not Node's internals, not gwserver), else the
 * first frame outside gwserver. An error thrown inside a dependency
 * (`express.static()` without a root) so points at the user's line that
 * called it. It turns "threw while loading" into something actionable
 * without printing a stack.
 */
function location(err: Error): string | undefined {
  const stack = typeof err.stack === 'string' ? err.stack : '';
  const header = /^(file:\/\/\S+|\/\S+|[A-Za-z]:\\\S+):(\d+)\n/.exec(stack);
  if (header) return `${toPath(header[1]!)}:${header[2]}`;
  let outside: string | undefined;
  for (const line of stack.split('\n')) {
    const frame = /^\s+at (?:.*? \()?((?:file:\/\/|\/|[A-Za-z]:\\)[^()]*?):(\d+):(\d+)\)?$/.exec(line);
    if (!frame) continue;
    const file = toPath(frame[1]!);
    if (file.startsWith(OWN_DIR)) continue;
    const where = `${file}:${frame[2]}:${frame[3]}`;
    if (isUserFile(file)) return where;
    outside ??= where;
  }
  return outside;
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

/** The methods a "name one of its methods" hint may offer: none for a promise (its then, catch and finally serve nothing). */
function methodHint(value: unknown): string[] {
  if (!isObjectLike(value) || typeof (value as { then?: unknown }).then === 'function') return [];
  return methodNames(value);
}

function checkFunction(what: string, value: unknown, verb: 'is' | 'returned'): asserts value is Function {
  // An app of another convention: loadApp cannot serve it, and none of its methods is a gateway app (a Hono app's fetch is not).
  const shape = shapeOf(value);
  if (shape !== undefined && shape.kind !== 'marked') {
    const { what: it, kind } = describeShape(shape);
    throw loadError(`"${what}" ${verb} ${it} (${kind}), not a gateway application (environ, startResponse): loadApp loads gateway applications only; loadServedApp loads ${kind} apps too`);
  }
  if (typeof value !== 'function') {
    const methods = verb === 'is' ? methodHint(value) : [];
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
    const mistake = moduleSystemMistake(err, file, `module "${spec}" (${file})`);
    if (mistake !== undefined) throw loadError(mistake, err);
    // Node 20 keeps the line of an ES module's syntax error to itself.
    const where = err instanceof SyntaxError && !location(err) ? `; to see where, run: node --check ${file}` : '';
    throw loadError(`module "${spec}" (${file}) threw while loading: ${describeError(err)}${where}`, err);
  }
}

/** The module imported and CALLABLE walked: the value named, the object it was read from, and its name for messages. */
interface Found {
  parsed: AppTarget;
  value: unknown;
  parent: object | undefined;
  /** `MODULE:CALLABLE` as messages name it (for a factory, without the arguments). */
  named: string;
}

async function find(target: string, options: LoadAppOptions, fallbackToDefault: boolean): Promise<Found> {
  const parsed: AppTarget = parseTarget(target);
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const file = await resolveModule(parsed.module, cwd);
  const ns = await importFile(file, parsed.module);
  const spec = parsed.module;
  // No CALLABLE at all: not even ":application" (parseTarget reports both as "application").
  const noCallable = !parsed.call && parsed.callable === DEFAULT_CALLABLE && !target.endsWith(`:${DEFAULT_CALLABLE}`);
  if (fallbackToDefault && noCallable && !hasApplication(ns) && ns.default !== undefined) {
    const named = `${spec}:default`;
    const value = await settle(ns.default, named);
    if (typeof value === 'function' || shapeOf(value) !== undefined) return { parsed, value, parent: undefined, named };
    throw noApplication(ns, spec, value);
  }
  const dotted = parsed.call?.name ?? parsed.callable;
  let found: { value: unknown; parent: object | undefined };
  try {
    found = walk(ns, dotted, target, spec);
  } catch (err) {
    // Without CALLABLE, a module whose app has another name: say which name.
    if (fallbackToDefault && noCallable && err instanceof GatewayError) throw loadError(`${err.message}${appsHint(ns, spec)}`);
    throw err;
  }
  const named = `${spec}:${dotted}`;
  // A promise exported as the app (`export default createApp()`, createApp async) is served once it resolves; a factory's result is awaited by the caller.
  const value = parsed.call ? found.value : await settle(found.value, named);
  return { parsed, value, parent: found.parent, named };
}

/** Whether the module has an `application`: an export, or (CommonJS) an attribute of module.exports. */
function hasApplication(ns: Record<string, unknown>): boolean {
  if (DEFAULT_CALLABLE in ns) return true;
  const fallback = ns.default;
  return isObjectLike(fallback) && hasAttr(fallback, DEFAULT_CALLABLE);
}

/**
 * `value`, or what it resolves to when it is a promise: a module may export
 * the promise of an async factory (`export default createApp()`). Only real
 * promises: a thenable app (a Fastify instance) would boot if awaited.
 */
async function settle(value: unknown, named: string): Promise<unknown> {
  if (!types.isPromise(value)) return value;
  try {
    return await value;
  } catch (err) {
    throw loadError(`"${named}" is a promise that rejected: ${describeError(err)}`, err);
  }
}

/**
 * A module named without CALLABLE, with no `application`, whose default
 * export is no application either: what it is, and the app the module
 * exports under another name, if it has one.
 */
function noApplication(ns: Record<string, unknown>, spec: string, value: unknown): GatewayError {
  const exported = names(ns);
  // module.exports's names are CommonJS exports; a promise's then, catch and finally are not.
  if (isObjectLike(ns.default) && !types.isPromise(ns.default)) exported.push(...names(ns.default, new Set(exported)));
  const apps = appsHint(ns, spec);
  const methods = apps === '' ? methodHint(value) : [];
  const pickMethod = methods.length ? `; to serve one of its methods (${list(methods)}), name it, e.g. "${spec}:default.${methods[0]}"` : '';
  return loadError(
    `module "${spec}" has no attribute "${DEFAULT_CALLABLE}" (it exports: ${list(exported)}), and its default export is not an application (it is ${describeValue(value)}): ` +
      `the application must be a function (environ, startResponse), an Express, Koa or Fastify app, or an object with a fetch method${apps}${pickMethod}`,
  );
}

/**
 * The apps a module exports under other names (framework apps and fetch
 * objects, which the loader knows by their members; a bare function could
 * be anything), as a hint naming the CALLABLE to give: `; "app" is an
 * Express/Connect app: use "server.mjs:app"`. Empty when there is none.
 */
function appsHint(ns: Record<string, unknown>, spec: string): string {
  const found: Array<[name: string, what: string]> = [];
  const seen = new Set(['default']);
  const look = (from: object, key: string) => {
    if (seen.has(key)) return;
    seen.add(key);
    const shape = shapeOf(prop(from, key));
    if (shape !== undefined) found.push([key, describeShape(shape).what]);
  };
  for (const key of Object.keys(ns)) look(ns, key);
  // CommonJS: module.exports = { app }, which Node may not see as a named export.
  const fallback = ns.default;
  if (isObjectLike(fallback) && shapeOf(fallback) === undefined) for (const key of Object.keys(fallback)) look(fallback, key);
  if (found.length === 0) {
    // One function and no app: the app under another name, or the factory that makes it; only the user knows which.
    const fns = Object.keys(ns).filter((key) => key !== 'default' && typeof ns[key] === 'function' && !isClass(ns[key] as Function));
    return fns.length === 1 ? `; to serve "${fns[0]}", name it: "${spec}:${fns[0]}", or "${spec}:${fns[0]}()" if it is a factory that returns the app` : '';
  }
  if (found.length === 1) return `; "${found[0]![0]}" is ${found[0]![1]}: use "${spec}:${found[0]![0]}"`;
  const shown = found.slice(0, 5).map(([key, what]) => `"${spec}:${key}" (${what})`);
  return `; it exports these apps: ${shown.join(', ')}${found.length > 5 ? ', ...' : ''}: name one`;
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
 * The result must be a gateway function; {@link loadServedApp} is the
 * loader that also takes Express, Koa, Fastify and fetch apps.
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
  const { parsed, value, parent, named } = await find(target, options, false);
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

// ---- loadServedApp: which calling convention, and why

/**
 * What a value looks like to the loader, read from its properties without
 * calling anything: a wrapper's mark, a framework app it knows by its
 * members, or an object with a fetch method. Plain functions are `undefined`
 * here: what they are is --interface's say.
 */
type Shape =
  | { kind: 'marked'; mark: InterfaceMark; by: 'fromNodeHandler' | 'fromFetch' }
  | { kind: 'fastify' }
  | { kind: 'koa' }
  | { kind: 'connect' }
  | { kind: 'fetch'; what: string };

/** Reads `obj[key]` without letting a throwing getter escape. */
function prop(obj: object, key: string): unknown {
  try {
    return (obj as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

function shapeOf(value: unknown): Shape | undefined {
  if (!isObjectLike(value)) return undefined;
  // Marks first: a wrapped app is a gateway function, and what it wraps may look like anything.
  const mark = markOf(value);
  if (mark) return { kind: 'marked', mark, by: mark.kind === 'node' ? 'fromNodeHandler' : 'fromFetch' };
  const fn = (key: string) => typeof prop(value, key) === 'function';
  // fastify() returns an object (thenable: awaiting it boots its plugins).
  if (fn('routing') && fn('ready')) return { kind: 'fastify' };
  if (fn('callback') && Array.isArray(prop(value, 'middleware'))) return { kind: 'koa' };
  // express() and connect() return the listener itself, a function (req, res, next).
  if (typeof value === 'function' && fn('handle') && fn('use')) return { kind: 'connect' };
  if (fn('fetch')) return { kind: 'fetch', what: fetchOwner(value) };
  return undefined;
}

function fetchOwner(value: object): string {
  if (typeof value === 'function') return 'a function with a fetch method';
  const ctor = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name;
  if (ctor === 'Hono') return 'a Hono app';
  return ctor && ctor !== 'Object' ? `an instance of ${ctor} with a fetch method` : 'an object with a fetch method';
}

/** What `shape` is, for messages: "an Express/Connect app", and the convention it speaks. */
function describeShape(shape: Shape): { what: string; kind: InterfaceName } {
  switch (shape.kind) {
    case 'marked': return { what: `an app made by ${shape.by}`, kind: shape.mark.kind };
    case 'fastify': return { what: 'a Fastify instance', kind: 'node' };
    case 'koa': return { what: 'a Koa app', kind: 'node' };
    case 'connect': return { what: 'an Express/Connect app', kind: 'node' };
    case 'fetch': return { what: shape.what, kind: 'fetch' };
  }
}

const NOT_A: Record<InterfaceName, string> = {
  gateway: 'a gateway application (environ, startResponse)',
  node: 'a node:http handler (req, res)',
  fetch: 'a fetch handler',
};

/** An explicit --interface the value cannot be served with: what it is, and the fix. */
function mismatch(named: string, shape: Shape, wanted: InterfaceName): GatewayError {
  const { what, kind } = describeShape(shape);
  // A wrapped app is also a gateway app: --interface gateway serves it through its wrapper.
  const fix = shape.kind === 'marked' && wanted !== 'gateway' ? `--interface ${kind}, auto or gateway` : `--interface ${kind} or auto`;
  return loadError(`"${named}" is ${what} (${kind}), not ${NOT_A[wanted]}: use ${fix}`);
}

function notAnApplication(what: string, value: unknown, verb: 'is' | 'returned'): GatewayError {
  const methods = verb === 'is' ? methodHint(value) : [];
  const pickMethod = methods.length ? `; to serve one of its methods (${list(methods)}), name it, e.g. "${what}.${methods[0]}"` : '';
  return loadError(
    `"${what}" ${verb === 'is' ? 'is not an application' : 'did not return an application'} (it ${verb} ${describeValue(value)}): ` +
      `the application must be a function (environ, startResponse), an Express, Koa or Fastify app, or an object with a fetch method${pickMethod}`,
  );
}

function classError(what: string, verb: 'is' | 'returned'): GatewayError {
  return loadError(
    `"${what}" ${verb} a class, which cannot be called without new: ` +
      `name a method of an instance (e.g. app.handle) or a factory that returns the application`,
  );
}

/** `fn` bound to `parent` (Function.prototype.bind: an Express app's own `bind` is a route method). */
function bound<F extends Function>(fn: F, parent: object | undefined): F {
  return (parent ? Function.prototype.bind.call(fn, parent) : fn) as F;
}

/**
 * Decides how to serve `value` (what CALLABLE named, or a factory returned)
 * under `--interface`, from its {@link shapeOf shape}.
 */
function serve(value: unknown, parent: object | undefined, iface: InterfaceSetting, what: string, verb: 'is' | 'returned'): ServedApp {
  const shape = shapeOf(value);
  if (shape?.kind === 'marked') {
    const { mark, by } = shape;
    if (iface === 'gateway') {
      // Marks are left on functions; a marked object has no wrapper to serve.
      if (typeof value !== 'function') throw mismatch(what, shape, iface);
      return { kind: 'gateway', app: bound(value as Application, parent), why: `--interface gateway (the app ${by} made, served through it)` };
    }
    if (iface !== 'auto' && iface !== mark.kind) throw mismatch(what, shape, iface);
    const why = `marked by ${by}`;
    const onServer = mark.onServer ? { onServer: mark.onServer } : {};
    if (mark.kind === 'fetch') return { kind: 'fetch', fetch: mark.fetch, ...onServer, why };
    return { kind: 'node', handler: mark.handler, ...(mark.upgrade ? { upgrade: mark.upgrade } : {}), ...onServer, why };
  }
  if (shape !== undefined && shape.kind !== 'fetch') {
    // A node:http app, which the loader knows by its members.
    if (iface !== 'auto' && iface !== 'node') throw mismatch(what, shape, iface);
    const app = value as Record<string, (...args: unknown[]) => unknown>;
    switch (shape.kind) {
      case 'fastify':
        // Fastify routes a request only once ready() has resolved: the worker awaits `ready` before it accepts.
        return {
          kind: 'node',
          handler: (req, res) => app.routing!(req, res),
          ready: () => app.ready!(),
          close: () => app.close?.(),
          why: 'a Fastify instance: routing and ready',
        };
      case 'koa': {
        let handler: NodeHandler;
        try {
          handler = app.callback!() as NodeHandler;
        } catch (err) {
          throw loadError(`"${what}" is a Koa app whose callback() threw: ${describeError(err)}`, err);
        }
        return { kind: 'node', handler, why: 'a Koa app: callback and middleware' };
      }
      case 'connect':
        return { kind: 'node', handler: value as NodeHandler, why: 'an Express/Connect app: handle and use' };
    }
  }
  if (shape?.kind === 'fetch' && (typeof value !== 'function' || iface === 'auto' || iface === 'fetch')) {
    // An object (or function) with a fetch method; a function with one is also callable, which gateway and node may mean.
    if (iface !== 'auto' && iface !== 'fetch') throw mismatch(what, shape, iface);
    const why = shape.what === 'a Hono app' ? 'a Hono app: an object with a fetch method' : shape.what;
    const fetch = prop(value as object, 'fetch') as Function;
    return { kind: 'fetch', fetch: bound(fetch, value as object) as FetchHandler, why };
  }
  if (typeof value !== 'function') throw notAnApplication(what, value, verb);
  if (isClass(value)) throw classError(what, verb);
  const fn = bound(value, parent);
  // `app.mjs:fetch` or `app.mjs:app.fetch`: the fetch method of an app with one is a fetch handler, not a gateway app.
  const owner = parent === undefined ? undefined : shapeOf(parent);
  if (iface === 'auto' && owner?.kind === 'fetch' && prop(parent!, 'fetch') === value) {
    return { kind: 'fetch', fetch: fn as FetchHandler, why: `the fetch method of ${owner.what}` };
  }
  switch (iface) {
    case 'auto':
      return { kind: 'gateway', app: fn as Application, why: 'a function: the default for functions; --interface node or fetch to change' };
    case 'gateway':
      return { kind: 'gateway', app: fn as Application, why: '--interface gateway' };
    case 'node':
      return { kind: 'node', handler: fn as NodeHandler, why: '--interface node' };
    case 'fetch':
      return { kind: 'fetch', fetch: fn as FetchHandler, why: '--interface fetch' };
  }
}

/**
 * Loads the application that `target` (`MODULE:CALLABLE`) names, as
 * {@link loadApp} does, and decides which calling convention a worker
 * serves it with: `gateway` (environ, startResponse), `node` (a node:http
 * request listener) or `fetch` (a WHATWG fetch handler).
 *
 * Differences from {@link loadApp}:
 * - the value may be an object: a Hono app or `{ fetch }`, a Koa app, a
 *   Fastify instance;
 * - a target without CALLABLE whose module has no `application` serves the
 *   module's default export (for CommonJS, `module.exports`);
 * - `options.interface` (`--interface`) overrides the guess for a bare
 *   function, and fails the load when the value cannot be served as named.
 *
 * Nothing is started: a Fastify instance is only read (its `ready` is in
 * the result, for the worker to await), and a factory's result is awaited
 * only when it is not such an instance (awaiting one boots it).
 *
 * @example
 * ```ts
 * const served = await loadServedApp('server.js', { interface: 'auto' });
 * if (served.kind === 'node') http.createServer(served.handler);
 * console.log(`interface: ${served.kind} (${served.why})`);
 * ```
 * @throws GatewayError `GW_APP_LOAD` with a one-line message, as loadApp;
 *   also when an explicit `interface` does not fit the app, naming what was
 *   found and the `--interface` to use.
 */
export async function loadServedApp(target: string, options: LoadServedAppOptions = {}): Promise<ServedApp> {
  const iface = options.interface ?? 'auto';
  const { parsed, value, parent, named } = await find(target, options, true);
  if (!parsed.call) return serve(value, parent, iface, named, 'is');

  if (typeof value !== 'function') {
    throw loadError(`"${named}" is not a function (it is ${describeValue(value)}), so "${target}" cannot call it: name a factory function`);
  }
  if (isClass(value)) throw classError(named, 'is');
  let app: unknown;
  try {
    app = value.apply(parent, parsed.call.args);
    // Await a promise, but not an app that happens to be thenable (a Fastify instance).
    if (shapeOf(app) === undefined) app = await app;
  } catch (err) {
    throw loadError(`factory "${target}" threw: ${describeError(err)}`, err);
  }
  return serve(app, undefined, iface, target, 'returned');
}
