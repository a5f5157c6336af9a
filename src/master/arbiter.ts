/**
 * The master: owns the sockets, pre-forks workers through node:cluster,
 * keeps their number right, replaces the dead, kills the stuck, recycles the
 * tired, and reacts to signals as gunicorn's arbiter does.
 *
 * Signal handlers only enqueue; one dispatcher runs `handle<SIG>` in order,
 * then reap -> murder -> manage (gunicorn's arbiter loop). The workers'
 * messages (src/ipc/protocol.ts) come through one listener that hands each
 * to the handlers of its act (src/master/channel.ts). The master never
 * loads the gateway (unless --preload) and never serves the app; its only
 * HTTP is the metrics and health endpoint on --metrics-bind
 * (src/master/metrics-endpoint.ts). The pid file: src/master/pidfile.ts.
 *
 * @module
 */
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/settings.js';
import { EXIT } from '../ipc/exit-codes.js';
import { heartbeatInterval, type WorkerMessage, type WorkerSpec, type WorkerState } from '../ipc/protocol.js';
import { reopenLogs, type Logger } from '../logging/logger.js';
import { MasterChannel } from './channel.js';
import { closeAll, type ListenSocket } from './sockets.js';
import { MasterUpgrade } from './reexec.js';
import type { RestartReason } from '../metrics/master.js';
import { MetricsEndpoint } from './metrics-endpoint.js';
import { PidFile } from './pidfile.js';
import { RoundRobin } from './round-robin.js';
import { watchSources } from './reloader.js';
import { resolveModule } from '../loader/resolve-module.js';
import { parseTarget } from '../loader/parse-target.js';

/** Why a worker was (or is being) stopped. */
export type ExitReason = 'timeout' | 'memory' | 'max-requests' | 'reload' | 'shutdown' | 'scale-down' | 'boot-failure';

/** The settings the master runs with (every setting: the registry declares the container's too). */
export type MasterConfig = Readonly<Config>;

interface WorkerInfo {
  id: number;
  worker: Worker;
  pid: number;
  state: WorkerState;
  generation: number;
  bootedAt: number;
  lastBeat: number;
  requests: number;
  /** Set when the worker is to be replaced (a replacement boots first). */
  retiring?: ExitReason;
  /** Why the master stopped it, for the exit log. */
  reason?: ExitReason;
  bootError?: { kind: string; message: string };
  killTimer?: NodeJS.Timeout;
  reportFile: string;
}

export interface ArbiterOptions {
  target: string;
  config: MasterConfig;
  configFile?: string;
  /** The config file's text as read (see src/config/snapshot.ts). */
  configSource?: string;
  logger: Logger;
  /** The directory gwserver started in. */
  cwd: string;
  /** Re-reads the configuration (HUP). Throws with a one-line message when it is invalid. */
  reloadConfig?: () => Promise<{ target: string; config: MasterConfig; configFile?: string; configSource?: string }>;
  /** How gwserver was started, so that workers can load the config file's hooks. */
  invocation?: { argv: readonly string[]; env: NodeJS.ProcessEnv; cwd: string };
  /** READY/RELOADING/STOPPING to systemd. */
  notify?: { ready(status?: string): Promise<void>; reloading(): Promise<void>; stopping(): Promise<void>; status(text: string): Promise<void> };
}

const WORKER_ENTRY = fileURLToPath(new URL('../worker/entry.js', import.meta.url));
const SIGNALS = ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGTTIN', 'SIGTTOU', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;
type Sig = (typeof SIGNALS)[number];

function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** gunicorn's jitter: each worker gets maxRequests + a random 0..jitter. */
function jittered(max: number, jitter: number): number {
  if (max <= 0) return 0;
  return max + (jitter > 0 ? Math.floor(Math.random() * (jitter + 1)) : 0);
}

export class Arbiter {
  #o: ArbiterOptions;
  #config: MasterConfig;
  #target: string;
  #log: Logger;
  #workers = new Map<number, WorkerInfo>();
  /** The record of each forked worker, kept after its exit: its last messages (a final metrics snapshot) may come after 'exit'. */
  #records = new WeakMap<Worker, WorkerInfo>();
  /** The workers' messages, by act: the arbiter's handlers come first (see src/master/channel.ts). */
  #channel = new MasterChannel();
  #lastId = 0;
  #generation = 1;
  #numWorkers: number;
  #queue: Sig[] = [];
  #dispatching = false;
  #stopping = false;
  #booted = false;
  #bootFailures = 0;
  #nextSpawnAt = 0;
  #tick: NodeJS.Timeout | undefined;
  #exitCode: number = EXIT.OK;
  #done!: (code: number) => void;
  #readyWaiters: Array<() => void> = [];
  #reloadStarted = 0;
  #sockets: ListenSocket[] = [];
  /** The sockets are open: supervision may start. */
  #opened = false;
  readonly #pidfile = new PidFile();
  /** Workers whose preFork hook is running (not forked yet). */
  #forking = 0;
  /** Set with --scheduling round-robin: the master accepts and hands connections to the workers. */
  #rr: RoundRobin | undefined;
  #unwatch: (() => void) | undefined;
  #upgrade = new MasterUpgrade();
  /** --metrics-bind (undefined: off). */
  #metrics: MetricsEndpoint | undefined;
  /** The metrics settings as started: a HUP cannot change them (mixed histogram buckets would not add up). */
  readonly #metricsSettings: { metricsBind: string; metricsBuckets: number[] };

  constructor(options: ArbiterOptions) {
    this.#o = options;
    this.#config = options.config;
    this.#target = options.target;
    this.#log = options.logger;
    this.#numWorkers = options.config.workers;
    this.#metricsSettings = { metricsBind: options.config.metricsBind, metricsBuckets: options.config.metricsBuckets };
    this.#onWorker('gwserver:ready', (w) => this.#ready(w));
    this.#onWorker('gwserver:heartbeat', (w, m) => {
      w.lastBeat = Date.now();
      w.requests = m.requests;
    });
    this.#onWorker('gwserver:retire', (w, m) => {
      w.requests = m.requests;
      this.#replace(w, m.reason);
    });
    this.#onWorker('gwserver:boot-error', (w, m) => {
      w.bootError = { kind: m.kind, message: m.message };
    });
  }

  /** Handles the messages of `act` from this master's workers. */
  #onWorker<A extends WorkerMessage['act']>(act: A, handler: (w: WorkerInfo, m: Extract<WorkerMessage, { act: A }>) => void): void {
    this.#channel.on(act, (m, worker) => {
      const w = this.#records.get(worker);
      if (w !== undefined) handler(w, m);
    });
  }

  /** The name in process titles: --name, else the app. */
  get #name(): string {
    return this.#config.procName || this.#target;
  }

  /**
   * Opens the sockets (with `openSockets`), boots the workers and supervises
   * them; resolves with the exit code when the master stops. A
   * {@link BindError} from `openSockets` rejects, before anything else ran.
   */
  async run(openSockets: () => Promise<ListenSocket[]>): Promise<number> {
    const finished = new Promise<number>((resolve) => (this.#done = resolve));
    process.title = `gwserver: master [${this.#name}]`;
    // First of all: a signal during onStarting or the bind must not kill the
    // master (HUP, USR2) or open the inspector (USR1). It waits in the queue.
    for (const sig of SIGNALS) {
      process.on(sig, () => {
        this.#queue.push(sig);
        this.#wake();
      });
    }
    await this.#hook('onStarting', this);
    this.#metrics = await MetricsEndpoint.prepare(this.#config);
    this.#sockets = await openSockets();
    if (this.#metrics !== undefined) {
      try {
        await this.#metrics.start({
          log: this.#log,
          channel: this.#channel,
          workers: () => this.#workers.values(),
          target: () => this.#numWorkers,
          idOf: (worker) => this.#records.get(worker)?.id,
          ready: () => !this.#stopping && [...this.#workers.values()].some((w) => w.state === 'ready'),
        });
      } catch (err) {
        await closeAll(this.#sockets);
        throw err;
      }
    }
    this.#opened = true;
    this.#channel.open();
    if (this.#config.scheduling === 'round-robin') {
      this.#rr = new RoundRobin(this.#sockets, { logger: this.#log, channel: this.#channel, backlog: this.#config.backlog, workers: () => this.#workers.values(), timeout: () => this.#config.timeout });
    }
    this.#pidfile.write(this.#config.pidfile);
    this.#wake();
    this.#log.info({ workers: this.#numWorkers, target: this.#target }, `starting gwserver master (${this.#numWorkers} worker${this.#numWorkers === 1 ? '' : 's'})`);
    void this.#hook('nworkersChanged', this, this.#numWorkers, undefined);
    if (this.#config.reload) await this.#watch();
    void this.#boot();
    return finished;
  }

  async #boot(): Promise<void> {
    this.#manage();
    await this.#waitReady();
    if (this.#stopping) return;
    this.#booted = true;
    for (const s of this.#sockets) this.#log.info({ address: s.address }, 'listening');
    // A re-executed master serves the inherited metrics socket only now, so that a probe never
    // reaches a master without workers while the old one still serves; the old one closes its own once told we are ready.
    await this.#metrics?.serveInherited();
    this.#tick = setInterval(() => this.#wake(), 250);
    await this.#o.notify?.ready(this.#status());
    await this.#hook('whenReady', this);
  }

  /** --reload: reload the workers when a source file of the app changes. */
  async #watch(): Promise<void> {
    let dir: string;
    try {
      dir = path.dirname(await resolveModule(parseTarget(this.#target).module, process.cwd()));
    } catch {
      dir = process.cwd();
    }
    this.#unwatch = watchSources(dir, (file) => {
      this.#log.info({ file }, `${path.relative(dir, file)} changed: reloading the workers`);
      void this.reload();
    });
    this.#log.info({ dir }, `--reload: watching ${dir} for source changes`);
  }

  #status(): string {
    const ready = [...this.#workers.values()].filter((w) => w.state === 'ready').length;
    return `${ready} worker${ready === 1 ? '' : 's'} serving ${this.#sockets.map((s) => s.address).join(', ')}`;
  }

  /** Resolves when the current generation has its full number of ready workers. */
  #waitReady(): Promise<void> {
    if (this.#currentReady() >= this.#numWorkers) return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  #currentReady(): number {
    let n = 0;
    for (const w of this.#workers.values()) if (w.generation === this.#generation && w.state === 'ready' && !w.retiring) n++;
    return n;
  }

  #wake(): void {
    if (this.#dispatching) return;
    this.#dispatching = true;
    setImmediate(() => {
      this.#dispatching = false;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    // Before the sockets are open there is nothing to supervise: signals wait.
    if (!this.#opened) return;
    let sig: Sig | undefined;
    while ((sig = this.#queue.shift()) !== undefined) this.#handle(sig);
    if (this.#stopping) return;
    this.#murder();
    this.#manage();
  }

  #handle(sig: Sig): void {
    this.#log.info({ signal: sig }, `handling ${sig}`);
    switch (sig) {
      case 'SIGTERM':
        void this.stop(true);
        break;
      case 'SIGINT':
      case 'SIGQUIT':
        void this.stop(false);
        break;
      case 'SIGHUP':
        void this.reload();
        break;
      case 'SIGTTIN':
        this.#setWorkers(this.#numWorkers + 1);
        break;
      case 'SIGTTOU':
        if (this.#numWorkers > 1) this.#setWorkers(this.#numWorkers - 1);
        else this.#log.info(`SIGTTOU: already at ${this.#numWorkers} worker${this.#numWorkers === 1 ? '' : 's'}`);
        break;
      case 'SIGUSR1':
        reopenLogs();
        for (const w of this.#workers.values()) w.worker.process.kill('SIGUSR1');
        this.#log.info('log files reopened');
        break;
      case 'SIGUSR2':
        void this.#reexec();
        break;
      case 'SIGWINCH':
        // A terminal resize sends WINCH too: only a detached master obeys it (as gunicorn, which only does when daemonized).
        if (process.stdin.isTTY || process.stdout.isTTY) {
          this.#log.info('SIGWINCH ignored: gwserver runs in a terminal');
        } else {
          this.#log.info('SIGWINCH: stopping all workers gracefully (the master keeps the sockets)');
          this.#setWorkers(0);
        }
        break;
    }
  }

  #setWorkers(n: number): void {
    const old = this.#numWorkers;
    this.#numWorkers = n;
    this.#log.info({ workers: n, previous: old }, `number of workers: ${old} -> ${n}`);
    void this.#hook('nworkersChanged', this, n, old);
  }

  // ---- workers ----------------------------------------------------------

  /** Keeps the number of workers right: spawn what is missing (with backoff), stop what is extra. */
  #manage(): void {
    if (this.#stopping) return;
    const active = [...this.#workers.values()].filter((w) => w.generation === this.#generation && !w.retiring && w.state !== 'stopping');
    if (active.length + this.#forking < this.#numWorkers) {
      const now = Date.now();
      if (now < this.#nextSpawnAt) {
        setTimeout(() => this.#wake(), this.#nextSpawnAt - now).unref();
        return;
      }
      for (let i = active.length + this.#forking; i < this.#numWorkers; i++) void this.#spawn();
    } else if (active.length > this.#numWorkers) {
      // gunicorn stops the oldest first.
      const extra = active.sort((a, b) => a.bootedAt - b.bootedAt).slice(0, active.length - this.#numWorkers);
      for (const w of extra) this.#stopWorker(w, 'scale-down', true);
    }
  }

  async #spawn(): Promise<void> {
    const id = ++this.#lastId;
    // preFork may be async and runs before the fork: count the worker as on its way meanwhile.
    this.#forking++;
    try {
      await this.#hook('preFork', this, { id });
    } finally {
      this.#forking--;
    }
    if (this.#stopping) return;
    const cfg = this.#config;
    const timeoutMs = cfg.timeout * 1000;
    const heartbeatMs = heartbeatInterval(cfg.timeout);
    // Round-robin: the master accepts and hands each connection over; the workers get no sockets.
    const fds = this.#rr ? [] : this.#sockets.map((_, i) => 4 + i);
    const reportFile = path.join(os.tmpdir(), `gwserver-${process.pid}-worker-${id}.stack.json`);
    const spec: WorkerSpec = {
      id,
      target: this.#target,
      config: { ...cfg, ...this.#metricsSettings } as unknown as Record<string, unknown>,
      configFile: this.#o.configFile,
      configSource: this.#o.configSource,
      fds,
      roundRobin: this.#rr ? this.#sockets.length : undefined,
      workers: this.#numWorkers,
      maxRequests: jittered(cfg.maxRequests, cfg.maxRequestsJitter),
      heartbeatMs,
      // Well before the master's kill: the last beat may be a heartbeat old, and pausing a big app takes a while.
      stuckAfterMs: timeoutMs > 0 ? Math.max(100, Math.min(timeoutMs / 2, timeoutMs - heartbeatMs - 2500)) : 0,
      reportFile,
      cwd: this.#o.cwd,
      invocation: this.#o.invocation,
    };
    cluster.setupPrimary({
      exec: WORKER_ENTRY,
      // Room for the process title: Linux only lets a process rename itself
      // within the length of its original command line.
      args: [`--title-space=${' '.repeat(Math.max(16, this.#name.length + 8))}`],
      // The sockets go to every worker as fds 4, 5, ...: they are the master's, the workers only accept on them.
      stdio: ['inherit', 'inherit', 'inherit', 'ipc', ...(this.#rr ? [] : this.#sockets.map((s) => s.fd))],
    });
    const worker = cluster.fork({ GWSERVER_WORKER: JSON.stringify(spec) });
    const now = Date.now();
    const info: WorkerInfo = { id, worker, pid: worker.process.pid ?? 0, state: 'booting', generation: this.#generation, bootedAt: now, lastBeat: now, requests: 0, reportFile };
    this.#workers.set(id, info);
    this.#records.set(worker, info);
    this.#metrics?.add(id);
    this.#log.info({ worker_id: id, worker_pid: info.pid }, `booting worker ${id} with pid ${info.pid}`);
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => this.#onExit(info, code, signal));
    void this.#hook('postFork', this, { id, pid: info.pid });
  }

  /** `gwserver:ready`: the worker listens. */
  #ready(w: WorkerInfo): void {
    w.state = w.state === 'stopping' ? 'stopping' : 'ready';
    w.lastBeat = Date.now();
    this.#bootFailures = 0;
    this.#log.info({ worker_id: w.id, worker_pid: w.pid, ms: Date.now() - w.bootedAt }, `worker ${w.id} ready`);
    this.#retireReplaced();
    if (this.#currentReady() >= this.#numWorkers) {
      for (const r of this.#readyWaiters.splice(0)) r();
      this.#finishReload();
    }
  }

  /** Marks a worker for replacement: a new one boots first, then this one stops (no request fails). */
  #replace(w: WorkerInfo, reason: ExitReason): void {
    if (w.retiring || w.state === 'stopping' || this.#stopping) return;
    w.retiring = reason;
    this.#log.info({ worker_id: w.id, worker_pid: w.pid, reason }, `replacing worker ${w.id} (${reason})`);
    this.#wake();
  }

  /** Stops retiring workers as their replacements become ready. */
  #retireReplaced(): void {
    const retiring = [...this.#workers.values()].filter((w) => w.retiring && w.state !== 'stopping').sort((a, b) => a.bootedAt - b.bootedAt);
    let surplus = this.#currentReady() + retiring.length - this.#numWorkers;
    for (const w of retiring) {
      if (surplus <= 0) break;
      this.#stopWorker(w, w.retiring!, true);
      surplus--;
    }
  }

  #stopWorker(w: WorkerInfo, reason: ExitReason, graceful: boolean): void {
    w.reason ??= reason;
    if (w.state === 'stopping' && graceful) return;
    w.state = 'stopping';
    w.worker.process.kill(graceful ? 'SIGTERM' : 'SIGQUIT');
    clearTimeout(w.killTimer);
    const grace = graceful ? this.#config.gracefulTimeout * 1000 : 5000;
    w.killTimer = setTimeout(() => {
      this.#log.warn({ worker_id: w.id, worker_pid: w.pid }, `worker ${w.id} did not stop within ${grace / 1000} s; killing it`);
      w.worker.process.kill('SIGKILL');
    }, grace);
    w.killTimer.unref();
  }

  #onExit(w: WorkerInfo, code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(w.killTimer);
    this.#workers.delete(w.id);
    void unlink(w.reportFile).catch(() => undefined);
    const wasBooting = w.state === 'booting';
    const reason = w.reason ?? (signal ? `signal ${signal}` : `exit code ${code}`);
    const fields = { worker_id: w.id, worker_pid: w.pid, code, signal, reason, requests: w.requests };
    if (w.reason !== undefined && w.reason !== 'timeout') this.#log.info(fields, `worker ${w.id} exited (${reason})`);
    else this.#log.warn(fields, `worker ${w.id} exited (${reason})`);
    const described = { id: w.id, pid: w.pid, code, signal, reason };
    void this.#hook('childExit', this, described);
    this.#retireMetrics(w, wasBooting, code, signal);
    // workerExit: a worker the master stopped, as opposed to one that died.
    if (w.reason !== undefined && w.reason !== 'timeout') void this.#hook('workerExit', this, described);

    if (this.#stopping) {
      if (this.#workers.size === 0) void this.#exit();
      return;
    }
    if (wasBooting && w.reason === undefined) this.#bootFailed(w, code);
    this.#wake();
  }

  #bootFailed(w: WorkerInfo, code: number | null): void {
    const err = w.bootError;
    if (code === EXIT.APP_LOAD_ERROR || err?.kind === 'app-load') {
      if (!this.#booted) {
        // Respawning would fail the same way: halt (gunicorn's APP_LOAD_ERROR).
        this.#halt(EXIT.APP_LOAD_ERROR, err?.message ?? 'the app failed to load');
        return;
      }
      this.#log.error({ worker_id: w.id, reason: err?.message }, `a new worker could not load the app: ${err?.message ?? 'unknown error'}; the running workers keep serving`);
      this.#cancelReload();
    } else if (err?.kind === 'listen' || err?.kind === 'boot') {
      if (!this.#booted) {
        this.#halt(EXIT.WORKER_BOOT_ERROR, err.message);
        return;
      }
    }
    // No fork bomb: each boot failure in a row doubles the wait, up to 30 s.
    this.#bootFailures++;
    const delay = Math.min(30_000, 100 * 2 ** (this.#bootFailures - 1));
    this.#nextSpawnAt = Date.now() + delay;
    this.#log.warn({ worker_id: w.id, failures: this.#bootFailures, retry_in_ms: delay }, `worker ${w.id} died while booting; next attempt in ${delay} ms`);
  }

  #halt(code: number, message: string): void {
    this.#log.error({ exit_code: code }, `halting: ${message}`);
    process.stderr.write(`gwserver: error: ${message}\n`);
    this.#exitCode = code;
    void this.stop(false);
  }

  /** Kills workers whose event loop stopped (no heartbeat for --timeout); replaces fat ones. */
  #murder(): void {
    const now = Date.now();
    const timeoutMs = this.#config.timeout * 1000;
    const maxMem = this.#config.maxWorkerMemory;
    for (const w of this.#workers.values()) {
      if (w.state === 'stopping' && w.reason !== 'timeout') continue;
      if (timeoutMs > 0 && w.state === 'ready' && now - w.lastBeat > timeoutMs) {
        void this.#timedOut(w, now - w.lastBeat);
        continue;
      }
      if (maxMem > 0 && w.state === 'ready' && !w.retiring) {
        const rss = rssMiB(w.pid);
        if (rss !== undefined && rss > maxMem) {
          this.#log.warn({ worker_id: w.id, worker_pid: w.pid, rss_mib: Math.round(rss), limit_mib: maxMem }, `worker ${w.id} uses ${Math.round(rss)} MiB (over --max-worker-memory ${maxMem})`);
          this.#replace(w, 'memory');
        }
      }
    }
  }

  async #timedOut(w: WorkerInfo, silentMs: number): Promise<void> {
    let report: { stack?: string; frames?: unknown; capture_error?: string } | undefined;
    try {
      report = JSON.parse(readFileSync(w.reportFile, 'utf8')) as { stack?: string };
    } catch {
      report = undefined;
    }
    // Empty when the loop was blocked outside JavaScript (a native call), which cannot be paused.
    const stack = report?.stack || undefined;
    this.#log.error(
      { worker_id: w.id, worker_pid: w.pid, silent_ms: silentMs, stack: stack ?? '(no stack captured)', capture_error: report?.capture_error },
      `worker ${w.id} timed out: its event loop has been blocked for ${Math.round(silentMs / 100) / 10} s${stack ? `\n${stack}` : ''}`,
    );
    w.reason = 'timeout';
    w.state = 'stopping';
    this.#metrics?.timedOut();
    // The hook runs before the kill (it may want to look at the process), but a hung hook must not keep a stuck worker alive.
    await Promise.race([
      this.#hook('workerTimeout', { id: w.id, pid: w.pid }, stack ?? ''),
      new Promise((resolve) => setTimeout(resolve, 2000).unref()),
    ]);
    w.worker.process.kill('SIGKILL');
  }

  // ---- metrics (--metrics-bind) -------------------------------------------

  /** A worker exited: count a restart, and fold its counts into the retired totals once its last message is read. */
  #retireMetrics(w: WorkerInfo, wasBooting: boolean, code: number | null, signal: NodeJS.Signals | null): void {
    const metrics = this.#metrics;
    if (metrics === undefined) return;
    if (!this.#stopping) {
      const r = w.reason;
      const reason: RestartReason | undefined =
        r === 'timeout' || r === 'memory' || r === 'max-requests' || r === 'reload' ? r
        : r !== undefined ? undefined // scale-down, shutdown, a cancelled reload: not replaced
        : wasBooting ? 'boot-failure'
        : code === 0 && signal === null ? 'exit'
        : 'crash';
      if (reason !== undefined) metrics.restarted(reason);
    }
    metrics.retire(w.id, w.worker);
  }

  // ---- upgrade (USR2) ----------------------------------------------------

  /**
   * USR2: start a new master on the same sockets (src/master/reexec.ts).
   * Once it is ready it is the one systemd knows (MAINPID=), so this master
   * stops notifying; then it retires, unless --keep-old-master keeps it
   * (and its workers) serving until WINCH and TERM, as gunicorn does.
   */
  async #reexec(): Promise<void> {
    if (this.#stopping) {
      this.#log.info('USR2 ignored: the master is stopping');
      return;
    }
    await this.#upgrade.start({
      log: this.#log,
      sockets: this.#sockets,
      metricsFd: this.#metrics?.fd,
      // The file #writePidfile wrote (a HUP may have changed the setting since).
      pidfile: this.#o.config.pidfile,
      cwd: this.#o.cwd,
      title: `gwserver: master [${this.#name}]`,
      preExec: () => this.#hook('preExec', this),
      handedOver: (pid) => {
        // STOPPING=1 (or READY=1) from here would now be about the new master's unit.
        this.#o.notify = undefined;
        this.#metrics?.handOver(pid);
        if (this.#config.keepOldMaster) {
          this.#log.info({ new_master_pid: pid }, `--keep-old-master: this master (pid ${process.pid}) and its workers keep running; stop them with WINCH, then TERM`);
        } else {
          this.#log.info({ new_master_pid: pid }, `the new master (pid ${pid}) took over: this master stops gracefully`);
          void this.stop(true);
        }
      },
    });
  }

  // ---- reload -----------------------------------------------------------

  /** HUP: re-read the config, boot new workers with fresh app code, then stop the old ones. */
  async reload(): Promise<void> {
    if (this.#stopping) return;
    this.#reloadStarted = Date.now();
    await this.#o.notify?.reloading();
    if (this.#o.reloadConfig) {
      try {
        const next = await this.#o.reloadConfig();
        if (next.config.scheduling !== this.#config.scheduling) {
          this.#log.warn({ scheduling: next.config.scheduling }, `--scheduling ${next.config.scheduling} takes effect on a restart or an upgrade (USR2), not on HUP`);
        }
        const m = this.#metricsSettings;
        if (next.config.metricsBind !== m.metricsBind || next.config.metricsBuckets.join() !== m.metricsBuckets.join()) {
          this.#log.warn(
            { metrics_bind: next.config.metricsBind, metrics_buckets: next.config.metricsBuckets },
            `--metrics-bind and --metrics-buckets take effect on a restart, not on HUP (nor USR2, which keeps the metrics socket): still ${m.metricsBind || "''"}`,
          );
        }
        this.#config = next.config;
        this.#target = next.target;
        this.#o.configFile = next.configFile;
        this.#o.configSource = next.configSource;
        if (next.config.workers !== this.#numWorkers) this.#setWorkers(next.config.workers);
      } catch (err) {
        this.#log.error({ reason: (err as Error).message }, `reload: the configuration is invalid, keeping the current one: ${(err as Error).message}`);
      }
    }
    await this.#hook('onReload', this);
    this.#generation++;
    for (const w of this.#workers.values()) {
      if (w.generation < this.#generation && w.state !== 'stopping') w.retiring = 'reload';
    }
    this.#log.info({ generation: this.#generation, workers: this.#numWorkers }, 'reloading: booting new workers');
    this.#wake();
  }

  #finishReload(): void {
    if (this.#reloadStarted === 0) return;
    const ms = Date.now() - this.#reloadStarted;
    this.#reloadStarted = 0;
    this.#log.info({ ms }, `reloaded in ${ms} ms`);
    void this.#o.notify?.ready(this.#status());
  }

  #cancelReload(): void {
    if (this.#reloadStarted === 0) return;
    this.#reloadStarted = 0;
    // The old generation stays: it becomes current again.
    this.#generation--;
    for (const w of this.#workers.values()) {
      if (w.retiring === 'reload') w.retiring = undefined;
      if (w.generation > this.#generation && w.state !== 'stopping') this.#stopWorker(w, 'boot-failure', false);
    }
    void this.#o.notify?.ready(this.#status());
  }

  // ---- shutdown ---------------------------------------------------------

  /** TERM (graceful) or INT/QUIT (quick): stop the workers, release the sockets, exit. */
  async stop(graceful: boolean): Promise<void> {
    if (this.#stopping) {
      // A second INT during a graceful stop hurries it up.
      if (!graceful) for (const w of this.#workers.values()) this.#stopWorker(w, 'shutdown', false);
      return;
    }
    this.#stopping = true;
    clearInterval(this.#tick);
    for (const r of this.#readyWaiters.splice(0)) r();
    this.#log.info({ graceful }, graceful ? 'shutting down gracefully' : 'shutting down');
    await this.#o.notify?.stopping();
    // Round-robin: leave new connections in the kernel's queue (for a new master after USR2, or systemd).
    this.#rr?.stopAccepting();
    for (const w of this.#workers.values()) this.#stopWorker(w, 'shutdown', graceful);
    if (this.#workers.size === 0) await this.#exit();
  }

  async #exit(): Promise<void> {
    this.#unwatch?.();
    await this.#metrics?.close();
    this.#rr?.close();
    this.#channel.close();
    await closeAll(this.#sockets);
    this.#pidfile.remove();
    await this.#hook('onExit', this);
    this.#log.info({ exit_code: this.#exitCode }, 'master stopped');
    this.#done(this.#exitCode);
  }

  // ---- hooks ----------------------------------------------------------

  /** Runs a config-file hook; a hook that throws is logged and survived. */
  async #hook(name: string, ...args: unknown[]): Promise<void> {
    const fn = (this.#config as unknown as Record<string, unknown>)[name];
    if (typeof fn !== 'function') return;
    try {
      await fn(...args);
    } catch (err) {
      this.#log.error({ hook: name, err }, `the ${name} hook threw`);
    }
  }

  /** For hooks: the number of workers the master aims for. */
  get numWorkers(): number {
    return this.#numWorkers;
  }

  /** For hooks and tests: the workers' pids. */
  get workerPids(): number[] {
    return [...this.#workers.values()].map((w) => w.pid);
  }
}
