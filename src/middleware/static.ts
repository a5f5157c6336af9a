/**
 * Static files: `staticFiles(root, options)` is an application that serves
 * the files under `root` (GET and HEAD), and `serveStatic(root, options)`
 * the middleware that serves them in front of an app, which gets whatever
 * is not a file.
 *
 * What it does, as the toolkits it learns from (send/serve-static,
 * @fastify/static, whitenoise): ETag and Last-Modified, conditional
 * requests (304, 412), byte ranges (206, multipart/byteranges for several,
 * 416, If-Range), content types from mime-types (with a charset for text),
 * index files and the redirect of a directory to its trailing slash,
 * precompressed `.br`/`.zst`/`.gz` siblings for clients that accept them,
 * Cache-Control. Files stream through `wsgi.file_wrapper` block by block
 * as the socket drains, so a file of any size costs one block of memory.
 *
 * The root is a wall: a path is refused before the file system sees it
 * when it has a `.` or `..` segment, a backslash, a NUL or another control
 * character (400); it is then resolved with realpath and served only if it
 * lands inside the root (a symlink leading out is not found, unless
 * allowed); dotfiles are not found by default; and only regular files are
 * opened, never read in a way that could block on a FIFO or a device.
 *
 * @module
 */
import fs, { constants, type ReadStream, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import mime from 'mime-types';
import { fileWrapper } from '../gateway/file-wrapper.js';
import { quotePath } from '../gateway/util.js';
import type { Application, Body, Environ, HeaderPair, Middleware, StartResponse } from '../gateway/types.js';
import { evaluatePreconditions, fileETag, httpSeconds, ifRangeHolds, parseRange, type ByteRange, type Validators } from './conditional.js';
import { acceptedCodings, CODINGS, isCompressible, SUFFIX, type Coding } from './encoding.js';

/** Options of {@link staticFiles} and {@link serveStatic}. */
export interface StaticFilesOptions {
  /**
   * The app that answers what is not a file here: a path with nothing
   * behind it (or hidden: dotfiles, symlinks out of the root), and methods
   * other than GET and HEAD. Without one, those get 404 and 405.
   */
  fallthrough?: Application;
  /** File names tried, in order, for a path that ends with `/`: `'index.html'` by default; `false` for none. */
  index?: string | readonly string[] | false;
  /** Redirect (301) a directory asked for without its trailing slash to the path with one; true by default. */
  redirect?: boolean;
  /**
   * Files and directories whose name starts with a dot: `'ignore'` (the
   * default) treats them as absent, `'deny'` answers 403, `'allow'` serves
   * them like any file.
   */
  dotfiles?: 'ignore' | 'deny' | 'allow';
  /**
   * Symbolic links: `'inside'` (the default) follows those that resolve to
   * a place inside the root, and treats the others as absent; `'follow'`
   * follows every one (a link may then expose any file the process can
   * read); `'refuse'` treats every path that goes through a link as absent.
   */
  symlinks?: 'inside' | 'follow' | 'refuse';
  /** Send ETag (and answer If-None-Match, If-Match and If-Range tags); true by default. */
  etag?: boolean;
  /** Send Last-Modified (and answer If-Modified-Since, If-Unmodified-Since and If-Range dates); true by default. */
  lastModified?: boolean;
  /** `Cache-Control: public, max-age=N` for every file, in seconds; unset by default (no Cache-Control). */
  maxAge?: number;
  /** Add `immutable` to that Cache-Control: for file names that change with their content (hashed assets). */
  immutable?: boolean;
  /** The Cache-Control of each file, by its path relative to the root (`'app.3f2a.js'`); undefined sends none. Overrides maxAge. */
  cacheControl?: string | ((relativePath: string) => string | undefined);
  /**
   * Serve `NAME.br`, `NAME.zst` or `NAME.gz` next to `NAME` instead of it
   * to a client whose Accept-Encoding takes that coding, with the content
   * type of `NAME` and `Content-Encoding`. True (the default) looks for
   * every coding this Node has (zstd from Node 22.15), in the client's order
   * of preference then br, zstd, gzip; a list chooses which and in what
   * order; false never looks. Responses of compressible types carry
   * `Vary: Accept-Encoding` while this is on.
   */
  precompressed?: boolean | readonly Coding[];
  /** Answer Range requests (206) and say `Accept-Ranges: bytes`; true by default. */
  ranges?: boolean;
  /**
   * The most ranges one request may ask for before its Range header is
   * ignored (the whole file is sent); 1 serves single ranges only. 50 by
   * default; overlapping and adjacent ranges are merged first.
   */
  maxRanges?: number;
  /** Content types by file extension (without the dot, lower case), before mime-types' table: `{ webmanifest: 'application/manifest+json' }`. */
  types?: Readonly<Record<string, string>>;
  /** The content type of an extension nobody knows: `application/octet-stream` by default. */
  defaultType?: string;
  /**
   * Called before a file is sent (200 and 206), to add or change headers:
   * `(headers, relativePath, stat) => void`, editing `headers` in place.
   */
  setHeaders?: (headers: HeaderPair[], relativePath: string, stat: Stats) => void;
  /**
   * The size of each read, in bytes: 64 KiB by default. A file of at most
   * this size is read in one go and sent with its head in one write.
   */
  blockSize?: number;
  /**
   * Make the file system calls of a request that may wait on the disk
   * (realpath, open, and the one read of a file up to `blockSize`)
   * synchronously, on the event loop, instead of through libuv's thread
   * pool: on a local disk whose files are cached each call takes
   * microseconds, less than a trip through the pool. False by default: a
   * slow disk or a network file system would stall every request of the
   * worker. fstat and close are made at once either way (they do not wait
   * on a disk); larger files are read asynchronously either way.
   */
  blocking?: boolean;
}

/** The file system calls the app makes, asynchronous (libuv's thread pool) or blocking. */
interface FileSystem {
  realpath(path: string): Promise<string> | string;
  open(path: string, flags: number): Promise<number> | number;
  fstat(fd: number): Promise<Stats> | Stats;
  /** Reads into `buffer` from `position`; resolves with the bytes read. */
  read(fd: number, buffer: Buffer, position: number): Promise<number> | number;
  /** Closes without waiting: nothing depends on its outcome. */
  close(fd: number): void;
}

function closeNow(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Nothing to do about it.
  }
}

function callback<T>(run: (cb: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value))));
}

/**
 * The calls that may wait on the disk (realpath and open walk directories,
 * read may miss the page cache) go through the thread pool; fstat and
 * close of a descriptor this process opened to read do not wait on a
 * disk (open brought the inode in; closing a read-only file writes
 * nothing back), so they are made at once: each trip through the pool
 * costs more than the call (on one core, the bench measured a 1 KiB file
 * at about 140 CPU µs per request with all five in the pool).
 */
const ASYNC_FS: FileSystem = {
  realpath: (p) => callback<string>((cb) => fs.realpath.native(p, cb)),
  open: (p, flags) => callback<number>((cb) => fs.open(p, flags, cb)),
  fstat: (fd) => fs.fstatSync(fd),
  read: (fd, buffer, position) => callback<number>((cb) => fs.read(fd, buffer, 0, buffer.length, position, cb)),
  close: closeNow,
};

const BLOCKING_FS: FileSystem = {
  realpath: (p) => fs.realpathSync.native(p),
  open: (p, flags) => fs.openSync(p, flags),
  fstat: (fd) => fs.fstatSync(fd),
  read: (fd, buffer, position) => fs.readSync(fd, buffer, 0, buffer.length, position),
  close: closeNow,
};

const TEXT = [['Content-Type', 'text/plain; charset=utf-8']] as const;
const NOT_FOUND = 'Not Found\n';
const DEFAULT_BLOCK = 64 * 1024;
/** open(2) flags: read only, fail on a symlink swapped in after realpath, and never wait on a FIFO. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** Errors that mean "nothing here" rather than a fault. */
const ABSENT = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG', 'ELOOP', 'EISDIR']);
/** Errors that mean "here, but not for us". */
const FORBIDDEN = new Set(['EACCES', 'EPERM']);
/** Headers a 304 keeps (RFC 9110 15.4.5). */
const NOT_MODIFIED_KEEP = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary']);

/** Why a path is not served. */
type Refusal = 400 | 403 | 404;

/** A regular file, open, with what is known of it. */
interface OpenFile {
  fd: number;
  stat: Stats;
  /** Its path relative to the root, as asked for (`css/site.css`): for the content type and the callbacks. */
  relative: string;
  coding: Coding | undefined;
}

function plain(startResponse: StartResponse, status: string, text: string, extra: HeaderPair[] = []): Body {
  startResponse(status, [...TEXT, ['Content-Length', String(Buffer.byteLength(text))], ...extra] as HeaderPair[]);
  return [text];
}

function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
}

/**
 * Splits PATH_INFO into the names it walks through, refusing what no
 * browser sends and a traversal needs: `.` and `..` segments (whatever
 * their encoding was: PATH_INFO is decoded), backslashes, NUL and other
 * control characters. Empty segments (`a//b`) are skipped.
 */
function splitPath(pathInfo: string): string[] | undefined {
  if (/[\x00-\x1f\x7f\\]/.test(pathInfo)) return undefined;
  const segments: string[] = [];
  for (const s of pathInfo.split('/')) {
    if (s === '') continue;
    if (s === '.' || s === '..') return undefined;
    segments.push(s);
  }
  return segments;
}

const hidden = (segments: readonly string[]) => segments.some((s) => s.startsWith('.'));

/** The files under one root, as an application (see the module's documentation). */
class StaticFiles {
  readonly #root: string;
  #realRoot: Promise<string> | undefined;
  readonly #fallthrough: Application | undefined;
  readonly #index: readonly string[];
  readonly #redirect: boolean;
  readonly #dotfiles: 'ignore' | 'deny' | 'allow';
  readonly #symlinks: 'inside' | 'follow' | 'refuse';
  readonly #etag: boolean;
  readonly #lastModified: boolean;
  readonly #cacheControl: ((relative: string) => string | undefined) | undefined;
  readonly #precompressed: readonly Coding[];
  readonly #ranges: boolean;
  readonly #maxRanges: number;
  readonly #types: ReadonlyMap<string, string>;
  readonly #defaultType: string;
  readonly #setHeaders: StaticFilesOptions['setHeaders'];
  readonly #blockSize: number;
  readonly #fs: FileSystem;
  /** Content types found so far, by extension (only known ones: the map cannot grow past mime-db's table). */
  readonly #typeCache = new Map<string, string>();

  constructor(root: string, o: StaticFilesOptions) {
    if (typeof root !== 'string' || root === '') throw new TypeError('staticFiles: root must be a directory path');
    this.#root = path.resolve(root);
    this.#fallthrough = o.fallthrough;
    this.#index = o.index === false ? [] : typeof o.index === 'string' ? [o.index] : o.index ?? ['index.html'];
    for (const name of this.#index) {
      if (name === '' || name.includes('/') || name.includes('\\') || name === '.' || name === '..') throw new TypeError(`staticFiles: index name ${JSON.stringify(name)} must be a plain file name`);
    }
    this.#redirect = o.redirect ?? true;
    this.#dotfiles = o.dotfiles ?? 'ignore';
    this.#symlinks = o.symlinks ?? 'inside';
    this.#etag = o.etag ?? true;
    this.#lastModified = o.lastModified ?? true;
    if (o.cacheControl !== undefined) {
      const cc = o.cacheControl;
      this.#cacheControl = typeof cc === 'string' ? () => cc : cc;
    } else if (o.maxAge !== undefined) {
      if (!Number.isInteger(o.maxAge) || o.maxAge < 0) throw new TypeError('staticFiles: maxAge must be a whole number of seconds');
      const value = `public, max-age=${o.maxAge}${o.immutable ? ', immutable' : ''}`;
      this.#cacheControl = () => value;
    }
    const pre = o.precompressed ?? true;
    this.#precompressed = pre === true ? CODINGS : pre === false ? [] : pre.filter((c) => CODINGS.includes(c));
    this.#ranges = o.ranges ?? true;
    this.#maxRanges = o.maxRanges ?? 50;
    this.#types = new Map(Object.entries(o.types ?? {}).map(([k, v]) => [k.toLowerCase().replace(/^\./, ''), v]));
    this.#defaultType = o.defaultType ?? 'application/octet-stream';
    this.#setHeaders = o.setHeaders;
    this.#blockSize = o.blockSize !== undefined && o.blockSize > 0 ? o.blockSize : DEFAULT_BLOCK;
    this.#fs = o.blocking ? BLOCKING_FS : ASYNC_FS;
  }

  /** The root as the file system names it (symlinks resolved), found at the first request and kept. */
  #resolveRoot(): Promise<string> {
    if (this.#realRoot === undefined) {
      const p = Promise.resolve().then(() => this.#fs.realpath(this.#root));
      this.#realRoot = p;
      // A root that does not exist yet may appear later: ask again next time.
      p.catch(() => {
        if (this.#realRoot === p) this.#realRoot = undefined;
      });
    }
    return this.#realRoot;
  }

  readonly app: Application = (environ, startResponse) => this.#handle(environ, startResponse);

  async #handle(environ: Environ, startResponse: StartResponse): Promise<Body> {
    const method = environ.REQUEST_METHOD;
    if (method !== 'GET' && method !== 'HEAD') {
      if (this.#fallthrough !== undefined) return this.#fallthrough(environ, startResponse);
      return plain(startResponse, '405 Method Not Allowed', 'Method Not Allowed\n', [['Allow', 'GET, HEAD']]);
    }
    const pathInfo = environ.PATH_INFO;
    const segments = splitPath(pathInfo);
    if (segments === undefined) return plain(startResponse, '400 Bad Request', 'Bad Request: the path is not allowed\n');
    if (this.#dotfiles !== 'allow' && hidden(segments)) return this.#refuse(this.#dotfiles === 'deny' ? 403 : 404, environ, startResponse);
    let root: string;
    try {
      root = await this.#resolveRoot();
    } catch (err) {
      if (ABSENT.has(errnoOf(err) ?? '')) return this.#refuse(404, environ, startResponse);
      throw err;
    }
    const found = await this.#find(root, segments);
    if (typeof found === 'number') return this.#refuse(found, environ, startResponse);
    if (found === 'directory') {
      if (!pathInfo.endsWith('/')) {
        if (!this.#redirect) return this.#refuse(404, environ, startResponse);
        return this.#redirectToSlash(environ, startResponse, segments);
      }
      for (const name of this.#index) {
        const index = await this.#find(root, [...segments, name]);
        if (typeof index === 'object') return this.#serve(environ, startResponse, root, index);
        if (index === 403) return this.#refuse(403, environ, startResponse);
      }
      return this.#refuse(404, environ, startResponse);
    }
    // "file.txt/" names a directory that is not there.
    if (pathInfo.endsWith('/')) {
      this.#fs.close(found.fd);
      return this.#refuse(404, environ, startResponse);
    }
    return this.#serve(environ, startResponse, root, found);
  }

  #refuse(status: Refusal, environ: Environ, startResponse: StartResponse): Body | Promise<Body> {
    if (status === 404 && this.#fallthrough !== undefined) return this.#fallthrough(environ, startResponse);
    if (status === 403) return plain(startResponse, '403 Forbidden', 'Forbidden\n');
    if (status === 400) return plain(startResponse, '400 Bad Request', 'Bad Request\n');
    return plain(startResponse, '404 Not Found', NOT_FOUND);
  }

  #redirectToSlash(environ: Environ, startResponse: StartResponse, segments: readonly string[]): Body {
    // Built from the checked segments, never from the raw target: no "//host" can come out of it.
    const prefix = environ.SCRIPT_NAME.replace(/^\/+/, '/').replace(/\/+$/, '');
    let location = quotePath(`${prefix}/${segments.map((s) => `${s}/`).join('')}`);
    if (environ.QUERY_STRING !== '') location += `?${environ.QUERY_STRING}`;
    return plain(startResponse, '301 Moved Permanently', `Moved Permanently: ${location}\n`, [['Location', location]]);
  }

  /**
   * Where `segments` leads under the real root: an open regular file, a
   * directory, or why it is not served. Realpath first, so that the
   * symlink and dotfile rules see where the path really goes; then open
   * that path without following a last symlink (one swapped in meanwhile
   * fails) and without blocking (a FIFO).
   */
  async #find(root: string, segments: readonly string[], suffix = ''): Promise<OpenFile | 'directory' | Refusal> {
    const relative = segments.join('/');
    const lexical = relative === '' ? root : path.join(root, relative) + suffix;
    let real: string;
    try {
      real = await this.#fs.realpath(lexical);
    } catch (err) {
      const code = errnoOf(err) ?? '';
      if (ABSENT.has(code)) return 404;
      if (FORBIDDEN.has(code)) return 403;
      throw err;
    }
    if (real !== lexical) {
      if (this.#symlinks === 'refuse') return 404;
      const inside = real === root || real.startsWith(root === '/' ? '/' : `${root}/`);
      if (!inside && this.#symlinks === 'inside') return 404;
      // A link inside the root that points at a dotfile hides it too.
      if (inside && this.#dotfiles !== 'allow' && hidden(path.relative(root, real).split(path.sep))) return this.#dotfiles === 'deny' ? 403 : 404;
    }
    let fd: number;
    try {
      fd = await this.#fs.open(real, OPEN_FLAGS);
    } catch (err) {
      const code = errnoOf(err) ?? '';
      if (ABSENT.has(code)) return 404;
      if (FORBIDDEN.has(code)) return 403;
      throw err;
    }
    let stat: Stats;
    try {
      stat = await this.#fs.fstat(fd);
    } catch (err) {
      this.#fs.close(fd);
      throw err;
    }
    if (stat.isFile()) return { fd, stat, relative, coding: undefined };
    this.#fs.close(fd);
    return stat.isDirectory() && suffix === '' ? 'directory' : 404;
  }

  /** A precompressed sibling the client accepts, if there is one; the original otherwise. */
  async #variant(environ: Environ, root: string, segments: readonly string[], original: OpenFile): Promise<OpenFile> {
    const codings = acceptedCodings(environ.HTTP_ACCEPT_ENCODING as string | undefined, this.#precompressed);
    for (const coding of codings) {
      const sibling = await this.#find(root, segments, SUFFIX[coding]);
      if (typeof sibling === 'object') {
        this.#fs.close(original.fd);
        return { ...sibling, relative: original.relative, coding };
      }
    }
    return original;
  }

  #contentType(relative: string): string {
    const dot = relative.lastIndexOf('.');
    const slash = relative.lastIndexOf('/');
    if (dot <= slash + 1) return this.#defaultType;
    const ext = relative.slice(dot + 1).toLowerCase();
    let type = this.#typeCache.get(ext);
    if (type !== undefined) return type;
    const own = this.#types.get(ext);
    type = own === undefined ? mime.contentType(ext) || undefined : mime.contentType(own) || own;
    if (type === undefined) return this.#defaultType;
    this.#typeCache.set(ext, type);
    return type;
  }

  async #serve(environ: Environ, startResponse: StartResponse, root: string, found: OpenFile): Promise<Body> {
    let file = found;
    // Whether the descriptor is still ours to close: a body, or #readAll, takes it over.
    let owned = true;
    const release = () => {
      owned = false;
      this.#fs.close(file.fd);
    };
    try {
      const type = this.#contentType(file.relative);
      const negotiable = this.#precompressed.length > 0 && isCompressible(type);
      if (negotiable && environ.HTTP_ACCEPT_ENCODING !== undefined) {
        file = await this.#variant(environ, root, file.relative.split('/'), file);
      }
      const { stat } = file;
      const size = stat.size;
      const v: Validators = {
        etag: this.#etag ? fileETag(stat.mtimeMs, size, file.coding) : undefined,
        lastModified: this.#lastModified ? httpSeconds(stat.mtimeMs) : undefined,
      };
      const headers: HeaderPair[] = [];
      if (v.etag !== undefined) headers.push(['ETag', v.etag]);
      if (v.lastModified !== undefined) headers.push(['Last-Modified', new Date(v.lastModified * 1000).toUTCString()]);
      const cacheControl = this.#cacheControl?.(file.relative);
      if (cacheControl !== undefined) headers.push(['Cache-Control', cacheControl]);
      if (negotiable) headers.push(['Vary', 'Accept-Encoding']);

      const condition = evaluatePreconditions(environ, v);
      if (condition === 304) {
        // Only the headers a 304 may carry (RFC 9110 15.4.5), after setHeaders had its say.
        if (this.#setHeaders !== undefined) this.#setHeaders(headers, file.relative, stat);
        release();
        startResponse('304 Not Modified', headers.filter(([name]) => NOT_MODIFIED_KEEP.has(name.toLowerCase())));
        return [];
      }
      if (condition === 412) {
        release();
        return plain(startResponse, '412 Precondition Failed', 'Precondition Failed\n');
      }

      headers.unshift(['Content-Type', type]);
      if (file.coding !== undefined) headers.push(['Content-Encoding', file.coding]);
      if (this.#ranges) headers.push(['Accept-Ranges', 'bytes']);
      // RFC 9110 14.2: only GET has range semantics; an empty file has no satisfiable range.
      const rangeHeader = environ.HTTP_RANGE as string | undefined;
      let ranges: ByteRange[] | 'unsatisfiable' | undefined;
      if (this.#ranges && rangeHeader !== undefined && environ.REQUEST_METHOD === 'GET' && size > 0 && ifRangeHolds(environ, v)) {
        ranges = parseRange(rangeHeader, size, this.#maxRanges);
      }
      if (ranges === 'unsatisfiable') {
        release();
        return plain(startResponse, '416 Range Not Satisfiable', 'Range Not Satisfiable\n', [['Content-Range', `bytes */${size}`]]);
      }
      if (this.#setHeaders !== undefined) this.#setHeaders(headers, file.relative, stat);
      const wrap = environ['wsgi.file_wrapper'] ?? fileWrapper;
      // A Readable on the descriptor: the wrapper's close() destroys it, and the stream (autoClose) closes the descriptor.
      const read = (start: number, end: number) => fs.createReadStream('', { fd: file.fd, start, end, highWaterMark: this.#blockSize });

      if (ranges === undefined) {
        if (environ.REQUEST_METHOD === 'HEAD' || size === 0) {
          release();
          headers.push(['Content-Length', String(size)]);
          startResponse('200 OK', headers);
          return [];
        }
        if (size <= this.#blockSize) {
          // One read, one buffer: the server sends it with the head, and no stream is made.
          owned = false;
          const data = await this.#readAll(file.fd, size);
          headers.push(['Content-Length', String(data.length)]);
          startResponse('200 OK', headers);
          return [data];
        }
        headers.push(['Content-Length', String(size)]);
        startResponse('200 OK', headers);
        owned = false;
        return wrap(read(0, size - 1), this.#blockSize);
      }
      if (ranges.length === 1) {
        const { start, end } = ranges[0]!;
        headers.push(['Content-Range', `bytes ${start}-${end}/${size}`], ['Content-Length', String(end - start + 1)]);
        startResponse('206 Partial Content', headers);
        owned = false;
        return wrap(read(start, end), this.#blockSize);
      }
      owned = false;
      return this.#multipart(startResponse, headers, file, ranges, size, type);
    } catch (err) {
      if (owned) release();
      throw err;
    }
  }

  /**
   * A small file whole, then its descriptor closed. A file that shrank
   * since fstat gives what is left (the Content-Length follows); one that
   * grew gives its first `size` bytes.
   */
  async #readAll(fd: number, size: number): Promise<Buffer> {
    const data = Buffer.allocUnsafe(size);
    let got = 0;
    try {
      while (got < size) {
        const n = await this.#fs.read(fd, got === 0 ? data : data.subarray(got), got);
        if (n === 0) break;
        got += n;
      }
    } finally {
      this.#fs.close(fd);
    }
    return got === size ? data : data.subarray(0, got);
  }

  /** Several ranges: one multipart/byteranges body (RFC 9110 14.6) whose length is known in advance. */
  #multipart(startResponse: StartResponse, headers: HeaderPair[], file: OpenFile, ranges: readonly ByteRange[], size: number, type: string): Body {
    const boundary = randomBytes(12).toString('hex');
    const heads = ranges.map((r, i) => `${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: bytes ${r.start}-${r.end}/${size}\r\n\r\n`);
    const tail = `\r\n--${boundary}--\r\n`;
    let length = Buffer.byteLength(tail);
    for (let i = 0; i < ranges.length; i++) length += Buffer.byteLength(heads[i]!) + ranges[i]!.end - ranges[i]!.start + 1;
    const out = headers.filter(([name]) => name.toLowerCase() !== 'content-type');
    out.unshift(['Content-Type', `multipart/byteranges; boundary=${boundary}`]);
    out.push(['Content-Length', String(length)]);
    startResponse('206 Partial Content', out);
    const { fd } = file;
    const blockSize = this.#blockSize;
    const files = this.#fs;
    let current: ReadStream | undefined;
    async function* parts(): AsyncGenerator<string | Buffer> {
      for (let i = 0; i < ranges.length; i++) {
        yield heads[i]!;
        // autoClose off: the descriptor serves every part, and close() below closes it.
        current = fs.createReadStream('', { fd, start: ranges[i]!.start, end: ranges[i]!.end, highWaterMark: blockSize, autoClose: false });
        for await (const chunk of current) yield chunk as Buffer;
      }
      yield tail;
    }
    const it = parts();
    return {
      [Symbol.asyncIterator]: () => it,
      close() {
        // A read in flight keeps the descriptor until it completes: close after the stream did.
        if (current === undefined || current.closed) files.close(fd);
        else {
          current.once('close', () => files.close(fd));
          current.destroy();
        }
      },
    };
  }
}

/**
 * An application that serves the files under `root`: GET and HEAD, with
 * ETag and Last-Modified, conditional requests (304, 412), byte ranges
 * (206, 416), index files, precompressed siblings and Cache-Control, each
 * file streamed through `wsgi.file_wrapper`. Paths that try to leave the
 * root are refused (400), dotfiles and symlinks leading out are not found
 * (404); with `fallthrough`, what is not found goes to that app instead.
 *
 * @example
 * ```ts
 * // app.mjs: gwserver app:application serves ./public
 * import { staticFiles } from 'gwserver';
 * export const application = staticFiles('public', { maxAge: 3600 });
 * ```
 */
export function staticFiles(root: string, options: StaticFilesOptions = {}): Application {
  const files = new StaticFiles(root, options);
  const app = files.app;
  return function staticFiles(environ, startResponse) {
    return app(environ, startResponse);
  };
}

/**
 * The middleware form of {@link staticFiles}: serves the files under
 * `root`, and hands every request that is not for one of them (and every
 * method but GET and HEAD) to the wrapped app.
 *
 * @example
 * ```ts
 * import { compose, compress, serveStatic } from 'gwserver';
 * const site = (environ, startResponse) => {
 *   startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
 *   return ['dynamic\n'];
 * };
 * // /logo.png from ./public if it is there, everything else from site.
 * export const application = compose(compress(), serveStatic('public'))(site);
 * ```
 */
export function serveStatic(root: string, options: Omit<StaticFilesOptions, 'fallthrough'> = {}): Middleware {
  return (app) => staticFiles(root, { ...options, fallthrough: app });
}
