/**
 * An append-only log file written off the request path: lines are queued,
 * and written together by one write within FLUSH_MS (at once when
 * BATCH_BYTES wait). Lines go straight into one reused buffer: the access
 * log writes its JSON lines there byte by byte ({@link LineSink}), other
 * lines are copied in as byte strings. A line that waited as a JS string
 * (a rope of ~30 pieces) survived the young-generation GCs of a busy
 * worker and had to be flattened at write time: about 1.5 µs per line
 * more, and longer GC pauses, than writing its bytes at once.
 *
 * pino's own asynchronous destination (sonic-boom, `sync: false`) does the
 * same job, but measured 4-6 µs per line here against 1.3-1.6 µs for this
 * writer (the write itself included): it concatenates into one string and
 * takes its UTF-8 length again on every write, and copies the buffer once
 * more after each write.
 *
 * @module
 */
import { closeSync, fstatSync, mkdirSync, openSync, write, writeSync } from 'node:fs';
import path from 'node:path';

/** Settings of {@link CoalescingWriter}. */
export interface CoalescingWriterOptions {
  /** A file path (created with its directory, appended to), or `-` for stdout. */
  file: string;
  /** A write or a reopen failed; the lines of a failed write are lost. */
  onError?: (err: NodeJS.ErrnoException, lost: number) => void;
  /** Lines queued beyond this many bytes are dropped and counted (a disk that cannot keep up must not fill the memory). Default 16 MiB. */
  maxPending?: number;
}

/** How long a line may wait for others to share its write (ms). */
const FLUSH_MS = 20;
/** Bytes queued that make a write start at once. */
const BATCH_BYTES = 64 * 1024;
/** The buffer's first size (allocated on the first line: an idle worker has none). */
const INITIAL_BYTES = 128 * 1024;

/**
 * Where a line is written byte by byte: `room(max)` gives a buffer with at
 * least `max` free bytes from `end`; the writer puts its line there and
 * calls `commit` with the new end. Every committed range is whole lines.
 */
export interface LineSink {
  /** The buffer to write at {@link LineSink.end} (with `max` bytes free), or undefined: the line is to be dropped. */
  room(max: number): Buffer | undefined;
  /** Where the next line starts in the buffer `room` returned. */
  readonly end: number;
  /** The bytes up to `end` are written (whole lines, each with its `\n`). */
  commit(end: number): void;
}

/** The number of lines (newlines) in buf[start, end): for the lost-lines count of a failed write. */
function countLines(buf: Buffer, start: number, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a, start); i >= 0 && i < end; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}

/** A pipe or socket takes at most this much in one atomic write (PIPE_BUF): several workers share stdout. */
const ATOMIC_WRITE = 4096;

/** Waits synchronously (at exit only). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** See the module comment. */
export class CoalescingWriter implements LineSink {
  readonly file: string;
  #fd: number;
  /** Whether writes must stay whole lines of at most ATOMIC_WRITE bytes (not a regular file). */
  #shared: boolean;
  /** Queued lines: buf[0, end). Written from here synchronously; only a part a pipe would not take is copied out (#inFlight). */
  #buf: Buffer = Buffer.alloc(0);
  #end = 0;
  #source: (() => void) | undefined;
  #rendering = false;
  #maxPending: number;
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  /** The write in flight: its bytes, how many lines, and the fd it goes to (the old one during a reopen). */
  #inFlight: Buffer | undefined;
  #inFlightLines = 0;
  #inFlightFd = -1;
  /** Fds replaced by a reopen while a write on them was in flight: closed when it ends. */
  #retired: number[] = [];
  #dropped = 0;
  #waiters: Array<() => void> = [];
  #onError: CoalescingWriterOptions['onError'];
  // Bound once: no closure per write.
  readonly #startBound = (): void => this.#start();
  readonly #writtenBound = (err: NodeJS.ErrnoException | null, n: number): void => this.#written(err, n);

  /** Opens the file now (synchronously), so that a path that cannot be opened is an error here. */
  constructor(options: CoalescingWriterOptions) {
    this.file = options.file;
    this.#onError = options.onError;
    this.#maxPending = options.maxPending ?? 16 * 1024 * 1024;
    if (this.file === '-') {
      this.#fd = 1;
    } else {
      mkdirSync(path.dirname(this.file), { recursive: true });
      this.#fd = openSync(this.file, 'a');
    }
    this.#shared = !this.#isRegularFile(this.#fd);
  }

  /** Lines dropped so far because too many were waiting. */
  get dropped(): number {
    return this.#dropped;
  }

  /** The file descriptor written to now. */
  get fd(): number {
    return this.#fd;
  }

  /**
   * Queues one line (with its `\n`), as a byte string: one byte per
   * character (ASCII, or the latin-1 form of UTF-8 bytes), copied as is.
   */
  write(line: string): void {
    const buf = this.room(line.length);
    if (buf !== undefined) this.commit(this.#end + buf.write(line, this.#end, 'latin1'));
  }

  room(max: number): Buffer | undefined {
    if (this.#end + max <= this.#buf.length) return this.#buf;
    if (this.#end + max > this.#maxPending) {
      this.#dropped++;
      return undefined;
    }
    const grown = Buffer.allocUnsafeSlow(Math.max(INITIAL_BYTES, 2 * this.#buf.length, this.#end + max));
    this.#buf.copy(grown, 0, 0, this.#end);
    this.#buf = grown;
    return grown;
  }

  get end(): number {
    return this.#end;
  }

  commit(end: number): void {
    this.#end = end;
    if (this.#inFlight === undefined && !this.#rendering) this.#schedule();
  }

  /**
   * Lines kept outside the writer until it writes (the access log keeps
   * request values and formats them in a batch): `render` puts them into
   * the buffer (room/commit) before every write, flush and drain.
   */
  setSource(render: () => void): void {
    this.#source = render;
  }

  /** The source has queued a line: it is written within FLUSH_MS. */
  queued(): void {
    if (this.#inFlight === undefined) this.#schedule();
  }

  #render(): void {
    if (this.#source === undefined) return;
    this.#rendering = true;
    try {
      this.#source();
    } finally {
      this.#rendering = false;
    }
  }

  /** Where the write that starts at `start` ends: everything, or for a pipe whole lines of at most ATOMIC_WRITE bytes (a longer line alone). */
  #chunkEnd(start: number): number {
    const end = this.#end;
    if (!this.#shared || end - start <= ATOMIC_WRITE) return end;
    const nl = this.#buf.lastIndexOf(0x0a, start + ATOMIC_WRITE - 1);
    if (nl >= start) return nl + 1;
    const next = this.#buf.indexOf(0x0a, start);
    return next < 0 || next >= end ? end : next + 1;
  }

  /**
   * Starts the next write soon: at once when a batch is full, otherwise
   * after FLUSH_MS, so that a busy worker makes a few large writes a second
   * rather than one per event-loop turn (each write is a trip through
   * libuv's thread pool: several µs, which per request was most of the
   * access log's cost).
   */
  #schedule(): void {
    if (this.#end >= BATCH_BYTES) {
      if (this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#startBound);
      }
    } else if (!this.#scheduled && this.#timer === undefined) {
      this.#timer = setTimeout(this.#startBound, FLUSH_MS);
      // The exit handler writes what is left: a pending flush must not keep a finished process alive.
      this.#timer.unref();
    }
  }

  #start(): void {
    this.#scheduled = false;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#inFlight !== undefined) return;
    this.#writeNow();
  }

  /**
   * Writes what is queued now, synchronously: a batch every FLUSH_MS (or
   * BATCH_BYTES), into the page cache or a pipe. A trip through libuv's
   * thread pool per batch measured costlier than the write itself (on a
   * 2-core VM, hello world with the access log: +5.3 µs of CPU a request
   * asynchronously, +3.7 synchronously, to a file; to a pipe, in 4 KiB
   * chunks, +10.6 against +2.7). A pipe gets whole lines of at most
   * ATOMIC_WRITE bytes per write. When a non-blocking pipe is full (EAGAIN,
   * or a part written) the rest goes the asynchronous way, in order; a
   * blocking one makes the write wait for its reader, as gunicorn's would.
   */
  #writeNow(): void {
    this.#render();
    const buf = this.#buf;
    let start = 0;
    while (start < this.#end) {
      const stop = this.#chunkEnd(start);
      let n = 0;
      try {
        n = writeSync(this.#fd, buf, start, stop - start);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
          this.#onError?.(err as NodeJS.ErrnoException, countLines(buf, start, stop));
          start = stop;
          continue;
        }
      }
      if (start + n < stop) {
        // The rest of this write goes asynchronously from its own copy; later lines move to the front and wait.
        this.#inFlight = Buffer.from(buf.subarray(start + n, stop));
        this.#inFlightLines = countLines(buf, start + n, stop);
        this.#inFlightFd = this.#fd;
        this.#end = buf.copy(buf, 0, stop, this.#end);
        write(this.#inFlightFd, this.#inFlight, 0, this.#inFlight.length, null, this.#writtenBound);
        return;
      }
      start = stop;
    }
    this.#end = 0;
    this.#settled();
  }

  #written(err: NodeJS.ErrnoException | null, n: number): void {
    const buf = this.#inFlight!;
    if (err !== null) {
      if (err.code === 'EAGAIN') {
        // A non-blocking pipe (stdout) that is full: give its reader a moment.
        setTimeout(() => write(this.#inFlightFd, buf, 0, buf.length, null, this.#writtenBound), 10);
        return;
      }
      this.#onError?.(err, this.#inFlightLines);
    } else if (n < buf.length) {
      this.#inFlight = buf.subarray(n);
      write(this.#inFlightFd, this.#inFlight, 0, this.#inFlight.length, null, this.#writtenBound);
      return;
    }
    this.#inFlight = undefined;
    this.#inFlightFd = -1;
    for (const fd of this.#retired.splice(0)) this.#close(fd);
    this.#render();
    // Someone waits in drain(): go on at once (the FLUSH_MS timer is unref'd).
    if (this.#end > 0) {
      if (this.#waiters.length > 0) this.#start();
      else this.#schedule();
    }
    else this.#settled();
  }

  #settled(): void {
    if (this.#waiters.length > 0) for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves once every line queued so far has been written (or failed). */
  drain(): Promise<void> {
    if (this.#inFlight === undefined) this.#render();
    if (this.#inFlight === undefined && this.#end === 0) return Promise.resolve();
    const drained = new Promise<void>((resolve) => this.#waiters.push(resolve));
    // Not after FLUSH_MS: that timer is unref'd, and a caller waiting on us may be all that is left.
    if (this.#inFlight === undefined) this.#start();
    return drained;
  }

  /**
   * Writes the queued lines now, synchronously (at exit). A write already in
   * flight is left to finish by itself: Node completes it before the process ends.
   */
  flushSync(): void {
    this.#render();
    let start = 0;
    let retries = 0;
    while (start < this.#end) {
      const stop = this.#chunkEnd(start);
      try {
        start += writeSync(this.#fd, this.#buf, start, stop - start);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && retries++ < 200) {
          sleepSync(5);
          continue;
        }
        break;
      }
    }
    this.#end = 0;
  }

  /**
   * Opens the file again by its name (logrotate moved it away): lines not yet
   * written go to the new file. A failure is reported, and the old file kept.
   */
  reopen(): void {
    if (this.file === '-') return;
    let fd: number;
    try {
      fd = openSync(this.file, 'a');
    } catch (err) {
      this.#onError?.(err as NodeJS.ErrnoException, 0);
      return;
    }
    const old = this.#fd;
    this.#fd = fd;
    this.#shared = !this.#isRegularFile(fd);
    if (this.#inFlight !== undefined && this.#inFlightFd === old) this.#retired.push(old);
    else this.#close(old);
  }

  /** Writes what is queued, synchronously, and closes the file. */
  closeSync(): void {
    this.flushSync();
    if (this.file !== '-') this.#close(this.#fd);
  }

  #close(fd: number): void {
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
  }

  #isRegularFile(fd: number): boolean {
    try {
      return fstatSync(fd).isFile();
    } catch {
      return false;
    }
  }
}
