/**
 * An append-only log file written off the request path: lines are queued,
 * and written together by one write within FLUSH_MS (at once when
 * BATCH_CHARS wait). The cost on the request path is an array push; the
 * lines are copied into one reused buffer as byte strings.
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
  /** Lines queued beyond this many characters are dropped and counted (a disk that cannot keep up must not fill the memory). Default 16 MiB. */
  maxPending?: number;
}

/** How long a line may wait for others to share its write (ms). */
const FLUSH_MS = 20;
/** Characters queued that make a write start at once. */
const BATCH_CHARS = 64 * 1024;

/** A pipe or socket takes at most this much in one atomic write (PIPE_BUF): several workers share stdout. */
const ATOMIC_WRITE = 4096;

/** Waits synchronously (at exit only). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** See the module comment. */
export class CoalescingWriter {
  readonly file: string;
  #fd: number;
  /** Whether writes must stay whole lines of at most ATOMIC_WRITE bytes (not a regular file). */
  #shared: boolean;
  #pending: string[] = [];
  /** The buffer writes are encoded into (grown as needed, never shrunk). */
  #out: Buffer = Buffer.alloc(0);
  #pendingChars = 0;
  #maxPending: number;
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  /** The write in flight: its bytes, how many lines, and the fd it goes to (the old one during a reopen). */
  #inFlight: Buffer | undefined;
  #inFlightLines = 0;
  #inFlightFd = -1;
  /** Fds replaced by a reopen while a write on them was in flight: closed when it ends. */
  #retired: number[] = [];
  #taken = 0;
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
    if (this.#pendingChars > this.#maxPending) {
      this.#dropped++;
      return;
    }
    this.#pending.push(line);
    this.#pendingChars += line.length;
    if (this.#inFlight === undefined) this.#schedule();
  }

  /**
   * Encodes the queued lines that go out in one write; #taken says how
   * many. `reuse`: into the writer's own buffer (nothing may be in flight),
   * so that a busy worker does not allocate, fault in and collect a large
   * buffer for every write: joining the lines into one string and
   * Buffer.from() of it measured about 2 µs per line here, mostly that.
   */
  #take(reuse: boolean): Buffer {
    const pending = this.#pending;
    // One byte a character (byte strings, see write()).
    const worst = this.#pendingChars;
    let out: Buffer;
    if (reuse) {
      if (this.#out.length < worst) this.#out = Buffer.allocUnsafeSlow(Math.max(worst, 2 * this.#out.length, 64 * 1024));
      out = this.#out;
    } else {
      out = Buffer.allocUnsafe(worst);
    }
    let off = 0;
    let n = 0;
    let chars = 0;
    while (n < pending.length) {
      const line = pending[n]!;
      const w = out.write(line, off, 'latin1');
      // Shared (a pipe): whole lines up to ATOMIC_WRITE bytes, so that another worker's lines never land inside one of ours.
      if (this.#shared && n > 0 && off + w > ATOMIC_WRITE) break;
      off += w;
      chars += line.length;
      n++;
    }
    if (n === pending.length) this.#pending = [];
    else pending.splice(0, n);
    this.#pendingChars -= chars;
    this.#taken = n;
    return out.subarray(0, off);
  }

  /**
   * Starts the next write soon: at once when a batch is full, otherwise
   * after FLUSH_MS, so that a busy worker makes a few large writes a second
   * rather than one per event-loop turn (each write is a trip through
   * libuv's thread pool: several µs, which per request was most of the
   * access log's cost).
   */
  #schedule(): void {
    if (this.#pendingChars >= BATCH_CHARS) {
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
   * BATCH_CHARS), into the page cache or a pipe. A trip through libuv's
   * thread pool per batch measured costlier than the write itself (on a
   * 2-core VM, hello world with the access log: +5.3 µs of CPU a request
   * asynchronously, +3.7 synchronously, to a file; to a pipe, in 4 KiB
   * chunks, +10.6 against +2.7). A pipe gets whole lines of at most
   * ATOMIC_WRITE bytes per write. When a non-blocking pipe is full (EAGAIN,
   * or a part written) the rest goes the asynchronous way, in order; a
   * blocking one makes the write wait for its reader, as gunicorn's would.
   */
  #writeNow(): void {
    while (this.#pending.length > 0) {
      const buf = this.#take(true);
      let n = 0;
      try {
        n = writeSync(this.#fd, buf, 0, buf.length);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
          this.#onError?.(err as NodeJS.ErrnoException, this.#taken);
          continue;
        }
      }
      if (n < buf.length) {
        this.#inFlight = buf.subarray(n);
        this.#inFlightLines = this.#taken;
        this.#inFlightFd = this.#fd;
        write(this.#inFlightFd, this.#inFlight, 0, this.#inFlight.length, null, this.#writtenBound);
        return;
      }
    }
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
    // Someone waits in drain(): go on at once (the FLUSH_MS timer is unref'd).
    if (this.#pending.length > 0) {
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
    if (this.#inFlight === undefined && this.#pending.length === 0) return Promise.resolve();
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
    while (this.#pending.length > 0) {
      // A write may still be in flight from the writer's own buffer: not that one.
      const buf = this.#take(false);
      let off = 0;
      let retries = 0;
      while (off < buf.length) {
        try {
          off += writeSync(this.#fd, buf, off, buf.length - off);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && retries++ < 200) {
            sleepSync(5);
            continue;
          }
          return;
        }
      }
    }
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
