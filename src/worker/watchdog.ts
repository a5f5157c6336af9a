/**
 * The worker's watchdog: when the event loop stays blocked, find out where.
 *
 * The master kills a worker whose heartbeat stops for `--timeout` seconds, but
 * by then nothing inside the worker can speak: its signal handlers, its IPC
 * channel and `process.report` all need the blocked loop. So the worker starts
 * a `worker_threads` thread that watches a beat the main thread stores into a
 * `SharedArrayBuffer` (one `Atomics.store` per interval, readable without the
 * main thread's help). When the beat is older than `stuckAfterMs`, the thread
 * pauses the main thread through the inspector (`Debugger.pause` interrupts
 * even `for (;;) {}`), takes its JavaScript stack, resumes it, and writes one
 * JSON record to the error log's fd and to a report file the master reads
 * when it kills the worker. If the loop turns again the report file is
 * withdrawn and the watchdog re-arms.
 *
 * @module
 */
import { fstatSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { BEAT_SEQ, BEAT_SLOTS, BEAT_TIME, watchdogThread, type ThreadData, type ThreadMessage } from './watchdog-thread.js';

export type { WatchdogFrame } from './watchdog-thread.js';

export interface WatchdogOptions {
  /** How long the event loop may stay blocked before the stack is captured (ms). */
  stuckAfterMs: number;
  /**
   * fd to write the report to (the error log's fd, default 2): one JSON line,
   * pino-compatible: `{"level":"error","time":ISO,"pid":...,...base,"msg":"worker event loop blocked",
   * "blocked_ms":N,"stack":"    at fn (file:line:col)\n...","frames":[{function,file,line,column}]}`.
   * When the loop turns again, a `warn` record `"worker event loop unblocked"` with the total `blocked_ms` follows.
   */
  fd?: number;
  /**
   * Also write the same report as JSON to this file path (the master reads it
   * when it kills the worker). Written atomically (temp file + rename), and
   * removed again when the loop turns after the report, or on `stop()`: a file
   * that exists describes a block that is still going on.
   */
  reportFile?: string;
  /**
   * A unix socket the thread listens on (mode 0600) for a stack taken on
   * demand: a client writes a line and reads one JSON record
   * (`{blocked_ms, capture_ms, stack, frames, capture_error?}`). The thread
   * answers while the event loop is blocked; the main thread is paused for
   * the capture only. Removed on `stop()`.
   */
  stackSocket?: string;
  /** Extra fields for the JSON record (worker_id...). */
  base?: Record<string, unknown>;
  /**
   * How long to wait for the main thread to pause (ms, default 1000). A thread
   * blocked outside JavaScript (a synchronous system call, a native addon)
   * cannot pause; the report then has no frames and says why in `capture_error`.
   */
  captureTimeoutMs?: number;
}

export interface Watchdog {
  /**
   * Settles once the thread listens for stacks on demand (or could not),
   * at once without {@link WatchdogOptions.stackSocket}: the worker reports
   * ready after it, so that what it holds open at ready stays so.
   */
  readonly stackSocket: Promise<void>;
  /** Stops the beat and the thread, and withdraws an outstanding report file. Idempotent. */
  stop(): Promise<void>;
  /**
   * Points the thread at a new fd, after the error log was reopened (USR1).
   * Until then the thread writes only while the old fd number still refers
   * to the file it had at start, so a reused number (a client's socket) is
   * never written to.
   */
  setFd(fd: number): void;
}

const MAX_FRAMES = 30;

/** uv's monotonic clock in ms, wrapped to int32; the thread reads the same clock. */
function nowMs(): number {
  return Number(process.hrtime.bigint() / 1000000n) | 0;
}

/**
 * The thread's program. The thread function travels as source text so that no
 * thread file has to be found next to this one: under tsx there is only a
 * `.ts`, in dist only a `.js`. tsx (esbuild `keepNames`) wraps functions in
 * `__name(fn, "name")` calls that only exist in the module's own scope, so a
 * no-op `__name` is provided; the compiled output does not use it.
 */
const THREAD_SOURCE = `'use strict';
const __name = (fn) => fn;
const { workerData, parentPort } = require('node:worker_threads');
(${watchdogThread.toString()})(workerData, {
  fs: require('node:fs'),
  inspector: require('node:inspector'),
  module: require('node:module'),
  url: require('node:url'),
  net: require('node:net'),
  parentPort,
});
`;

function failureRecord(base: Record<string, unknown>, err: unknown): string {
  return JSON.stringify({ level: 'warn', time: new Date().toISOString(), ...base, msg: 'watchdog thread failed', err: String(err) }) + '\n';
}

/**
 * Starts watching this thread's event loop. Call it in the worker after the
 * app has loaded (a slow import at boot is not a stuck loop), and `stop()` it
 * when the worker shuts down. Neither the beat nor the thread keeps the
 * process alive.
 */
export function startWatchdog(options: WatchdogOptions): Watchdog {
  const { stuckAfterMs } = options;
  if (!Number.isFinite(stuckAfterMs) || stuckAfterMs < 10) {
    throw new RangeError(`watchdog: stuckAfterMs must be a number of ms >= 10, got ${String(stuckAfterMs)}`);
  }
  const captureTimeoutMs = options.captureTimeoutMs ?? 1000;
  if (!Number.isFinite(captureTimeoutMs) || captureTimeoutMs <= 0) {
    throw new RangeError(`watchdog: captureTimeoutMs must be a positive number of ms, got ${String(captureTimeoutMs)}`);
  }
  let fd = options.fd ?? 2;
  // structured clone would reject functions; JSON keeps exactly what a log record can hold.
  const base: Record<string, unknown> = { pid: process.pid, ...(JSON.parse(JSON.stringify(options.base ?? {})) as Record<string, unknown>) };

  const beat = new Int32Array(new SharedArrayBuffer(BEAT_SLOTS * Int32Array.BYTES_PER_ELEMENT));
  const tick = (): void => {
    Atomics.store(beat, BEAT_TIME, nowMs());
    Atomics.add(beat, BEAT_SEQ, 1);
  };
  tick();
  // A quarter of the threshold keeps the measured age within 25% of the real
  // block; more than 4 beats a second would be overhead for nothing.
  const beatMs = Math.max(1, Math.min(250, Math.floor(stuckAfterMs / 4)));
  const beatTimer = setInterval(tick, beatMs);
  beatTimer.unref();

  const data: ThreadData = {
    beat: beat.buffer as SharedArrayBuffer,
    stuckAfterMs,
    pollMs: Math.max(1, Math.min(100, Math.floor(stuckAfterMs / 5))),
    captureTimeoutMs,
    maxFrames: MAX_FRAMES,
    fd,
    fdIdentity: fileIdentity(fd),
    reportFile: options.reportFile,
    stackSocket: options.stackSocket,
    base,
  };
  const thread = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: data,
    // Not the process's flags: `--import tsx` or a preload would load into the thread for nothing.
    execArgv: [],
    // Small young generation and heap: the thread only polls and, once, pauses the main thread.
    resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 1, stackSizeMb: 1 },
  });
  thread.unref();
  const stackSocket = options.stackSocket === undefined
    ? Promise.resolve()
    : new Promise<void>((resolve) => {
      const onMessage = (m: { type?: string }) => {
        if (m?.type !== 'stack-socket') return;
        thread.off('message', onMessage);
        resolve();
      };
      thread.on('message', onMessage);
      thread.once('exit', () => resolve());
    });
  const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
  // An 'error' event with no listener would crash the worker the thread is there to help.
  thread.on('error', (err) => {
    try {
      writeSync(fd, failureRecord(base, err));
    } catch {
      // The log is gone too; nothing else to tell.
    }
  });

  let stopping: Promise<void> | undefined;
  return {
    stackSocket,
    setFd(next: number): void {
      fd = next;
      if (stopping === undefined) thread.postMessage({ type: 'fd', fd: next, identity: fileIdentity(next) } satisfies ThreadMessage);
    },
    stop(): Promise<void> {
      if (stopping !== undefined) return stopping;
      clearInterval(beatTimer);
      // Held open until the thread has withdrawn its report file, at most one grace period.
      thread.ref();
      thread.postMessage({ type: 'stop' } satisfies ThreadMessage);
      stopping = (async () => {
        // The thread ends by itself once its port closes; terminate() is the fallback if it is wedged.
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), 1000);
        });
        const outcome = await Promise.race([exited.then(() => 'ok' as const), grace]);
        clearTimeout(timer);
        if (outcome === 'late') await thread.terminate();
      })();
      return stopping;
    },
  };
}

/** The file an fd refers to (`dev:ino`), so that a closed-and-reused fd number is not mistaken for the log. */
function fileIdentity(fd: number): string | undefined {
  try {
    const st = fstatSync(fd);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}
