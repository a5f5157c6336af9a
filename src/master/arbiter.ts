/**
 * The master: owns the sockets, pre-forks workers through node:cluster,
 * keeps their number right, replaces the dead, kills the stuck, recycles the
 * tired, and reacts to signals as gunicorn's arbiter does.
 *
 * It is a loop over ONE queue of events (src/master/events.ts): signals,
 * the workers' exits and messages, the supervision tick and other timers,
 * the --reload watcher, and the completion of every async step it started.
 * Signal handlers and listeners only enqueue. Each event is handled to the
 * end before the next: src/master/core.ts decides (the state, the reload
 * and stop phases, reap -> murder -> manage as pure decisions in
 * src/master/decisions.ts), and this class carries the actions out against
 * node:cluster, the hooks, systemd and the logs. An action that takes time
 * (a hook, RELOADING=1, the configuration read again) reports its end as an
 * event: nothing is a promise left unawaited between two steps.
 *
 * The workers' messages (src/ipc/protocol.ts) come through one listener that
 * hands each to the handlers of its act (src/master/channel.ts); the
 * arbiter's are registered first and handle the event at once, so the parts
 * that register later (the round-robin) find the worker's record up to date.
 * The master never loads the gateway (unless --preload) and never serves the
 * app; its only HTTP is the metrics and health endpoint on --metrics-bind
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
import type { ControlReply, InFlightRequest } from '../ipc/control.js';
import { heartbeatInterval, type MetricJSON, type TlsMaterial, type WorkerSpec } from '../ipc/protocol.js';
import { reopenLogs, resolveLogFormats, type Logger } from '../logging/logger.js';
import { hookLog, type HookLog } from '../logging/hook-log.js';
import { resolveModule } from '../loader/resolve-module.js';
import { parseTarget } from '../loader/parse-target.js';
import { backlogReader } from './backlog.js';
import { MasterChannel } from './channel.js';
import { ControlServer } from './control.js';
import { answer, sweepStackSockets } from './control-answers.js';
import { ArbiterCore } from './core.js';
import { SIGNALS, type Action, type ArbiterEvent, type ReloadedConfig } from './events.js';
import { MetricsEndpoint } from './metrics-endpoint.js';
import { PidFile } from './pidfile.js';
import { MasterUpgrade } from './reexec.js';
import { watchSources } from './reloader.js';
import { RoundRobin, type SchedulableWorker } from './round-robin.js';
import { closeAll, type ListenSocket } from './sockets.js';
import { secureAddress } from '../config/binds.js';
import { initialState, isStopping, wireState, workers, type MasterConfig, type WorkerRecord } from './state.js';

export type { ExitReason, MasterConfig } from './state.js';

export interface ArbiterOptions {
  target: string;
  config: MasterConfig;
  configFile?: string;
  /** The config file's text as read (see src/config/snapshot.ts). */
  configSource?: string;
  /** The TLS key and certificates as read at start (src/master/tls.ts; --certfile), for the workers. */
  tls?: TlsMaterial;
  logger: Logger;
  /** The directory gwserver started in. */
  cwd: string;
  /** Re-reads the configuration (HUP). Throws with a one-line message when it is invalid. */
  reloadConfig?: () => Promise<ReloadedConfig>;
  /** How gwserver was started, so that workers can load the config file's hooks. */
  invocation?: { argv: readonly string[]; env: NodeJS.ProcessEnv; cwd: string };
  /** READY/RELOADING/STOPPING to systemd. */
  notify?: { ready(status?: string): Promise<void>; reloading(): Promise<void>; stopping(): Promise<void>; status(text: string): Promise<void> };
}

const WORKER_ENTRY = fileURLToPath(new URL('../worker/entry.js', import.meta.url));
/** How often the master looks for stuck and fat workers. */
const TICK_MS = 250;

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

/** What the arbiter holds for a worker process, beside the core's record. */
interface Handle {
  worker: Worker;
  reportFile: string;
  /** Where its watchdog thread takes a stack on demand (undefined: no watchdog). */
  stackSocket: string | undefined;
  /** Its latest metrics snapshot (--metrics-bind), for gwserverctl top's latencies. */
  metrics?: MetricJSON[];
  /** How the round-robin and the metrics see it (live: read from the record). */
  view: SchedulableWorker & { id: number };
}

export class Arbiter {
  #o: ArbiterOptions;
  #log: Logger;
  readonly #core: ArbiterCore;
  /** The one queue; `#feedback` holds what an action reports at once (a fork's pid), handled before the next event. */
  readonly #queue: ArbiterEvent[] = [];
  readonly #feedback: ArbiterEvent[] = [];
  /** The loop runs (the sockets are open); before, events wait. */
  #running = false;
  #draining = false;
  readonly #handles = new Map<number, Handle>();
  /** The SIGKILL deadline of each stopping worker (cleared when it exits). */
  readonly #killTimers = new Map<number, NodeJS.Timeout>();
  /** The id of each forked worker, kept after its exit: its last messages (a final metrics snapshot) may come after 'exit'. */
  readonly #ids = new WeakMap<Worker, number>();
  /** The workers' messages, by act: the arbiter's handlers come first (see src/master/channel.ts). */
  readonly #channel = new MasterChannel();
  #tick: NodeJS.Timeout | undefined;
  #done!: (code: number) => void;
  #sockets: ListenSocket[] = [];
  readonly #pidfile = new PidFile();
  /** Set with --scheduling round-robin: the master accepts and hands connections to the workers. */
  #rr: RoundRobin | undefined;
  #unwatch: (() => void) | undefined;
  readonly #upgrade = new MasterUpgrade();
  /** --metrics-bind (undefined: off). */
  #metrics: MetricsEndpoint | undefined;
  /** `server.log`, made when a hook first reads it. */
  #hookLog: HookLog | undefined;
  /** The control socket (--control-socket; undefined with --no-control-socket). */
  #control: ControlServer | undefined;
  /** Control requests waiting for their answer, by the id of their event. */
  readonly #pending = new Map<number, (r: ControlReply) => void>();
  #controlSeq = 0;
  /** Workers' answers to gwserver:inspect, by seq. */
  readonly #inspecting = new Map<number, (a: { inFlight: number; slow: InFlightRequest[] }) => void>();
  #inspectSeq = 0;
  readonly #startedAt = Date.now();
  /** Adaptive workers: reads the sockets' listen backlog (made once the sockets are open). */
  #backlog: (() => number | undefined) | undefined;
  /** Ticks since the backlog was last read (it is read once a second). */
  #ticks = 0;

  constructor(options: ArbiterOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.#core = new ArbiterCore(initialState({ config: options.config, app: options.target, configFile: options.configFile, configSource: options.configSource, tls: options.tls }), {
      now: Date.now,
      canReadConfig: options.reloadConfig !== undefined,
      inTerminal: () => Boolean(process.stdin.isTTY || process.stdout.isTTY),
      pid: process.pid,
    });
    for (const act of ['gwserver:ready', 'gwserver:heartbeat', 'gwserver:retire', 'gwserver:boot-error'] as const) {
      this.#channel.on(act, (message, worker) => {
        const id = this.#ids.get(worker);
        if (id !== undefined) this.#post({ kind: 'message', id, message: message as Extract<ArbiterEvent, { kind: 'message' }>['message'] });
      });
    }
    this.#channel.on('gwserver:inspected', (m) => {
      this.#inspecting.get(m.seq)?.({ inFlight: m.inFlight, slow: m.slow });
    });
    this.#channel.on('gwserver:metrics', (m, worker) => {
      const id = this.#ids.get(worker);
      const h = id === undefined ? undefined : this.#handles.get(id);
      if (h !== undefined) h.metrics = m.metrics;
    });
    // A booting worker asks for the TLS material of the configuration now in force (a HUP may have read new files since its fork).
    this.#channel.on('gwserver:tls-request', (_message, worker) => {
      if (worker.isConnected()) worker.send({ act: 'gwserver:tls', tls: this.#core.state.tls ?? null });
    });
  }

  get #config(): MasterConfig {
    return this.#core.state.config;
  }

  /** The name in process titles: --name, else the app. */
  get #name(): string {
    return this.#config.procName || this.#core.state.app;
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
    for (const signal of SIGNALS) process.on(signal, () => this.#post({ kind: 'signal', signal }));
    await this.#hook('onStarting', [this]);
    this.#metrics = await MetricsEndpoint.prepare(this.#config);
    this.#sockets = await openSockets();
    if (this.#metrics !== undefined) {
      try {
        await this.#metrics.start({
          log: this.#log,
          channel: this.#channel,
          workers: () => this.#views(),
          target: () => this.#core.state.numWorkers,
          idOf: (worker) => this.#ids.get(worker),
          ready: () => !isStopping(this.#core.state) && [...this.#core.state.workers.values()].some((w) => wireState(w.status) === 'ready'),
        });
      } catch (err) {
        await closeAll(this.#sockets);
        throw err;
      }
    }
    this.#channel.open();
    if (this.#config.scheduling === 'round-robin') {
      this.#rr = new RoundRobin(this.#sockets, { logger: this.#log, channel: this.#channel, backlog: this.#config.backlog, workers: () => this.#views(), timeout: () => this.#config.timeout });
    }
    this.#pidfile.write(this.#config.pidfile);
    // What workers killed with their master left behind (their stack sockets for gwserverctl).
    sweepStackSockets(os.tmpdir());
    if (!this.#config.noControlSocket) {
      // Commands wait in the queue, as signals do, until the loop starts.
      this.#control = new ControlServer(this.#log, (command, reply) => {
        const id = ++this.#controlSeq;
        this.#pending.set(id, reply);
        this.#post({ kind: 'control', id, command });
      });
      await this.#control.open(this.#config.controlSocket);
    }
    // The loop starts: the sockets are open, then whatever waited (signals during the start).
    this.#queue.unshift({ kind: 'opened', addresses: this.#shownAddresses() });
    this.#running = true;
    this.#drain();
    return finished;
  }

  // ---- the loop ------------------------------------------------------------

  /** Enqueues an event; handles the queue unless it is being handled (or the loop has not started). */
  #post(e: ArbiterEvent): void {
    this.#queue.push(e);
    this.#drain();
  }

  #drain(): void {
    if (!this.#running || this.#draining) return;
    this.#draining = true;
    try {
      let e: ArbiterEvent | undefined;
      while ((e = this.#feedback.shift() ?? this.#queue.shift()) !== undefined) {
        for (const action of this.#core.handle(e)) {
          try {
            this.#carryOut(action);
          } catch (err) {
            this.#log.error({ err, action: action.do }, `the master could not ${action.do}`);
          }
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Posts `e` when `p` settles. */
  #then(p: Promise<unknown> | undefined, e: ArbiterEvent | undefined): void {
    if (e === undefined) {
      void p?.catch(() => undefined);
      return;
    }
    void Promise.resolve(p).catch(() => undefined).then(() => this.#post(e));
  }

  /** Carries out one action (the core already applied it to the state). */
  #carryOut(a: Action): void {
    switch (a.do) {
      case 'fork':
        // preFork may be async and runs before the fork: the core counts the worker as on its way meanwhile.
        return this.#then(this.#hook('preFork', [this, { id: a.id }]), { kind: 'done', step: 'pre-fork', id: a.id });
      case 'spawn':
        return this.#spawn(a.id);
      case 'stop': {
        const h = this.#handles.get(a.id);
        if (h === undefined) return;
        h.worker.process.kill(a.signal);
        clearTimeout(this.#killTimers.get(a.id));
        this.#killTimers.set(a.id, setTimeout(() => this.#post({ kind: 'kill-due', id: a.id, killAt: a.killAt }), a.graceMs).unref());
        return;
      }
      case 'signal':
        this.#handles.get(a.id)?.worker.process.kill(a.signal);
        return;
      case 'time-out':
        return this.#readReport(a.id, a.silentMs);
      case 'reaped':
        return this.#release(a.id);
      case 'log':
        this.#log[a.level](a.fields, a.msg);
        return;
      case 'stderr':
        process.stderr.write(a.line);
        return;
      case 'hook': {
        const ran = this.#hook(a.name, a.name === 'workerTimeout' ? a.args : [this, ...a.args]);
        const bounded = a.timeoutMs === undefined ? ran : Promise.race([ran, new Promise((resolve) => setTimeout(resolve, a.timeoutMs).unref())]);
        return this.#then(bounded, a.then);
      }
      case 'notify': {
        const notify = this.#o.notify;
        const told = a.state === 'ready' ? notify?.ready(this.#status()) : a.state === 'reloading' ? notify?.reloading() : notify?.stopping();
        return this.#then(told, a.then);
      }
      case 'wake-at':
        setTimeout(() => this.#post({ kind: 'wake' }), Math.max(0, a.at - Date.now())).unref();
        return;
      case 'tick':
        clearInterval(this.#tick);
        this.#tick = a.on ? setInterval(() => this.#post({ kind: 'tick', rss: this.#sampleMemory(), backlog: this.#sampleBacklog() }), TICK_MS) : undefined;
        return;
      case 'watch':
        return this.#then(this.#watch(), { kind: 'done', step: 'watch' });
      case 'read-config':
        this.#o.reloadConfig!().then(
          (next) => this.#post({ kind: 'done', step: 'read-config', next }),
          (err: Error) => this.#post({ kind: 'done', step: 'read-config', error: err.message }),
        );
        return;
      case 'announce':
        // The last steps of the boot: nothing waits for their end.
        return void this.#announce().catch((err: unknown) => this.#log.error({ err }, 'announcing the workers ready failed'));
      case 'reopen-logs':
        reopenLogs();
        return;
      case 'reexec':
        return this.#then(this.#reexec(), { kind: 'done', step: 'reexec' });
      case 'stop-accepting':
        this.#rr?.stopAccepting();
        return;
      case 'reply':
        return this.#reply(a.id, a.reply);
      case 'answer':
        return void answer(this.#answerHost(), a.command).then(
          (r) => this.#reply(a.id, r),
          (err: unknown) => this.#reply(a.id, { ok: false, error: `cannot answer: ${(err as Error).message}` }),
        );
      case 'count':
        if (a.metric === 'restart') this.#metrics?.restarted(a.reason);
        else if (a.metric === 'scale') this.#metrics?.scaled(a.direction);
        else this.#metrics?.timedOut();
        return;
      case 'exit':
        return void this.#exit(a.code).catch((err: unknown) => {
          this.#log.error({ err }, 'the master could not exit cleanly');
          this.#done(a.code);
        });
      case 'retire':
      case 'scale':
      case 'scale-track':
      case 'backoff':
      case 'halt':
      case 'cancel-reload':
        // The core's own state: nothing to carry out.
        return;
    }
  }

  // ---- workers -------------------------------------------------------------

  /** Forks worker `id` with the current configuration (its preFork hook returned). */
  #spawn(id: number): void {
    const s = this.#core.state;
    const cfg = s.config;
    const timeoutMs = cfg.timeout * 1000;
    const heartbeatMs = heartbeatInterval(cfg.timeout);
    // Round-robin: the master accepts and hands each connection over; the workers get no sockets.
    const fds = this.#rr ? [] : this.#sockets.map((_, i) => 4 + i);
    const reportFile = path.join(os.tmpdir(), `gwserver-${process.pid}-worker-${id}.stack.json`);
    // gwserverctl stack: the watchdog thread listens next to its report file (only with the watchdog, --timeout > 0).
    const stackSocket = timeoutMs > 0 ? path.join(os.tmpdir(), `gwserver-${process.pid}-worker-${id}.stack.sock`) : undefined;
    const spec: WorkerSpec = {
      id,
      target: s.app,
      config: { ...cfg, ...s.metricsSettings } as unknown as Record<string, unknown>,
      configFile: s.configFile,
      configSource: s.configSource,
      fds,
      roundRobin: this.#rr ? this.#sockets.length : undefined,
      // Adaptive workers: as many as there may be (for wsgi.multiprocess).
      workers: Math.max(s.numWorkers, s.scaler?.max ?? 0),
      maxRequests: jittered(cfg.maxRequests, cfg.maxRequestsJitter),
      heartbeatMs,
      // Well before the master's kill: the last beat may be a heartbeat old, and pausing a big app takes a while.
      stuckAfterMs: timeoutMs > 0 ? Math.max(100, Math.min(timeoutMs / 2, timeoutMs - heartbeatMs - 2500)) : 0,
      reportFile,
      stackSocket,
      cwd: this.#o.cwd,
      invocation: this.#o.invocation,
      // --log-format auto: the master's terminals decide, for every worker alike.
      logFormats: resolveLogFormats(cfg),
    };
    cluster.setupPrimary({
      exec: WORKER_ENTRY,
      // Room for the process title: Linux only lets a process rename itself
      // within the length of its original command line.
      args: [`--title-space=${' '.repeat(Math.max(16, this.#name.length + 8))}`],
      // The sockets go to every worker as fds 4, 5, ...: they are the master's, the workers only accept on them.
      stdio: ['inherit', 'inherit', 'inherit', 'ipc', ...(this.#rr ? [] : this.#sockets.map((s) => s.fd))],
    });
    let worker: Worker;
    try {
      worker = cluster.fork({ GWSERVER_WORKER: JSON.stringify(spec) });
    } catch (err) {
      // EAGAIN and the like: a worker that died at birth, which the core treats as a boot failure.
      this.#log.error({ err, worker_id: id }, `cannot fork worker ${id}`);
      this.#feedback.push({ kind: 'exit', id, code: null, signal: null });
      return;
    }
    const record = s.workers.get(id)!;
    const view = {
      id,
      worker,
      get state() {
        return wireState(record.status);
      },
      get lastBeat() {
        return record.lastBeat;
      },
    };
    this.#handles.set(id, { worker, reportFile, stackSocket, view });
    this.#ids.set(worker, id);
    this.#metrics?.add(id);
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => this.#post({ kind: 'exit', id, code, signal }));
    this.#feedback.push({ kind: 'spawned', id, pid: worker.process.pid ?? 0 });
  }

  // ---- the control socket --------------------------------------------------------

  #reply(id: number, r: ControlReply): void {
    const reply = this.#pending.get(id);
    this.#pending.delete(id);
    reply?.(r);
  }

  /** What the answers to the control socket's questions read (src/master/control-answers.ts). */
  #answerHost(): Parameters<typeof answer>[0] {
    return {
      state: this.#core.state,
      name: this.#name,
      addresses: this.#shownAddresses(),
      controlSocket: this.#control?.path ?? '',
      startedAt: this.#startedAt,
      inspect: (id, olderThanMs, timeoutMs) => this.#inspect(id, olderThanMs, timeoutMs),
      stackSocket: (id) => this.#handles.get(id)?.stackSocket,
      metrics: () => (this.#metrics === undefined ? undefined : [...this.#handles.values()].flatMap((h) => (h.metrics === undefined ? [] : [h.metrics]))),
    };
  }

  /** Asks worker `id` what it serves now (src/worker/inspect.ts); undefined if it does not answer within `timeoutMs`. */
  #inspect(id: number, olderThanMs: number, timeoutMs: number): Promise<{ inFlight: number; slow: InFlightRequest[] } | undefined> {
    const h = this.#handles.get(id);
    if (h === undefined || !h.worker.isConnected()) return Promise.resolve(undefined);
    const seq = ++this.#inspectSeq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#inspecting.delete(seq);
        resolve(undefined);
      }, timeoutMs);
      this.#inspecting.set(seq, (a) => {
        clearTimeout(timer);
        this.#inspecting.delete(seq);
        resolve(a);
      });
      h.worker.send({ act: 'gwserver:inspect', seq, olderThanMs }, undefined, { keepOpen: false }, () => undefined);
    });
  }

  /** The workers as the round-robin and the metrics see them. */
  *#views(): Iterable<SchedulableWorker & { id: number }> {
    for (const h of this.#handles.values()) yield h.view;
  }

  /** --max-worker-memory: the RSS of each serving worker, in MiB. */
  #sampleMemory(): Map<number, number> | undefined {
    if (this.#config.maxWorkerMemory <= 0) return undefined;
    const rss = new Map<number, number>();
    for (const w of this.#core.state.workers.values()) {
      if (w.status.phase !== 'ready' || w.pid === 0) continue;
      const mib = rssMiB(w.pid);
      if (mib !== undefined) rss.set(w.id, mib);
    }
    return rss;
  }

  /** Adaptive workers: the connections waiting in the sockets' listen backlog, once a second (undefined in between, or off). */
  #sampleBacklog(): number | undefined {
    if (this.#core.state.scaler === undefined || ++this.#ticks % Math.round(1000 / TICK_MS) !== 0) return undefined;
    this.#backlog ??= backlogReader(this.#sockets);
    return this.#backlog();
  }

  /** A timed-out worker: what its watchdog thread captured (src/worker/watchdog.ts), for the log and the workerTimeout hook. */
  #readReport(id: number, silentMs: number): void {
    const h = this.#handles.get(id);
    let report: { stack?: string; capture_error?: string } | undefined;
    try {
      report = h ? (JSON.parse(readFileSync(h.reportFile, 'utf8')) as { stack?: string; capture_error?: string }) : undefined;
    } catch {
      report = undefined;
    }
    this.#feedback.push({ kind: 'done', step: 'read-report', id, silentMs, stack: report?.stack, captureError: report?.capture_error });
  }

  /** A worker exited: its report file, its metrics (folded once its last message is read), its handle. */
  #release(id: number): void {
    clearTimeout(this.#killTimers.get(id));
    this.#killTimers.delete(id);
    const h = this.#handles.get(id);
    if (h === undefined) return;
    this.#handles.delete(id);
    void unlink(h.reportFile).catch(() => undefined);
    // The watchdog thread removes its socket as the worker stops; one killed (SIGKILL) cannot.
    if (h.stackSocket !== undefined) void unlink(h.stackSocket).catch(() => undefined);
    this.#metrics?.retire(id, h.worker);
  }

  #status(): string {
    const ready = [...this.#core.state.workers.values()].filter((w) => wireState(w.status) === 'ready').length;
    return `${workers(ready)} serving ${this.#shownAddresses().join(', ')}`;
  }

  /** The sockets' addresses as logged: `https://` when the workers speak TLS (the sockets themselves are plain TCP). */
  #shownAddresses(): string[] {
    const secure = this.#config.certfile !== '';
    return this.#sockets.map((s) => (secure ? secureAddress(s.address) : s.address));
  }

  // ---- the master's async steps ------------------------------------------------

  /** --reload: watch the app's directory, and reload the workers when a source file changes. */
  async #watch(): Promise<void> {
    let dir: string;
    try {
      dir = path.dirname(await resolveModule(parseTarget(this.#core.state.app).module, process.cwd()));
    } catch {
      dir = process.cwd();
    }
    this.#unwatch = watchSources(dir, (file) => this.#post({ kind: 'reload', file, shown: path.relative(dir, file) }));
    this.#log.info({ dir }, `--reload: watching ${dir} for source changes`);
  }

  /**
   * The first generation is ready. A re-executed master serves the inherited
   * metrics socket only now, before READY=1, which also tells the old master
   * (src/master/reexec.ts) that it may close its own.
   */
  async #announce(): Promise<void> {
    await this.#metrics?.serveInherited();
    await this.#o.notify?.ready(this.#status());
    await this.#hook('whenReady', [this]);
  }

  /**
   * USR2: start a new master on the same sockets (src/master/reexec.ts).
   * Once it is ready it is the one systemd knows (MAINPID=), so this master
   * stops notifying and serving metrics, and the core decides what becomes
   * of this master (--keep-old-master).
   */
  async #reexec(): Promise<void> {
    await this.#upgrade.start({
      log: this.#log,
      sockets: this.#sockets,
      metricsFd: this.#metrics?.fd,
      // The file the pid file was written to (a HUP may have changed the setting since).
      pidfile: this.#o.config.pidfile,
      controlSocket: this.#control,
      cwd: this.#o.cwd,
      title: `gwserver: master [${this.#name}]`,
      preExec: () => this.#hook('preExec', [this]),
      handedOver: (pid) => {
        // STOPPING=1 (or READY=1) from here would now be about the new master's unit.
        this.#o.notify = undefined;
        this.#metrics?.handOver(pid);
        this.#post({ kind: 'handed-over', pid });
      },
    });
  }

  /** Every worker is gone: release everything, run onExit, and resolve run(). */
  async #exit(code: number): Promise<void> {
    clearInterval(this.#tick);
    this.#unwatch?.();
    await this.#metrics?.close();
    this.#rr?.close();
    this.#channel.close();
    this.#control?.close();
    await closeAll(this.#sockets);
    this.#pidfile.remove();
    await this.#hook('onExit', [this]);
    this.#log.info({ exit_code: code }, 'master stopped');
    this.#done(code);
  }

  /** Runs a config-file hook; a hook that throws is logged and survived. */
  async #hook(name: string, args: unknown[]): Promise<void> {
    const fn = (this.#config as unknown as Record<string, unknown>)[name];
    if (typeof fn !== 'function') return;
    try {
      await fn(...args.map((arg) => this.#withLog(arg)));
    } catch (err) {
      this.#log.error({ hook: name, err }, `the ${name} hook threw`);
    }
  }

  /**
   * A worker as master hooks get it (`{ id, pid }`, and how it exited), with
   * `log`: gunicorn's hooks write `worker.log.info(...)`, and here those
   * records are the master's about that worker (its id and pid in them).
   */
  #withLog(arg: unknown): unknown {
    if (arg === null || typeof arg !== 'object' || arg === this || typeof (arg as { id?: unknown }).id !== 'number') return arg;
    const w = arg as { id: number; pid?: number };
    return { ...w, log: hookLog(this.#log.child(w.pid === undefined ? { worker_id: w.id } : { worker_id: w.id, worker_pid: w.pid })) };
  }

  // ---- for hooks (`server`) ----------------------------------------------------

  /** `server.log.info(...)`, as gunicorn's hooks write: the master's error log. */
  get log(): HookLog {
    this.#hookLog ??= hookLog(this.#log);
    return this.#hookLog;
  }

  /** HUP, without the signal. */
  reload(): void {
    this.#post({ kind: 'reload' });
  }

  /** TERM (graceful) or INT (quick), without the signal. */
  stop(graceful: boolean): void {
    this.#post({ kind: 'stop', graceful });
  }

  /** The number of workers the master aims for. */
  get numWorkers(): number {
    return this.#core.state.numWorkers;
  }

  /** The workers' pids. */
  get workerPids(): number[] {
    return [...this.#core.state.workers.values()].map((w: WorkerRecord) => w.pid);
  }
}
