/**
 * The body of the watchdog thread (see `watchdog.ts`). It runs in a
 * `worker_threads` thread of a gwserver worker, watches the main thread's
 * beat, and when the beat is older than `stuckAfterMs` it pauses the main
 * thread through the inspector, takes the JavaScript stack, resumes it and
 * writes one JSON report.
 *
 * `watchdogThread` is shipped to the thread as source text
 * (`watchdogThread.toString()`, run with `eval: true`), so the same code works
 * from `src/` under tsx and from the compiled `dist/`, with no thread file to
 * locate at runtime. That is why it must stay self-contained: it may not use
 * anything from this module's scope or any import; every module it needs
 * comes in through `deps`, and every helper is declared inside it.
 *
 * @module
 */
import type * as FsModule from 'node:fs';
import type * as InspectorModule from 'node:inspector';
import type * as NodeModule from 'node:module';
import type * as NetModule from 'node:net';
import type * as UrlModule from 'node:url';
import type { MessagePort } from 'node:worker_threads';

/** Indexes into the shared `Int32Array` the main thread beats into. */
export const BEAT_TIME = 0;
export const BEAT_SEQ = 1;
/** Length of the shared `Int32Array`. */
export const BEAT_SLOTS = 2;

/** What the main thread hands to the thread (structured-cloned as `workerData`). */
export interface ThreadData {
  /** `Int32Array(BEAT_SLOTS)` view: `[BEAT_TIME]` = monotonic ms of the last beat (int32, wraps), `[BEAT_SEQ]` = beat count. */
  beat: SharedArrayBuffer;
  stuckAfterMs: number;
  /** How often the thread reads the beat (ms). */
  pollMs: number;
  /** How long to wait for the main thread to pause before reporting without a stack (ms). */
  captureTimeoutMs: number;
  maxFrames: number;
  fd: number;
  /**
   * The file `fd` refers to (`dev:ino`), taken by the main thread when it
   * hands the fd over: the thread starts later, by which time a log reopen
   * may have given the number to another file.
   */
  fdIdentity: string | undefined;
  reportFile: string | undefined;
  /** A unix socket to take a stack on demand on (a line in, one JSON record out); undefined: none. */
  stackSocket?: string | undefined;
  /** `{pid, ...base}`, already JSON-safe. */
  base: Record<string, unknown>;
}

/** Node modules the thread uses, passed in because the thread source cannot import. */
export interface ThreadDeps {
  fs: typeof FsModule;
  inspector: typeof InspectorModule;
  module: typeof NodeModule;
  url: typeof UrlModule;
  /** For {@link ThreadData.stackSocket}. */
  net?: typeof NetModule;
  parentPort: MessagePort | null;
}

/** Messages from the main thread. */
export type ThreadMessage = { type: 'stop' } | { type: 'fd'; fd: number; identity: string | undefined };

/** One frame of the report. Lines and columns are 1-based, like an Error stack. */
export interface WatchdogFrame {
  function: string;
  file: string;
  line: number;
  column: number;
}

/** Runs the watchdog in the current thread until a `stop` message arrives. */
export function watchdogThread(data: ThreadData, deps: ThreadDeps): void {
  const { fs, inspector, parentPort } = deps;
  const beat = new Int32Array(data.beat);
  let fd = data.fd;

  /** Same clock as the main thread's beat: uv's monotonic hrtime, in ms, wrapped to int32. */
  const nowMs = (): number => Number(process.hrtime.bigint() / 1000000n) | 0;
  /** Age of the last beat; the int32 subtraction is right across the wrap. */
  const beatAge = (): number => (nowMs() - Atomics.load(beat, 0)) | 0;

  /** The file an fd refers to, so a closed-and-reused fd number is not mistaken for the log. */
  const identify = (f: number): string | undefined => {
    try {
      const st = fs.fstatSync(f);
      return `${st.dev}:${st.ino}`;
    } catch {
      return undefined;
    }
  };
  let fdIdentity = data.fdIdentity;

  /** Writes a whole line to the error log. The thread cannot use console: its output is relayed by the (blocked) main thread. */
  const writeLine = (line: string): void => {
    // The main thread may have reopened the log (USR1) without telling us, and
    // the old number may now be a client's socket: write only to the same file.
    if (identify(fd) !== fdIdentity) return;
    const buf = Buffer.from(line + '\n');
    let off = 0;
    let retries = 0;
    while (off < buf.length) {
      try {
        off += fs.writeSync(fd, buf, off, buf.length - off);
      } catch (err) {
        // A pipe set to non-blocking by someone else: wait a little for the reader.
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && retries++ < 100) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
          continue;
        }
        return; // Nowhere left to report to; the master will still kill the worker.
      }
    }
  };

  const record = (level: string, msg: string, fields: Record<string, unknown>): Record<string, unknown> => ({
    level,
    time: new Date().toISOString(),
    ...data.base,
    msg,
    ...fields,
  });

  /** Written with a rename so the master never reads half a report. */
  const writeReportFile = (rec: Record<string, unknown>): void => {
    if (data.reportFile === undefined) return;
    const tmp = `${data.reportFile}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify(rec) + '\n');
      fs.renameSync(tmp, data.reportFile);
    } catch (err) {
      writeLine(JSON.stringify(record('warn', 'watchdog could not write its report file', { report_file: data.reportFile, err: String(err) })));
    }
  };

  const removeReportFile = (): void => {
    if (data.reportFile === undefined) return;
    try {
      fs.unlinkSync(data.reportFile);
    } catch {
      // Already gone (or never written): nothing to withdraw.
    }
  };

  interface ScriptInfo {
    url: string;
    sourceMapURL: string;
  }
  interface LoadedMap {
    map: InstanceType<typeof NodeModule.SourceMap>;
    base: string;
  }
  const mapCache = new Map<string, LoadedMap | null>();

  /** The script's source map, if it names one (inline `data:` or a file next to it). */
  const loadMap = (script: ScriptInfo): LoadedMap | null => {
    const key = `${script.url}\0${script.sourceMapURL}`;
    const cached = mapCache.get(key);
    if (cached !== undefined) return cached;
    let loaded: LoadedMap | null = null;
    try {
      const ref = script.sourceMapURL;
      let payload: string | undefined;
      let base = script.url;
      if (ref.startsWith('data:')) {
        const comma = ref.indexOf(',');
        const head = ref.slice(5, comma);
        const body = ref.slice(comma + 1);
        payload = head.endsWith(';base64') ? Buffer.from(body, 'base64').toString('utf8') : decodeURIComponent(body);
      } else if (ref !== '' && script.url.startsWith('file:')) {
        const mapUrl = new URL(ref, script.url);
        if (mapUrl.protocol === 'file:') {
          payload = fs.readFileSync(deps.url.fileURLToPath(mapUrl), 'utf8');
          base = mapUrl.href;
        }
      }
      if (payload !== undefined) loaded = { map: new deps.module.SourceMap(JSON.parse(payload)), base };
    } catch {
      loaded = null; // A broken map: report the generated position instead.
    }
    mapCache.set(key, loaded);
    return loaded;
  };

  /** `file:` URLs become paths; `node:` and other URLs stay as they are. */
  const toFile = (url: string): string => {
    if (url === '') return '<anonymous>';
    if (url.startsWith('file:')) {
      try {
        return deps.url.fileURLToPath(url);
      } catch {
        return url;
      }
    }
    return url;
  };

  const toFrame = (cf: InspectorModule.Debugger.CallFrame, scripts: Map<string, ScriptInfo>): WatchdogFrame => {
    const script = scripts.get(cf.location.scriptId);
    const url = script?.url || cf.url || '';
    const line0 = cf.location.lineNumber;
    const col0 = cf.location.columnNumber ?? 0;
    const frame: WatchdogFrame = { function: cf.functionName || '<anonymous>', file: toFile(url), line: line0 + 1, column: col0 + 1 };
    if (script !== undefined && script.sourceMapURL) {
      const loaded = loadMap(script);
      const entry = loaded?.map.findEntry(line0, col0) as Partial<NodeModule.SourceMapping> | undefined;
      if (loaded && entry && typeof entry.originalSource === 'string' && typeof entry.originalLine === 'number') {
        let original = entry.originalSource;
        try {
          original = new URL(entry.originalSource, loaded.base).href;
        } catch {
          // Not resolvable as a URL: keep the name the map gives.
        }
        frame.file = toFile(original);
        frame.line = entry.originalLine + 1;
        frame.column = (entry.originalColumn ?? 0) + 1;
      }
    }
    return frame;
  };

  const formatStack = (frames: WatchdogFrame[]): string =>
    frames.map((f) => `    at ${f.function} (${f.file}:${f.line}:${f.column})`).join('\n');

  type Phase = 'watching' | 'capturing' | 'reported';
  let phase: Phase = 'watching';
  let stopped = false;
  /** Beat count when the current episode was detected; a different count means the loop turned since. */
  let episodeSeq = 0;
  /** Time of the last beat before the episode (for the recovery record). */
  let episodeBeatTime = 0;
  let session: InspectorModule.Session | undefined;

  const closeSession = (): void => {
    const s = session;
    session = undefined;
    if (s === undefined) return;
    try {
      s.disconnect();
    } catch {
      // Already disconnected.
    }
  };

  /** The loop turned after an episode: withdraw the report and say how long it lasted. */
  const recover = (): void => {
    const blockedMs = (Atomics.load(beat, 0) - episodeBeatTime) | 0;
    if (phase === 'reported') {
      removeReportFile();
      writeLine(JSON.stringify(record('warn', 'worker event loop unblocked', { blocked_ms: blockedMs })));
    }
    phase = 'watching';
  };

  const finishCapture = (frames: WatchdogFrame[] | null, problem: string | undefined, pausedAt: number): void => {
    if (stopped) return;
    if (frames !== null && Atomics.load(beat, 1) !== episodeSeq) {
      // The loop recovered before the pause landed: the stack would show
      // whatever ran next, not the code that blocked. Report nothing.
      phase = 'watching';
      return;
    }
    const fields: Record<string, unknown> = {
      blocked_ms: pausedAt,
      stack: frames === null ? '' : formatStack(frames),
      frames: frames ?? [],
    };
    if (problem !== undefined) fields.capture_error = problem;
    const rec = record('error', 'worker event loop blocked', fields);
    writeReportFile(rec);
    writeLine(JSON.stringify(rec));
    phase = 'reported';
    // The loop may have turned while we were writing.
    if (Atomics.load(beat, 1) !== episodeSeq) recover();
  };

  /**
   * Pauses the main thread through the inspector, takes its call frames and
   * resumes it at once (the frames are mapped afterwards). `track`: the
   * session is the episode's (`session`, closed on stop). `onDone` gets the
   * frames, or null and why none were taken, and the beat's age at the pause.
   */
  const takeStack = (track: boolean, onDone: (frames: WatchdogFrame[] | null, problem: string | undefined, age: number) => void): void => {
    const scripts = new Map<string, ScriptInfo>();
    let done = false;
    let s: InspectorModule.Session | undefined;
    const close = (): void => {
      if (track) closeSession();
      else {
        try {
          s?.disconnect();
        } catch {
          // Already disconnected.
        }
      }
    };
    const fail = (problem: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      close();
      onDone(null, problem, beatAge());
    };
    const timer = setTimeout(() => {
      fail(`no JavaScript frame within ${data.captureTimeoutMs} ms: the main thread is blocked outside JavaScript (a native call or a synchronous system call)`);
    }, data.captureTimeoutMs);
    try {
      s = new inspector.Session();
      s.connectToMainThread();
      if (track) session = s;
    } catch (err) {
      fail(`inspector unavailable: ${String(err)}`);
      return;
    }
    const ss = s;
    ss.on('Debugger.scriptParsed', (m) => {
      scripts.set(m.params.scriptId, { url: m.params.url, sourceMapURL: m.params.sourceMapURL ?? '' });
    });
    ss.once('Debugger.paused', (m) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const age = beatAge();
      const callFrames = m.params.callFrames.slice(0, data.maxFrames);
      // Let the main thread go first; the frames are plain data, mapping them can wait.
      ss.post('Debugger.resume', () => {
        ss.post('Debugger.disable', () => {
          if (!track) close();
          else if (session === ss) closeSession();
        });
      });
      let frames: WatchdogFrame[];
      try {
        frames = callFrames.map((cf) => toFrame(cf, scripts));
      } catch (err) {
        onDone(null, `could not read the call frames: ${String(err)}`, age);
        return;
      }
      onDone(frames, undefined, age);
    });
    ss.post('Debugger.enable', (err) => {
      if (err) {
        fail(`Debugger.enable failed: ${err.message}`);
        return;
      }
      if (done) return;
      ss.post('Debugger.pause', (err2) => {
        if (err2) fail(`Debugger.pause failed: ${err2.message}`);
      });
    });
  };

  const capture = (): void => {
    phase = 'capturing';
    episodeSeq = Atomics.load(beat, 1);
    episodeBeatTime = Atomics.load(beat, 0);
    takeStack(true, (frames, problem, age) => finishCapture(frames, problem, age));
  };

  /** A stack asked for (gwserverctl stack) is being taken: the stuck-loop capture waits for it. */
  let onDemand = false;
  let stackServer: { close(): void } | undefined;
  if (data.stackSocket !== undefined && deps.net !== undefined) {
    const file = data.stackSocket;
    try {
      fs.unlinkSync(file);
    } catch {
      // None left over.
    }
    const srv = deps.net.createServer((c) => {
      c.setTimeout(5000, () => c.destroy());
      c.on('error', () => undefined);
      c.once('data', () => {
        if (onDemand || phase === 'capturing' || stopped) {
          c.end(JSON.stringify({ capture_error: 'a capture is already under way: try again' }) + '\n');
          return;
        }
        onDemand = true;
        const t0 = nowMs();
        takeStack(false, (frames, problem, age) => {
          onDemand = false;
          const rec: Record<string, unknown> = { blocked_ms: age, capture_ms: (nowMs() - t0) | 0, stack: frames === null ? '' : formatStack(frames), frames: frames ?? [] };
          if (problem !== undefined) rec.capture_error = problem;
          c.end(JSON.stringify(rec) + '\n');
        });
      });
    });
    srv.on('error', (err) => {
      writeLine(JSON.stringify(record('warn', 'watchdog: cannot listen for stacks on demand', { stack_socket: file, err: String(err) })));
      parentPort?.postMessage({ type: 'stack-socket' });
    });
    srv.listen(file, () => {
      try {
        // Only the master's user (and root): a stack tells what the code does.
        fs.chmodSync(file, 0o600);
      } catch {
        // Gone already: the worker is stopping.
      }
      // The worker reports ready after this: its open files are then those it serves with.
      parentPort?.postMessage({ type: 'stack-socket' });
    });
    stackServer = {
      close: () => {
        srv.close();
        try {
          fs.unlinkSync(file);
        } catch {
          // Already gone.
        }
      },
    };
  }

  const poll = (): void => {
    if (stopped) return;
    const seq = Atomics.load(beat, 1);
    if (phase === 'reported') {
      if (seq !== episodeSeq) recover();
      return;
    }
    if (phase === 'watching' && !onDemand && beatAge() >= data.stuckAfterMs) capture();
  };

  // This timer is what keeps the thread alive: an inspector session's port does not.
  const interval = setInterval(poll, data.pollMs);

  parentPort?.on('message', (msg: ThreadMessage) => {
    if (msg.type === 'fd') {
      fd = msg.fd;
      fdIdentity = msg.identity;
    } else if (msg.type === 'stop') {
      stopped = true;
      clearInterval(interval);
      closeSession();
      stackServer?.close();
      // stop() runs on a turning loop, so an outstanding report is stale.
      if (phase === 'reported') removeReportFile();
      parentPort.close();
    }
  });
}
