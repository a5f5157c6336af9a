/**
 * Parses the `MODULE:CALLABLE` syntax that names the application to serve,
 * as gunicorn's `module:variable` does, except that MODULE is a path (or a
 * package name), never a Python-style dotted module name.
 *
 * @module
 */
import { GatewayError } from '../errors.js';

/** What {@link parseTarget} makes of `MODULE:CALLABLE`. */
export interface AppTarget {
  /** The MODULE part: a path (relative to the working directory, or absolute) or a package name. */
  module: string;
  /**
   * The CALLABLE part as written, e.g. `application`, `app.handler` or
   * `createApp("prod", 2)`; `application` when the target has no `:`.
   */
  callable: string;
  /** Present when CALLABLE is a factory call: the dotted path to the factory and its arguments. */
  call?: { name: string; args: unknown[] };
}

/** The CALLABLE used when the target names only a module, as in gunicorn. */
export const DEFAULT_CALLABLE = 'application';

const EXAMPLES = 'e.g. application, app.handler, createApp() or createApp("prod", 2)';

// A dotted path of JS identifiers, optionally followed by an argument list.
// The `s` flag lets a JSON string argument contain an escaped newline source.
const CALLABLE_RE = /^(?<path>[\p{ID_Start}_$][\p{ID_Continue}$\u200C\u200D]*(?:\.[\p{ID_Start}_$][\p{ID_Continue}$\u200C\u200D]*)*)(?:\s*\((?<args>.*)\))?$/su;

function loadError(message: string): GatewayError {
  return new GatewayError('GW_APP_LOAD', message);
}

/**
 * Where MODULE ends: the first `:`, except the one of a Windows drive letter
 * (`C:\srv\app.js:application`). Splitting at the first colon rather than the
 * last keeps colons inside factory arguments (`createApp("a:b")`) intact.
 */
function separatorIndex(target: string): number {
  const from = /^[A-Za-z]:[\\/]/.test(target) ? 2 : 0;
  return target.indexOf(':', from);
}

/**
 * Splits `MODULE:CALLABLE` into its parts and parses a factory call's
 * arguments (a comma-separated list of JSON values).
 *
 * @param target - e.g. `examples/hello`, `examples/hello.js:application`,
 *   `./app.mjs:app.handler`, `my-package:createApp("prod", 2)`.
 * @throws GatewayError `GW_APP_LOAD` when a part is empty, CALLABLE is not a
 *   name, dotted path or call, or the arguments are not JSON values.
 */
export function parseTarget(target: string): AppTarget {
  if (target.trim() === '') {
    throw loadError(`no application given: name one as MODULE:CALLABLE, e.g. app:application`);
  }
  if (/^file:/i.test(target)) {
    // Otherwise "file" would pass for MODULE and the rest for CALLABLE.
    throw loadError(`"${target}" is a URL: give MODULE as a path (e.g. /srv/app.js:application), not a file: URL`);
  }
  const at = separatorIndex(target);
  const module = at < 0 ? target : target.slice(0, at);
  const callable = at < 0 ? DEFAULT_CALLABLE : target.slice(at + 1);
  if (module === '') {
    throw loadError(`"${target}" has no MODULE before the ":": write MODULE:CALLABLE, e.g. app:${callable || DEFAULT_CALLABLE}`);
  }
  if (callable === '') {
    throw loadError(`"${target}" has nothing after the ":": name the application (${EXAMPLES}), or drop the ":" to use "${DEFAULT_CALLABLE}"`);
  }
  const match = CALLABLE_RE.exec(callable);
  if (!match?.groups) {
    throw loadError(`"${callable}" in "${target}" is not a valid CALLABLE: write a name, a dotted path or a call (${EXAMPLES})`);
  }
  const name = match.groups.path!;
  const argText = match.groups.args;
  if (argText === undefined) return { module, callable };
  return { module, callable, call: { name, args: parseArgs(argText, name, target) } };
}

function parseArgs(text: string, name: string, target: string): unknown[] {
  if (text.trim() === '') return [];
  try {
    // JSON has no argument-list syntax, but an array literal is exactly one.
    return JSON.parse(`[${text}]`) as unknown[];
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw loadError(
      `the arguments of ${name}(...) in "${target}" are not JSON values (${why}): ` +
        `quote strings with double quotes, e.g. ${name}("prod", 2, {"debug": true})`,
    );
  }
}
