/**
 * Form bodies (`application/x-www-form-urlencoded` and `multipart/form-data`)
 * parsed as they stream in, with busboy doing the parsing. Three ways in:
 *
 * - `forms(options)`: middleware that parses a form body before the app runs
 *   and puts the result, a {@link Form}, on `environ['gwserver.form']`;
 *   uploaded files are on disk in a private temporary directory that is
 *   removed once the response is done (or the app throws, or the client
 *   goes away).
 * - `parseForm(environ, options)`: the same, as a function, for an app that
 *   parses only on some routes; it then calls `form.cleanup()` itself.
 * - `formParts(environ, options)`: the parts one by one as they arrive, each
 *   file as a stream, for an app that sends uploads elsewhere than a disk.
 *
 * Memory stays bounded whatever the body's size: busboy holds at most one
 * chunk of a part, a file stream that is not read pauses the parser, and the
 * parser pauses the reads from `wsgi.input` (so the socket's backpressure
 * reaches the client).
 *
 * @module
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { GatewayError } from '../errors.js';
import type { Application, Body, Environ, Middleware, StartResponse } from '../gateway/types.js';
import { refuse, withClose } from './body.js';

/**
 * The environ key where `forms()` puts the parsed {@link Form}.
 *
 * @example
 * ```ts
 * const form = environ[FORM_KEY] as Form | undefined; // environ['gwserver.form']
 * ```
 */
export const FORM_KEY = 'gwserver.form';
/**
 * The environ key where `forms({ files: 'stream' })` puts the {@link formParts} iterator.
 *
 * @example
 * ```ts
 * for await (const part of environ[FORM_PARTS_KEY] as AsyncIterable<FormPart>) console.log(part.kind, part.name);
 * ```
 */
export const FORM_PARTS_KEY = 'gwserver.form_parts';

const MiB = 1024 * 1024;

/**
 * Limits on a form body; going over any of them refuses the request with 413.
 *
 * @example
 * ```ts
 * const limits: FormLimits = { files: 1, fileSize: 20 * 1024 * 1024, fields: 20 };
 * ```
 */
export interface FormLimits {
  /** Text fields (default 1000). */
  fields?: number;
  /** Bytes in a field's value (default 1 MiB). */
  fieldSize?: number;
  /** Bytes in a field's name (default 200). */
  fieldNameSize?: number;
  /** Files (default 20). */
  files?: number;
  /** Bytes in one file (default 100 MiB). */
  fileSize?: number;
  /** Parts of a multipart body, fields and files together (default 1000). */
  parts?: number;
  /** Header lines in one part of a multipart body (default 2000, as busboy's). */
  headerPairs?: number;
}

const DEFAULT_LIMITS: Required<FormLimits> = {
  fields: 1000,
  fieldSize: MiB,
  fieldNameSize: 200,
  files: 20,
  fileSize: 100 * MiB,
  parts: 1000,
  headerPairs: 2000,
};

/**
 * Options of {@link formParts}, {@link parseForm} and {@link forms}.
 *
 * @example
 * ```ts
 * const form = await parseForm(environ, { limits: { fileSize: 1 << 20 }, tmpdir: '/var/tmp/uploads' });
 * ```
 */
export interface FormOptions {
  /** Limits (each one not given takes its default). */
  limits?: FormLimits;
  /** Where `parseForm` makes the request's temporary directory (default `os.tmpdir()`). */
  tmpdir?: string;
}

/**
 * Options of the {@link forms} middleware.
 *
 * @example
 * ```ts
 * compose(forms({ files: 'stream', limits: { fileSize: 1 << 30 } }))(app);
 * ```
 */
export interface FormsOptions extends FormOptions {
  /**
   * `'disk'` (the default): files are written to a temporary directory
   * before the app runs, and `environ['gwserver.form']` is a {@link Form}.
   * `'stream'`: nothing is read before the app runs;
   * `environ['gwserver.form_parts']` is a {@link formParts} iterator the app
   * reads, files as streams.
   */
  files?: 'disk' | 'stream';
}

/**
 * A text field of a form, as {@link formParts} yields it.
 *
 * @example
 * ```ts
 * if (part.kind === 'field') params.append(part.name, part.value);
 * ```
 */
export interface FieldPart {
  kind: 'field';
  name: string;
  value: string;
  /** The part's Content-Type (`text/plain` unless the client said otherwise). */
  mimeType: string;
}

/**
 * A file of a multipart form, as {@link formParts} yields it.
 *
 * @example
 * ```ts
 * if (part.kind === 'file') await pipeline(part.stream, createWriteStream(`/srv/in/${randomUUID()}`));
 * ```
 */
export interface FilePart {
  kind: 'file';
  /** The form field's name. */
  name: string;
  /** The file name the client gave, without any directory part (busboy drops it); still the client's: never use it as a path. */
  filename: string;
  mimeType: string;
  /** The part's Content-Transfer-Encoding (usually `7bit`), as busboy reports it. */
  encoding: string;
  /** The file's bytes. Read it (or let it be: the next part drains it). It fails with a 413 {@link GatewayError} past `limits.fileSize`. */
  stream: Readable;
}

/**
 * One part of a form: a {@link FieldPart} or a {@link FilePart}, told apart by `kind`.
 *
 * @example
 * ```ts
 * const describe = (part: FormPart) => (part.kind === 'file' ? `${part.name}: ${part.filename}` : `${part.name}=${part.value}`);
 * ```
 */
export type FormPart = FieldPart | FilePart;

/**
 * A file `parseForm` saved to disk.
 *
 * @example
 * ```ts
 * const upload: UploadedFile | undefined = form.file('report');
 * if (upload) await rename(upload.path, `/srv/reports/${randomUUID()}`);
 * ```
 */
export interface UploadedFile {
  /** The form field's name. */
  field: string;
  /** The file name the client gave, without any directory part (never used for `path`). */
  filename: string;
  mimeType: string;
  encoding: string;
  /** Where the bytes are: a file in the request's private temporary directory, removed by `cleanup()`. */
  path: string;
  /** Its size in bytes. */
  size: number;
}

/**
 * A parsed form: the text fields as `URLSearchParams` (in order, repeats
 * kept), and the uploaded files.
 *
 * @example
 * ```ts
 * const form = environ['gwserver.form'] as Form;
 * const name = form.fields.get('name') ?? '';
 * const tags = form.fields.getAll('tag');
 * const avatar = form.file('avatar'); // { filename, mimeType, path, size, ... } or undefined
 * ```
 */
export class Form {
  /** The text fields. */
  readonly fields = new URLSearchParams();
  /** The uploaded files, in the order they came. */
  readonly files: UploadedFile[] = [];
  #dir: string | undefined;
  #tmp: string;

  constructor(tmp: string = tmpdir()) {
    this.#tmp = tmp;
  }

  /** The first file sent under the field `name`. */
  file(name: string): UploadedFile | undefined {
    return this.files.find((f) => f.field === name);
  }

  /** The temporary directory of this form's files, made on the first file. */
  async directory(): Promise<string> {
    // mkdtemp makes it 0700 with a name nobody can guess.
    this.#dir ??= await mkdtemp(path.join(this.#tmp, 'gwserver-form-'));
    return this.#dir;
  }

  /** Removes the uploaded files and their directory. Safe to call more than once. */
  async cleanup(): Promise<void> {
    const dir = this.#dir;
    this.#dir = undefined;
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Whether a Content-Type is one of the two form types.
 *
 * @example
 * ```ts
 * isFormType('multipart/form-data; boundary=x'); // true
 * isFormType('application/json'); // false
 * ```
 */
export function isFormType(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/x-www-form-urlencoded' || type === 'multipart/form-data';
}

/** The errors that are the form's fault (the client's), as opposed to the input's or the app's. */
const formErrors = new WeakSet<Error>();
const formError = (err: GatewayError) => {
  formErrors.add(err);
  return err;
};
const tooLarge = (what: string) => formError(new GatewayError('GW_BODY_TOO_LARGE', `form: ${what}`));
const malformed = (what: string, cause?: unknown) => formError(new GatewayError('GW_BAD_REQUEST', `form: ${what}`, { cause }));

/**
 * The parts of the request's form body, one at a time, as they arrive.
 * Fields come with their value; files as streams, which must be read (or
 * left: asking for the next part drains the rest of a file) for parsing to
 * go on. Rejects with a {@link GatewayError}: status 413 past a limit, 400
 * for a malformed or truncated body, 415 for a body that is not a form.
 * Stopping early (`break`) stops reading the body.
 *
 * @example
 * ```ts
 * for await (const part of formParts(environ, { limits: { fileSize: 1 << 30 } })) {
 *   if (part.kind === 'field') fields.set(part.name, part.value);
 *   else await pipeline(part.stream, uploadTo(bucket, randomUUID()));
 * }
 * ```
 */
export function formParts(environ: Environ, options: FormOptions = {}): AsyncGenerator<FormPart, void, undefined> {
  const state: { failure?: unknown } = {};
  const parts = readParts(environ, options, state);
  failures.set(parts, state);
  return parts;
}

/**
 * The form error each formParts iterator ran into, by iterator. A file stream
 * cut short fails with busboy's own error ("Unexpected end of file"), which
 * may reach the app before the parser's: this maps it back to the 400 or 413
 * the body deserves.
 */
const failures = new WeakMap<object, { failure?: unknown }>();

/** The form error behind `err` when `parts` ran into one, else `err`. */
function explain(parts: object | undefined, err: unknown): unknown {
  const failure = parts === undefined ? undefined : failures.get(parts)?.failure;
  return failure ?? err;
}

async function* readParts(environ: Environ, options: FormOptions, state: { failure?: unknown }): AsyncGenerator<FormPart, void, undefined> {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  if (!isFormType(environ.CONTENT_TYPE)) {
    throw formError(new GatewayError('GW_UNSUPPORTED_MEDIA_TYPE', `form: the body is ${environ.CONTENT_TYPE ? `"${environ.CONTENT_TYPE}"` : 'without a Content-Type'}, not application/x-www-form-urlencoded or multipart/form-data`));
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': environ.CONTENT_TYPE },
      limits,
      // Browsers send file names as raw UTF-8, not RFC 2231's latin-1 default.
      defParamCharset: 'utf8',
    });
  } catch (err) {
    // "Multipart: Boundary not found", "Malformed content type".
    throw malformed(`bad Content-Type: ${(err as Error).message}`, err);
  }

  const queue: FormPart[] = [];
  let finished = false;
  let current: Readable | undefined;
  let wake: (() => void) | undefined;
  const signal = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const fail = (err: unknown) => {
    if (state.failure === undefined) {
      state.failure = err;
      // The app may be reading a file when the body turns out bad: its stream fails too, not a silent truncation.
      if (current !== undefined && !current.readableEnded) current.destroy(err as Error);
    }
    signal();
  };

  parser.on('field', (name, value, info) => {
    if (info.nameTruncated) return fail(tooLarge(`a field name is longer than ${limits.fieldNameSize} bytes (limits.fieldNameSize)`));
    if (info.valueTruncated) return fail(tooLarge(`field "${name}" is longer than ${limits.fieldSize} bytes (limits.fieldSize)`));
    queue.push({ kind: 'field', name, value, mimeType: info.mimeType });
    signal();
  });
  parser.on('file', (name, stream, info) => {
    stream.once('limit', () => fail(tooLarge(`file "${info.filename}" is larger than ${limits.fileSize} bytes (limits.fileSize)`)));
    // Busboy ends a file cut short with "Unexpected end of file": the client's
    // fault (400). Registered before the reader's listeners, so the failure is
    // known by the time the reader sees the error. Other errors (the disk
    // full while writing the file) are the server's, and stay what they are.
    stream.on('error', (err) => {
      if (/^Unexpected end of/.test(err.message)) fail(malformed(`malformed body: ${err.message}`, err));
    });
    queue.push({ kind: 'file', name, filename: info.filename ?? '', mimeType: info.mimeType, encoding: info.encoding, stream });
    signal();
  });
  parser.on('fieldsLimit', () => fail(tooLarge(`more than ${limits.fields} fields (limits.fields)`)));
  parser.on('filesLimit', () => fail(tooLarge(`more than ${limits.files} files (limits.files)`)));
  parser.on('partsLimit', () => fail(tooLarge(`more than ${limits.parts} parts (limits.parts)`)));
  // Registered before pipeline()'s own listener, so busboy's errors are named as the client's fault first.
  parser.on('error', (err: Error) => fail(malformed(`malformed body: ${err.message}`, err)));
  parser.on('close', () => {
    finished = true;
    signal();
  });

  // One chunk ahead at most: the parser, not this buffer, decides the pace.
  const source = Readable.from(environ['wsgi.input'], { highWaterMark: 1 });
  // An error here that is not busboy's is the input's own (the client went
  // away, or sent less than it declared): passed on as it is.
  const feeding = pipeline(source, parser).then(
    () => {
      finished = true;
      signal();
    },
    (err: unknown) => fail(err),
  );

  try {
    for (;;) {
      // The app moved on without reading the whole file: drain it so the parser goes on.
      if (current !== undefined && !current.readableEnded && !current.destroyed) current.resume();
      if (state.failure !== undefined) throw state.failure;
      const part = queue.shift();
      if (part !== undefined) {
        current = part.kind === 'file' ? part.stream : undefined;
        yield part;
        continue;
      }
      if (finished) {
        await feeding;
        if (state.failure !== undefined) throw state.failure;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    if (!finished || state.failure !== undefined) {
      source.destroy();
      parser.destroy();
      for (const p of queue) if (p.kind === 'file') p.stream.destroy();
      current?.destroy();
      // Settled already (fail() takes the error); awaited so nothing runs on after the caller went on.
      await feeding;
    }
  }
}

/**
 * Parses the request's form body: text fields into `form.fields`, files into
 * a private temporary directory. Call `form.cleanup()` once done with the
 * files (the {@link forms} middleware does it for you). On any error the
 * files written so far are removed before it rejects (413, 400 or 415, as
 * {@link formParts}). File parts without a file name (a file input left
 * empty) are skipped.
 *
 * @example
 * ```ts
 * const form = await parseForm(environ, { limits: { fileSize: 10 * 1024 * 1024 } });
 * try {
 *   const report = form.file('report');
 *   if (report) await copyFile(report.path, `/srv/reports/${randomUUID()}`);
 * } finally {
 *   await form.cleanup();
 * }
 * ```
 */
export async function parseForm(environ: Environ, options: FormOptions = {}): Promise<Form> {
  const form = new Form(options.tmpdir);
  const parts = formParts(environ, options);
  try {
    for await (const part of parts) {
      if (part.kind === 'field') {
        form.fields.append(part.name, part.value);
        continue;
      }
      if (part.filename === '') continue;
      const file = path.join(await form.directory(), String(form.files.length));
      const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
      await pipeline(part.stream, out);
      form.files.push({ field: part.name, filename: part.filename, mimeType: part.mimeType, encoding: part.encoding, path: file, size: out.bytesWritten });
    }
  } catch (err) {
    await form.cleanup();
    throw explain(parts, err);
  }
  return form;
}

const STATUS_LINES: Record<number, string> = {
  400: '400 Bad Request',
  413: '413 Content Too Large',
  415: '415 Unsupported Media Type',
};

/** The answer to a form error, or undefined for any other error (the server's to handle). */
function refusal(err: unknown, startResponse: StartResponse): Body | undefined {
  if (!(err instanceof GatewayError) || !formErrors.has(err)) return undefined;
  const status = STATUS_LINES[err.status];
  if (status === undefined) return undefined;
  // The rest of the body is not read: the connection cannot be reused.
  return refuse(startResponse, status, err.message, [['Connection', 'close']], err);
}

/**
 * Middleware that parses form bodies. For a request whose Content-Type is
 * `application/x-www-form-urlencoded` or `multipart/form-data`, it reads the
 * body before the app runs and sets `environ['gwserver.form']` to a
 * {@link Form}; other requests pass through untouched. A body over a limit
 * is answered `413 Content Too Large`, a malformed or truncated one
 * `400 Bad Request`, each with a plain-text message and without calling the
 * app. Uploaded files are removed when the server closes the response body,
 * when the app throws, and when the client goes away.
 *
 * With `files: 'stream'`, nothing is read before the app runs:
 * `environ['gwserver.form_parts']` is the {@link formParts} iterator, and a
 * form error it throws (and the app lets through, before returning its body)
 * is answered as above.
 *
 * @example
 * ```ts
 * import { compose, forms, type Application, type Form } from 'gwserver';
 *
 * const app: Application = (environ, startResponse) => {
 *   const form = environ['gwserver.form'] as Form | undefined;
 *   startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
 *   return [`Hello, ${form?.fields.get('name') ?? 'stranger'}!`];
 * };
 * export const application = compose(forms({ limits: { files: 1, fileSize: 5 * 1024 * 1024 } }))(app);
 * ```
 */
export function forms(options: FormsOptions = {}): Middleware {
  return function formsMiddleware(app: Application): Application {
    return async function withForm(environ, startResponse) {
      if (!isFormType(environ.CONTENT_TYPE)) return app(environ, startResponse);
      if (options.files === 'stream') {
        const parts = formParts(environ, options);
        environ[FORM_PARTS_KEY] = parts;
        // An app that stops asking for parts without break leaves the parser
        // waiting: return() runs its cleanup. Not awaited, so that close() cannot hang on it.
        const stop = () => void parts.return(undefined).catch(() => {});
        let body: Body;
        try {
          body = await app(environ, startResponse);
        } catch (err) {
          stop();
          const answer = refusal(explain(parts, err), startResponse);
          if (answer !== undefined) return answer;
          throw err;
        }
        return withClose(body, stop);
      }
      let form: Form;
      try {
        form = await parseForm(environ, options);
      } catch (err) {
        const answer = refusal(err, startResponse);
        if (answer !== undefined) return answer;
        throw err;
      }
      environ[FORM_KEY] = form;
      let body: Body;
      try {
        body = await app(environ, startResponse);
      } catch (err) {
        await form.cleanup();
        throw err;
      }
      return withClose(body, () => form.cleanup());
    };
  };
}
