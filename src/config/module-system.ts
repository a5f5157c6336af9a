/**
 * The module-system mistake of a new project, recognised and turned into the
 * fix: an ES module (`export`, `import`) that Node loads as CommonJS, or a
 * CommonJS file (`module.exports`, `require`) that Node loads as an ES module.
 *
 * npm 11's `npm init -y` writes `"type": "commonjs"`, so the first `app.js`
 * with `export function` fails with `SyntaxError: Unexpected token 'export'`,
 * and Node's own hint is a warning on another line. Both the app loader
 * (src/loader/load-app.ts) and the config-file loader
 * (src/config/config-file.ts) ask {@link moduleSystemMistake} before they
 * report an import error.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What Node says when a file written in one module system is loaded as the other. */
const AS_COMMONJS = /^(?:Unexpected token 'export'|Cannot use import statement outside a module)$/;
const AS_ESM = /^(module|exports|require|__dirname|__filename) is not defined in ES module scope/;

/** The nearest package.json above `file` (its path), and the `"type"` it declares (undefined: none). */
function packageType(file: string): { pkg?: string; type?: string } {
  let dir = path.dirname(file);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    try {
      const type = (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type;
      return { pkg, type: typeof type === 'string' ? type : undefined };
    } catch (err) {
      // A package.json that cannot be parsed ends the search too, as in Node.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ENOTDIR') return { pkg };
    }
    const up = path.dirname(dir);
    if (up === dir) return {};
    dir = up;
  }
}

/** The file the error arose in: the `file:line` header of a CommonJS syntax error, or the first frame of an ES module's error. */
function failingFile(err: Error, fallback: string): string {
  const stack = typeof err.stack === 'string' ? err.stack : '';
  const header = /^((?:file:\/\/|\/|[A-Za-z]:\\)\S+):\d+\n/.exec(stack);
  if (header) return toPath(header[1]!);
  const frame = /\n\s+at (?:.*? \()?(file:\/\/[^()]*?):\d+:\d+\)?(?:\n|$)/.exec(stack);
  return frame ? toPath(frame[1]!) : fallback;
}

function toPath(fileOrUrl: string): string {
  try {
    return fileOrUrl.startsWith('file://') ? fileURLToPath(fileOrUrl) : fileOrUrl;
  } catch {
    return fileOrUrl;
  }
}

/** `app.js` as `app.mjs`, `lib/x.cjs` as `lib/x.mjs`: the file's name (as the user wrote it, when that is the file) with another extension. */
function renamed(shown: string, ext: string): string {
  const base = shown.replace(/\.[cm]?js$/, '');
  return `${base}${ext}`;
}

/**
 * When `err` (thrown while importing `file`) is a module-system mistake, the
 * one-line message that says what to do; undefined otherwise. `what`
 * names the file for the user: `module "app.js" (/srv/app.js)`, `config file
 * gwserver.config.js`. The message names the file that failed (an imported
 * file of the app, possibly), the reason Node chose its module system, and
 * the two fixes.
 */
export function moduleSystemMistake(err: unknown, file: string, what: string): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const message = err.message.split('\n')[0]!;
  const esmAsCjs = err.name === 'SyntaxError' && AS_COMMONJS.test(message);
  const cjsAsEsm = err.name === 'ReferenceError' ? AS_ESM.exec(message) : null;
  if (!esmAsCjs && cjsAsEsm === null) return undefined;
  const failing = failingFile(err, file);
  const own = path.resolve(failing) === path.resolve(file);
  const where = own ? what : `${what} imports ${failing}, which`;
  const name = path.basename(failing);
  const { pkg, type } = packageType(failing);
  if (esmAsCjs) {
    const uses = message.startsWith('Cannot use import') ? 'import' : 'export';
    const why = failing.endsWith('.cjs') ? 'its name ends in .cjs' : pkg !== undefined && type !== undefined ? `${pkg} has "type": "${type}"` : `no package.json above it has "type": "module"`;
    const pkgFix = pkg !== undefined ? `set "type": "module" in ${pkg}` : 'add a package.json with "type": "module"';
    return `${where} uses ${uses}, an ES module, but Node loads ${name} as CommonJS (${why}): rename it to ${renamed(name, '.mjs')}, or ${pkgFix}`;
  }
  const uses = cjsAsEsm![1] === 'module' ? 'module.exports' : cjsAsEsm![1]!;
  const why = failing.endsWith('.mjs') ? 'its name ends in .mjs' : `${pkg ?? 'its package.json'} has "type": "module"`;
  return `${where} uses ${uses}, which is CommonJS, but Node loads ${name} as an ES module (${why}): rename it to ${renamed(name, '.cjs')}, or write it with export and import`;
}
