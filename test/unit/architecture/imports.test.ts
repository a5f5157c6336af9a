/**
 * The house's shape: which folder of src/ may import which. Read this first;
 * docs/architecture.md tells the same in prose.
 *
 *   cli/                 the gwserver command: parses, then starts the master
 *    |                   (it may import anything; nothing imports it)
 *    +-- master/         the arbiter: sockets, workers, signals, systemd, USR2
 *    +-- worker/         a worker process and the request path: node:http -> the app
 *          +-- loader/   MODULE:CALLABLE -> the app, and which interface it speaks
 *          +-- interop/  node:http and fetch adapters, built on the gateway
 *                +-- gateway/             the interface: environ, startResponse, the handler
 *   toolkit/             makeServer, testClient, routing: built on worker/, interop/
 *                        and gateway/ for app authors; only index.ts imports it
 *   logging/, metrics/   observers: the error and access logs, the metrics (both sides)
 *   ipc/                 the master-worker protocol: messages, worker spec and states, exit codes
 *   config/              the settings: data (the registry, validators, bind syntax)
 *   errors.ts            every error: code, HTTP status, message
 *
 * Imports go down this picture, never up, and master/ and worker/ never
 * into each other: they meet in ipc/ (the protocol) and config/ (the
 * settings). The rules, one `it` each below, a violation named by file,
 * line and import:
 *
 *  1. gateway/ imports none of worker/, master/, cli/, loader/, and not
 *     node:cluster: it is the interface, usable without the container.
 *  2. master/ imports none of gateway/, interop/, worker/ (the request
 *     path), and its run-time imports, followed through every file, never
 *     reach them: the master runs no app code. (It forks
 *     src/worker/entry.ts by file name, which is no import; --preload loads
 *     the app from cli/.)
 *  3. worker/ imports nothing from master/ (nor master/ from worker/, rule 2).
 *  4. config/ imports only config/ and errors.ts (packages and node: aside):
 *     settings are data, read by everyone.
 *  5. ipc/ imports only ipc/, and types (`import type`) from config/ and
 *     errors.ts; no package, no node: module.
 *  6. logging/ and metrics/ import none of cli/, master/, worker/, loader/,
 *     interop/, and from gateway/ types only (the ExchangeRecord a request
 *     leaves, the header pairs): the master loads them too.
 *  7. loader/ and interop/ import none of cli/, master/, worker/.
 *  8. nothing outside cli/ imports cli/.
 *  9. nothing but index.ts (and toolkit/ itself) imports toolkit/: the
 *     server never depends on what is built for app authors on top of it.
 *
 * Packages and node: modules are free except where a rule says otherwise.
 * An import counts as types only when written `import type`/`export type`,
 * or when every name in its braces is marked `type`. To break a rule, move
 * the code (types both sides share go to ipc/ or config/), not the rule.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SRC = path.join(ROOT, 'src');

/** One import or re-export statement, or an `import()`, as written in a file. */
interface Import {
  spec: string;
  line: number;
  /** Erased at compile time: `import type`, `export type`, or every braced name marked `type`. */
  typeOnly: boolean;
}

/** An import of a src/ file, with where each end lies. */
interface Edge extends Import {
  /** src-relative, e.g. `master/arbiter.ts`. */
  from: string;
  /** src-relative file for a relative import; the specifier itself for a package or node: module. */
  to: string;
  /** The folder (`gateway`) or root file (`errors.ts`) of each end; a package is `pkg:NAME`. */
  fromArea: string;
  toArea: string;
}

/** Blanks comments that start a line (doc comments, `//` lines), keeping the line numbers. */
function stripComments(source: string): string {
  const blank = (m: string) => m.replace(/[^\n]/g, ' ');
  return source.replace(/^[ \t]*\/\*[\s\S]*?\*\//gm, blank).replace(/^[ \t]*\/\/.*$/gm, blank);
}

/** The imports of one file's text: `import ... from`, `export ... from`, `import '...'`, `import('...')`. */
function importsOf(source: string): Import[] {
  const text = stripComments(source);
  const lineAt = (index: number) => text.slice(0, index).split('\n').length;
  const found: Import[] = [];
  const fromClause = /^[ \t]*(?:import|export)\s+(type\s+)?([\w$*{},\s]*?)\s*from\s*['"]([^'"]+)['"]/gm;
  for (const m of text.matchAll(fromClause)) {
    const braced = /\{([^}]*)\}/.exec(m[2]!)?.[1];
    const names = braced?.split(',').map((n) => n.trim()).filter(Boolean) ?? [];
    const allTyped = braced !== undefined && !/^[^{]*\w[^{]*\{/.test(m[2]!) && names.length > 0 && names.every((n) => n.startsWith('type '));
    found.push({ spec: m[3]!, line: lineAt(m.index), typeOnly: m[1] !== undefined || allTyped });
  }
  for (const m of text.matchAll(/^[ \t]*import\s*['"]([^'"]+)['"]/gm)) found.push({ spec: m[1]!, line: lineAt(m.index), typeOnly: false });
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push({ spec: m[1]!, line: lineAt(m.index), typeOnly: false });
  return found.sort((a, b) => a.line - b.line);
}

function areaOf(srcRelative: string): string {
  const slash = srcRelative.indexOf('/');
  return slash < 0 ? srcRelative : srcRelative.slice(0, slash);
}

/** The src/ file a relative specifier names (`./x.js` is `./x.ts` on disk). */
function resolve(fromFile: string, spec: string): string {
  const base = path.resolve(path.dirname(fromFile), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, path.join(base, 'index.ts')]) {
    if (statSync(candidate, { throwIfNoEntry: false })?.isFile()) return candidate;
  }
  return base;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith('.ts') && !d.name.endsWith('.d.ts'))
    .map((d) => path.join(d.parentPath ?? (d as unknown as { path: string }).path, d.name))
    .sort();
}

function scan(): Edge[] {
  const edges: Edge[] = [];
  for (const file of filesUnder(SRC)) {
    const from = path.relative(SRC, file).split(path.sep).join('/');
    for (const imp of importsOf(readFileSync(file, 'utf8'))) {
      let to: string;
      let toArea: string;
      if (imp.spec.startsWith('.')) {
        const target = path.relative(SRC, resolve(file, imp.spec)).split(path.sep).join('/');
        to = target;
        toArea = target.startsWith('..') ? `outside:${target}` : areaOf(target);
      } else {
        to = imp.spec;
        toArea = imp.spec.startsWith('node:') ? imp.spec : `pkg:${imp.spec.startsWith('@') ? imp.spec.split('/').slice(0, 2).join('/') : imp.spec.split('/')[0]}`;
      }
      edges.push({ ...imp, from, to, fromArea: areaOf(from), toArea });
    }
  }
  return edges;
}

const isSrcArea = (area: string) => !area.startsWith('pkg:') && !area.startsWith('node:') && !area.startsWith('outside:');

/** A rule: `breaks` says why an edge breaks it, or undefined. */
interface Rule {
  title: string;
  breaks(e: Edge): string | undefined;
}

const forbid = (fromAreas: string[], toAreas: string[]) => (e: Edge) =>
  fromAreas.includes(e.fromArea) && toAreas.includes(e.toArea) ? `${e.fromArea}/ may not import ${e.toArea}/` : undefined;

const RULES: Rule[] = [
  {
    title: '1. gateway/ imports none of worker/, master/, cli/, loader/, nor node:cluster',
    breaks: (e) => forbid(['gateway'], ['worker', 'master', 'cli', 'loader'])(e) ?? (e.fromArea === 'gateway' && e.to === 'node:cluster' ? 'the gateway knows no cluster' : undefined),
  },
  {
    title: '2. master/ imports none of gateway/, interop/, worker/ (the request path)',
    breaks: forbid(['master'], ['gateway', 'interop', 'worker']),
  },
  {
    title: '3. worker/ imports nothing from master/ (they share ipc/)',
    breaks: forbid(['worker'], ['master']),
  },
  {
    title: '4. config/ imports only config/ and errors.ts',
    breaks: (e) => (e.fromArea === 'config' && isSrcArea(e.toArea) && e.toArea !== 'config' && e.toArea !== 'errors.ts' ? 'settings are data: config/ imports only config/ and errors.ts' : undefined),
  },
  {
    title: '5. ipc/ imports only ipc/, and types from config/ and errors.ts',
    breaks: (e) => {
      if (e.fromArea !== 'ipc' || e.toArea === 'ipc') return undefined;
      if ((e.toArea === 'config' || e.toArea === 'errors.ts') && e.typeOnly) return undefined;
      return e.toArea === 'config' || e.toArea === 'errors.ts' ? 'ipc/ takes only types from config/ and errors.ts (write `import type`)' : 'ipc/ imports nothing but types from config/ and errors.ts';
    },
  },
  {
    title: '6. logging/ and metrics/ import none of cli/, master/, worker/, loader/, interop/, and gateway/ for types only',
    breaks: (e) =>
      forbid(['logging', 'metrics'], ['cli', 'master', 'worker', 'loader', 'interop'])(e) ??
      (['logging', 'metrics'].includes(e.fromArea) && e.toArea === 'gateway' && !e.typeOnly ? `${e.fromArea}/ takes only types from gateway/ (the master loads it): write \`import type\`` : undefined),
  },
  {
    title: '7. loader/ and interop/ import none of cli/, master/, worker/',
    breaks: forbid(['loader', 'interop'], ['cli', 'master', 'worker']),
  },
  {
    title: '8. nothing outside cli/ imports cli/',
    breaks: (e) => (e.fromArea !== 'cli' && e.toArea === 'cli' ? 'cli/ is the top: nothing imports it' : undefined),
  },
  {
    title: '9. nothing but index.ts imports toolkit/',
    breaks: (e) => (e.toArea === 'toolkit' && e.fromArea !== 'toolkit' && e.from !== 'index.ts' ? 'toolkit/ is for app authors: only index.ts exports it' : undefined),
  },
];

const show = (e: Edge, why: string) => `src/${e.from}:${e.line} imports ${e.spec}${e.typeOnly ? ' (types)' : ''}: ${why}`;

function failWith(title: string, problems: string[], what = 'import(s) break it'): void {
  if (problems.length > 0) assert.fail(`${title}: ${problems.length} ${what}\n  ${problems.join('\n  ')}`);
}

describe('architecture: which folder of src/ may import which (the rule is at the top of this file)', () => {
  const edges = scan();

  it('reads every kind of import: multi-line, type-only, re-exports, side effects, import()', () => {
    const sample = [
      "import { a,",
      "  type B } from './one.js';",
      "import type { C } from '../two.js';",
      "import { type D, type E } from './three.js';",
      "import F, { type G } from './four.js';",
      "export { h } from './five.js';",
      "export type { I } from './six.js';",
      "import './seven.js';",
      "/** import { x } from './in-a-comment.js'; */",
      "// import { y } from './in-a-line-comment.js';",
      "const j = await import('./eight.js');",
      "import * as K from 'node:fs';",
    ].join('\n');
    assert.deepEqual(
      importsOf(sample).map((i) => [i.spec, i.line, i.typeOnly]),
      [
        ['./one.js', 1, false],
        ['../two.js', 3, true],
        ['./three.js', 4, true],
        ['./four.js', 5, false],
        ['./five.js', 6, false],
        ['./six.js', 7, true],
        ['./seven.js', 8, false],
        ['./eight.js', 11, false],
        ['node:fs', 12, false],
      ],
    );
    // And the real tree: a known import of each kind is seen.
    const has = (from: string, to: string) => edges.some((e) => e.from === from && e.to === to);
    assert.ok(has('worker/container.ts', 'gateway/handler.ts'), 'worker/container.ts -> gateway/handler.ts');
    assert.ok(has('master/metrics-endpoint.ts', 'metrics/server.ts'), 'a dynamic import: master/metrics-endpoint.ts -> metrics/server.ts');
    assert.ok(edges.every((e) => !e.toArea.startsWith('outside:')), `imports leaving src/: ${edges.filter((e) => e.toArea.startsWith('outside:')).map((e) => `${e.from} -> ${e.spec}`).join(', ')}`);
  });

  for (const rule of RULES) {
    it(rule.title, () => {
      failWith(rule.title, edges.flatMap((e) => {
        const why = rule.breaks(e);
        return why === undefined ? [] : [show(e, why)];
      }));
    });
  }

  it('2. (continued) master/ never loads the request path: its run-time imports, followed through every file, reach no gateway/, interop/ or worker/ file', () => {
    const runtime = new Map<string, Edge[]>();
    for (const e of edges) {
      if (e.typeOnly || !isSrcArea(e.toArea)) continue;
      runtime.set(e.from, [...(runtime.get(e.from) ?? []), e]);
    }
    // Breadth first from every master/ file, keeping how each file was reached.
    const via = new Map<string, string>();
    const queue = [...new Set(edges.filter((e) => e.fromArea === 'master').map((e) => e.from))];
    for (const f of queue) via.set(f, '');
    while (queue.length > 0) {
      const f = queue.shift()!;
      for (const e of runtime.get(f) ?? []) {
        if (via.has(e.to)) continue;
        via.set(e.to, f);
        queue.push(e.to);
      }
    }
    const chain = (f: string): string => (via.get(f) ? `${chain(via.get(f)!)} -> ${f}` : f);
    const reached = [...via.keys()].filter((f) => ['gateway', 'interop', 'worker'].includes(areaOf(f)));
    failWith('master/ loads the request path', reached.map(chain), 'file(s) reached, each by the chain of imports shown');
  });
});
