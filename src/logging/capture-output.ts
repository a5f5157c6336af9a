/**
 * `--capture-output`: what the app prints in a worker becomes records of the
 * worker's error log, instead of raw text between its JSON lines (or, in a
 * terminal, between its text lines, looking like nothing gwserver wrote):
 *
 * - `console.log`/`info`/`debug`/`warn`/`error` are records at their level
 *   (log and info: info), the arguments formatted as console formats them
 *   (`util.format`), with `source: "console"`; console's other methods
 *   (`trace`, `assert`, `count`, `table`...) go through these;
 * - what reaches `process.stdout.write` or `process.stderr.write` otherwise
 *   (morgan, debug, `console.dir`) is cut at line ends: the whole lines of
 *   a write are one record (`info` for stdout, `error` for stderr, `source:
 *   "stdout"`/`"stderr"`), a part line waits for the rest of it (or for the
 *   exit); a line that is a JSON object, a record already (the app's own
 *   JSON logger), goes out as it is, as does a console call that makes one;
 * - Node's warnings (`process.emitWarning`, deprecations) are `warn`
 *   records, in place of Node's own printing of them (which goes through
 *   `console.error`), unless Node was told to print none (`--no-warnings`).
 *
 * gwserver's own logs never go through these: pino and the access log write
 * to their file descriptors directly.
 *
 * The records have no request id. Knowing the request a `console.log` runs
 * in takes an AsyncLocalStorage around every request, which on Node 20 cost
 * more than the 2% of the request path allowed for it: about +6% CPU per
 * request (docs/benchmark.md has the measure).
 *
 * @module
 */
import { format } from 'node:util';
import { registerLogFile, type Logger } from './logger.js';

type ConsoleMethod = 'log' | 'info' | 'debug' | 'warn' | 'error';
type Level = 'debug' | 'info' | 'warn' | 'error';

const CONSOLE_LEVELS: ReadonlyArray<[ConsoleMethod, Level]> = [
  ['log', 'info'],
  ['info', 'info'],
  ['debug', 'debug'],
  ['warn', 'warn'],
  ['error', 'error'],
];

/** A part line longer than this is written as it is rather than held for its end. */
const MAX_PENDING = 16 * 1024;

/** Node's own printer of warnings, which `process.on('warning')` holds unless warnings are off. */
const NODE_WARNING_LISTENER = 'onWarning';

/** What {@link captureOutput} changed, to undo it (tests; a worker keeps it for its life). */
export interface Capture {
  /** Writes the part lines still waiting for their end. */
  flush(): void;
  /** Puts console, the streams and the warnings back as they were. */
  restore(): void;
}

type Write = NodeJS.WriteStream['write'];

/** The text of a chunk given to `stream.write` (a string, or bytes in the encoding named). */
function chunkText(chunk: unknown, encoding: unknown): string {
  if (typeof chunk === 'string') return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString(typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : 'utf8');
  return String(chunk);
}

/**
 * Whether a line is a JSON object: a record already, of the app's own
 * structured logger (winston's console transport, pino given
 * process.stdout, a hand-made `JSON.stringify`), passed on as it is rather
 * than made the message of another record.
 */
function isJsonObject(line: string): boolean {
  const t = line.trimEnd();
  if (t.length < 2 || t.charCodeAt(0) !== 0x7b || t.charCodeAt(t.length - 1) !== 0x7d) return false;
  try {
    const v: unknown = JSON.parse(t);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/**
 * Makes the app's console output, stdout and stderr, and Node's warnings
 * records of `logger` (see the module comment). Call it in the worker once
 * its error log is open, before the app loads: what a module prints as it
 * loads is captured too.
 */
export function captureOutput(logger: Logger): Capture {
  const undo: Array<() => void> = [];

  // Console: the global console's methods are own properties, bound to it;
  // its trace, assert, count... call these through `this`.
  const con = console as unknown as Record<ConsoleMethod, (...args: unknown[]) => void>;
  for (const [method, level] of CONSOLE_LEVELS) {
    const original = con[method];
    const stream = method === 'warn' || method === 'error' ? 'stderr' : 'stdout';
    con[method] = (...args: unknown[]) => {
      const msg = format(...args);
      // console.log() prints a blank line; as a record it would say nothing.
      if (msg === '') return;
      // A JSON object goes out as it is, by the stream console writes it to.
      if (isJsonObject(msg)) process[stream].write(`${msg}\n`);
      else logger[level]({ source: 'console' }, msg);
    };
    undo.push(() => {
      con[method] = original;
    });
  }

  // The streams, patched when first made (process.stdout is made on first use;
  // making it early would change fd 1, a pipe, to non-blocking for everyone).
  const pending: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  const raw: Record<'stdout' | 'stderr', (text: string) => void> = { stdout: () => undefined, stderr: () => undefined };
  const record = (name: 'stdout' | 'stderr', text: string) => {
    if (text !== '') logger[name === 'stdout' ? 'info' : 'error']({ source: name }, text);
  };
  // The lines of a write are one record, but for those that are JSON objects: written as they are, in order.
  const emit = (name: 'stdout' | 'stderr', text: string) => {
    if (!text.includes('{')) return record(name, text);
    let group: string[] = [];
    for (const line of text.split('\n')) {
      if (!isJsonObject(line)) {
        group.push(line);
        continue;
      }
      record(name, group.join('\n'));
      group = [];
      raw[name](`${line}\n`);
    }
    record(name, group.join('\n'));
  };
  const take = (name: 'stdout' | 'stderr', text: string) => {
    const all = pending[name] + text;
    const end = all.lastIndexOf('\n');
    if (end < 0 && all.length <= MAX_PENDING) {
      pending[name] = all;
      return;
    }
    pending[name] = end < 0 ? '' : all.slice(end + 1);
    emit(name, end < 0 ? all : all.slice(0, end));
  };
  const patchStream = (name: 'stdout' | 'stderr', stream: NodeJS.WriteStream) => {
    const original = stream.write;
    raw[name] = (text) => void original.call(stream, text);
    const write = function (this: NodeJS.WriteStream, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
      take(name, chunkText(chunk, encoding));
      const done = typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true;
    };
    stream.write = write as Write;
    undo.push(() => {
      stream.write = original;
    });
  };
  for (const name of ['stdout', 'stderr'] as const) {
    const desc = Object.getOwnPropertyDescriptor(process, name);
    if (desc?.get === undefined || desc.configurable !== true) {
      patchStream(name, process[name]);
      continue;
    }
    const get = desc.get;
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: desc.enumerable ?? true,
      get() {
        const stream = get.call(process) as NodeJS.WriteStream;
        Object.defineProperty(process, name, desc);
        patchStream(name, stream);
        return stream;
      },
    });
    undo.push(() => Object.defineProperty(process, name, desc));
  }

  // Warnings: Node prints them with console.error, as text; here they are warn records.
  const nodeListeners = process.listeners('warning').filter((l) => l.name === NODE_WARNING_LISTENER);
  if (nodeListeners.length > 0) {
    for (const l of nodeListeners) process.removeListener('warning', l);
    const onWarning = (w: Error & { code?: string; detail?: string }) => {
      const fields: Record<string, unknown> = { warning: w.name };
      if (w.code !== undefined) fields.code = w.code;
      if ((process as { traceProcessWarnings?: boolean }).traceProcessWarnings === true) fields.err = w;
      logger.warn(fields, `${w.name}: ${w.message}${typeof w.detail === 'string' ? `\n${w.detail}` : ''}`);
    };
    process.on('warning', onWarning);
    undo.push(() => {
      process.removeListener('warning', onWarning);
      for (const l of nodeListeners) process.on('warning', l);
    });
  }

  const flush = () => {
    for (const name of ['stdout', 'stderr'] as const) {
      const rest = pending[name];
      pending[name] = '';
      emit(name, rest);
    }
  };
  const unregister = registerLogFile({ reopen: () => undefined, flush });
  return {
    flush,
    restore() {
      flush();
      unregister();
      for (const u of undo.splice(0).reverse()) u();
    },
  };
}
