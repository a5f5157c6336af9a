/**
 * The body of the arbiter's loop: handles one event of its queue
 * (src/master/events.ts) and answers with the actions to carry out. It owns
 * the arbiter's state (src/master/state.ts) and is the only code that
 * changes it; it touches no process, timer, file or socket, and reads the
 * time from the clock it is given, so a test drives it event by event
 * (test/unit/master/arbiter.test.ts). src/master/arbiter.ts feeds it and
 * carries its actions out against node:cluster.
 *
 * Each event is dispatched by kind (a signal to `#handle<SIG>`, as gunicorn's
 * arbiter does), then, while the master supervises, the decisions run:
 * murder (on the tick), manage, and the progress of the boot or of a reload.
 * Every action is applied to the state as it is decided, so the next
 * decision sees it.
 *
 * Reload, stop and upgrade are phases of the state, advanced by the events
 * that report the end of each async step: a HUP during a reload asks for
 * exactly one more, started once this one has settled (its new generation
 * complete, the old one gone), so reloads never overlap and the last change
 * always wins.
 *
 * @module
 */
import { onHup } from '../config/settings.js';
import type { ControlCommand, ControlReply } from '../ipc/control.js';
import { manage, murder, reap, recycle, retire, scale, stopWorker } from './decisions.js';
import type { Action, ArbiterEvent, MasterSignal, StepDone } from './events.js';
import { bounded, currentReady, isStopping, scalerFor, workers, type ArbiterState } from './state.js';

export interface CoreOptions {
  /** The clock (ms). */
  now: () => number;
  /** Whether the configuration can be read again on HUP. */
  canReadConfig: boolean;
  /** Whether gwserver runs in a terminal (WINCH is then a window resize, not an order). */
  inTerminal: () => boolean;
  /** The master's pid, for the log. */
  pid: number;
  /** A random number in [0, 1) (the lifetime jitter); Math.random by default. */
  random?: () => number;
}

export class ArbiterCore {
  readonly #s: ArbiterState;
  readonly #o: CoreOptions;
  #out: Action[] = [];

  constructor(state: ArbiterState, options: CoreOptions) {
    this.#s = state;
    this.#o = options;
  }

  /** The state, to read (the arbiter's views of the workers, the hooks' `server`). */
  get state(): Readonly<ArbiterState> {
    return this.#s;
  }

  /** Handles one event; returns the actions to carry out, in order (already applied to the state). */
  handle(e: ArbiterEvent): Action[] {
    this.#out = [];
    const now = this.#o.now();
    this.#dispatch(e, now);
    this.#supervise(e, now);
    return this.#out;
  }

  // ---- applying ------------------------------------------------------------

  /** Decides `actions`: each is applied to the state, then queued for the arbiter. */
  #emit(...actions: Action[]): void {
    for (const a of actions) {
      this.#out.push(a);
      this.#apply(a);
    }
  }

  #apply(a: Action): void {
    const s = this.#s;
    const now = this.#o.now();
    switch (a.do) {
      case 'fork':
        s.forking.add(a.id);
        s.lastId = Math.max(s.lastId, a.id);
        break;
      case 'spawn':
        s.workers.set(a.id, { id: a.id, pid: 0, generation: a.generation, startedAt: now, lastBeat: now, requests: 0, retireAt: this.#retireAt(now), status: { phase: 'booting' } });
        break;
      case 'stop': {
        const w = s.workers.get(a.id);
        if (w) w.status = { phase: 'stopping', reason: a.reason, graceMs: a.graceMs, killAt: a.killAt };
        break;
      }
      case 'retire': {
        const w = s.workers.get(a.id);
        if (w) w.status = { phase: 'retiring', reason: a.reason };
        break;
      }
      case 'time-out': {
        const w = s.workers.get(a.id);
        if (w) w.status = { phase: 'stopping', reason: 'timeout' };
        break;
      }
      case 'reaped':
        s.workers.delete(a.id);
        break;
      case 'scale':
        s.numWorkers = a.workers;
        break;
      case 'scale-track':
        if (s.scaler) {
          s.scaler.belowSince = a.belowSince;
          s.scaler.backlogHits = a.backlogHits;
        }
        break;
      case 'backoff':
        s.bootFailures = a.failures;
        s.nextSpawnAt = a.until;
        break;
      case 'wake-at':
        s.wakeAt = a.at;
        break;
      case 'halt':
        s.exitCode = a.code;
        this.#stop(false);
        break;
      case 'cancel-reload':
        this.#cancelReload();
        break;
      case 'exit':
        s.run = { phase: 'exiting' };
        break;
      case 'reexec':
        s.upgrade = { phase: 'starting' };
        break;
      default:
        // The world's: nothing in the state changes.
        break;
    }
  }

  /** --max-worker-lifetime: when a worker forked `now` is due, its jitter drawn now (0: never). */
  #retireAt(now: number): number {
    const { maxWorkerLifetime: life, maxWorkerLifetimeJitter: jitter } = this.#s.config;
    if (!(life > 0)) return 0;
    const extra = jitter > 0 ? (this.#o.random ?? Math.random)() * jitter : 0;
    return now + Math.round((life + extra) * 1000);
  }

  #log(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string): void {
    this.#emit({ do: 'log', level, fields, msg });
  }

  // ---- dispatch ------------------------------------------------------------

  #dispatch(e: ArbiterEvent, now: number): void {
    const s = this.#s;
    switch (e.kind) {
      case 'opened':
        this.#opened(e.addresses);
        break;
      case 'signal':
        this.#signal(e.signal);
        break;
      case 'reload':
        if (e.file !== undefined) this.#log('info', { file: e.file }, `${e.shown ?? e.file} changed: reloading the workers`);
        this.#requestReload();
        break;
      case 'stop':
        this.#stop(e.graceful);
        break;
      case 'tick':
        // Murder runs after it (#supervise).
        break;
      case 'wake':
        s.wakeAt = 0;
        break;
      case 'spawned':
        this.#spawned(e.id, e.pid);
        break;
      case 'message':
        this.#message(e, now);
        break;
      case 'exit':
        this.#emit(...reap(s, e, now));
        break;
      case 'kill-due': {
        const w = s.workers.get(e.id);
        if (w?.status.phase === 'stopping' && w.status.killAt === e.killAt) {
          this.#log('warn', { worker_id: w.id, worker_pid: w.pid }, `worker ${w.id} did not stop within ${(w.status.graceMs ?? 0) / 1000} s; killing it`);
          this.#emit({ do: 'signal', id: w.id, signal: 'SIGKILL' });
        }
        break;
      }
      case 'handed-over':
        this.#handedOver(e.pid);
        break;
      case 'control':
        this.#control(e.id, e.command, now);
        break;
      case 'done':
        this.#done(e, now);
        break;
    }
  }

  /** After the event: the decisions, while the master supervises; the exit, once a stopping master has no worker left. */
  #supervise(e: ArbiterEvent, now: number): void {
    const s = this.#s;
    if (s.run.phase === 'booting' || s.run.phase === 'running') {
      if (e.kind === 'tick') {
        this.#emit(...murder(s, now, e.rss));
        // After murder's actions are applied: a worker it just retired makes the lifetime's wait.
        this.#emit(...recycle(s, now));
        // Adaptive workers: the number to aim for, before manage forks or stops to match it.
        this.#emit(...scale(s, now, e.backlog));
      }
      this.#emit(...manage(s, now));
      this.#progress(now);
    }
    if (s.run.phase === 'stopping' && s.run.notified && s.workers.size === 0) {
      this.#emit({ do: 'exit', code: s.exitCode });
    }
  }

  // ---- start and boot --------------------------------------------------------

  #opened(addresses: readonly string[]): void {
    const s = this.#s;
    if (s.run.phase !== 'starting') return;
    s.addresses = addresses;
    const sc = s.scaler;
    if (sc === undefined) this.#log('info', { workers: s.numWorkers, target: s.app }, `starting gwserver master (${workers(s.numWorkers)})`);
    else this.#log('info', { workers: s.numWorkers, workers_min: sc.min, workers_max: sc.max, target: s.app }, `starting gwserver master (${workers(s.numWorkers)}, adaptive: ${sc.min} to ${sc.max})`);
    this.#emit({ do: 'hook', name: 'nworkersChanged', args: [s.numWorkers, undefined] });
    if (s.config.reload) this.#emit({ do: 'watch' });
    else s.run = { phase: 'booting' };
  }

  /** The boot or a reload moved on: the first generation complete, a reload's new generation complete, or settled. */
  #progress(now: number): void {
    const s = this.#s;
    if (s.run.phase === 'booting' && currentReady(s) >= s.numWorkers) {
      s.run = { phase: 'running' };
      s.booted = true;
      for (const address of s.addresses) this.#log('info', { address }, 'listening');
      this.#emit({ do: 'tick', on: true }, { do: 'announce' });
    }
    const r = s.reload;
    if (r.phase === 'rolling' && currentReady(s) >= s.numWorkers) {
      const ms = now - r.startedAt;
      this.#log('info', { ms }, `reloaded in ${ms} ms`);
      this.#emit({ do: 'notify', state: 'ready' });
      this.#answerReloads(s.reloads, { ok: true, generation: s.generation, workers: currentReady(s), ms, ...(s.reloadWarning === undefined ? {} : { warning: s.reloadWarning }) });
      s.reload = { phase: 'settling' };
    }
    if (s.reload.phase === 'settling' && [...s.workers.values()].every((w) => w.generation === s.generation)) {
      s.reload = { phase: 'idle' };
    }
    if (s.run.phase === 'running' && s.reload.phase === 'idle' && s.reloadAgain) {
      s.reloadAgain = false;
      this.#log('info', {}, 'starting the reload asked for during the last one');
      this.#beginReload();
    }
  }

  #spawned(id: number, pid: number): void {
    const w = this.#s.workers.get(id);
    if (w === undefined) return;
    w.pid = pid;
    this.#log('info', { worker_id: id, worker_pid: pid }, `booting worker ${id} with pid ${pid}`);
    this.#emit({ do: 'hook', name: 'postFork', args: [{ id, pid }] });
  }

  // ---- worker messages -------------------------------------------------------

  #message(e: Extract<ArbiterEvent, { kind: 'message' }>, now: number): void {
    const s = this.#s;
    const w = s.workers.get(e.id);
    if (w === undefined) return;
    const m = e.message;
    switch (m.act) {
      case 'gwserver:ready':
        if (w.status.phase === 'booting') w.status = { phase: 'ready' };
        w.lastBeat = now;
        s.bootFailures = 0;
        this.#log('info', { worker_id: w.id, worker_pid: w.pid, ms: now - w.startedAt }, `worker ${w.id} ready`);
        break;
      case 'gwserver:heartbeat':
        w.lastBeat = now;
        w.requests = m.requests;
        if (m.load !== undefined && w.status.phase !== 'booting') w.load = m.load;
        break;
      case 'gwserver:retire':
        w.requests = m.requests;
        if (w.status.phase === 'ready' && w.generation === s.generation && !isStopping(s)) this.#emit(...retire(w, m.reason));
        break;
      case 'gwserver:boot-error':
        if (w.status.phase === 'booting') w.status = { phase: 'booting', bootError: { kind: m.kind, message: m.message } };
        break;
    }
  }

  // ---- signals ---------------------------------------------------------------

  #signal(sig: MasterSignal): void {
    this.#log('info', { signal: sig }, `handling ${sig}`);
    switch (sig) {
      case 'SIGTERM':
        return this.#stop(true);
      case 'SIGINT':
      case 'SIGQUIT':
        return this.#stop(false);
      case 'SIGHUP':
        return this.#requestReload();
      case 'SIGTTIN':
        this.#changeWorkers(+1, sig);
        return;
      case 'SIGTTOU':
        this.#changeWorkers(-1, sig);
        return;
      case 'SIGUSR1':
        return this.#reopen();
      case 'SIGUSR2':
        if (isStopping(this.#s)) return this.#log('info', {}, 'USR2 ignored: the master is stopping');
        return this.#emit({ do: 'reexec' });
      case 'SIGWINCH':
        // A terminal resize sends WINCH too: only a detached master obeys it (as gunicorn, which only does when daemonized).
        if (this.#o.inTerminal()) return this.#log('info', {}, 'SIGWINCH ignored: gwserver runs in a terminal');
        this.#log('info', {}, 'SIGWINCH: stopping all workers gracefully (the master keeps the sockets)');
        return this.#setWorkers(0);
    }
  }

  /** USR1, or gwserverctl reopen: the master's log files, then every worker's. */
  #reopen(): void {
    this.#emit({ do: 'reopen-logs' });
    for (const w of this.#s.workers.values()) this.#emit({ do: 'signal', id: w.id, signal: 'SIGUSR1' });
    this.#log('info', {}, 'log files reopened');
  }

  // ---- the control socket ------------------------------------------------------

  /**
   * A command from the control socket (gwserverctl): the questions go to the
   * arbiter, which gathers the answer (`answer`); the orders are decided
   * here, as the signals that mean the same (TTIN, TTOU, USR1, HUP, TERM,
   * INT), and answered with a `reply`. `reload` is answered when the new
   * generation is ready, or the reload failed.
   */
  #control(id: number, c: ControlCommand, now: number): void {
    const s = this.#s;
    const reply = (r: ControlReply) => this.#emit({ do: 'reply', id, reply: r });
    switch (c.cmd) {
      case 'status':
      case 'workers':
      case 'stack':
      case 'config':
      case 'stats':
        return this.#emit({ do: 'answer', id, command: c });
      default:
        break;
    }
    if (isStopping(s)) return reply({ ok: false, error: 'the master is shutting down' });
    this.#log('info', { command: c }, `control socket: ${c.cmd}`);
    switch (c.cmd) {
      case 'reload': {
        const before = s.reloads;
        this.#requestReload();
        // Begun now, or queued behind the boot or the reload in progress: the next to begin.
        s.reloadWaiters.push({ id, reload: s.reloads > before ? s.reloads : s.reloads + 1 });
        return;
      }
      case 'add':
      case 'remove': {
        // As N TTINs or TTOUs: with adaptive workers, both bounds move too.
        const r = this.#changeWorkers(c.cmd === 'add' ? c.n : -c.n, `gwserverctl ${c.cmd} ${c.n}`);
        if (typeof r === 'string') return reply({ ok: false, error: `${r}: the master keeps at least one` });
        return reply({ ok: true, ...r });
      }
      case 'kill': {
        const w = s.workers.get(c.worker) ?? [...s.workers.values()].find((x) => x.pid === c.worker);
        if (w === undefined) return reply({ ok: false, error: `no worker with id or pid ${c.worker}` });
        this.#emit(...stopWorker(s, w, 'killed', c.graceful, now));
        return reply({ ok: true, worker: w.id, pid: w.pid, signal: c.graceful ? 'SIGTERM' : 'SIGQUIT' });
      }
      case 'reopen':
        this.#reopen();
        return reply({ ok: true });
      case 'shutdown':
        reply({ ok: true, graceful: c.graceful });
        return this.#stop(c.graceful);
    }
  }

  /** Answers the `gwserverctl reload`s waiting for reload number `n` (all of them: `n` undefined). */
  #answerReloads(n: number | undefined, r: ControlReply): void {
    const s = this.#s;
    const waiting = s.reloadWaiters.filter((w) => n === undefined || w.reload === n);
    if (waiting.length === 0) return;
    s.reloadWaiters = s.reloadWaiters.filter((w) => !waiting.includes(w));
    for (const w of waiting) this.#emit({ do: 'reply', id: w.id, reply: r });
  }

  /**
   * TTIN and TTOU (`by` +1, -1), and gwserverctl add N and remove N (+N,
   * -N): one change, whichever asked for it. Without adaptive workers, the
   * number of workers moves by `by` (a decrease keeps at least one). With
   * them, both bounds move by `by` (the minimum stays at least 1, the maximum
   * at least the minimum), and so does the number of workers, kept within
   * them: that many workers more or fewer now, and for good (the scaler
   * keeps to the new bounds). After WINCH (no workers), an increase brings
   * back the minimum (without adaptive workers: `by` workers).
   *
   * Returns what changed (gwserverctl's reply), or, when nothing did, why
   * (`already at ...`, logged with `what` asked for it).
   */
  #changeWorkers(by: number, what: string): { workers: number; previous: number; workersMin?: number; workersMax?: number; previousMin?: number; previousMax?: number } | string {
    const s = this.#s;
    const previous = s.numWorkers;
    const sc = s.scaler;
    if (sc === undefined) {
      const n = by > 0 ? previous + by : Math.max(Math.min(previous, 1), previous + by);
      if (n === previous) {
        const why = `already at ${workers(previous)}`;
        this.#log('info', {}, `${what}: ${why}`);
        return why;
      }
      this.#setWorkers(n);
      return { workers: n, previous };
    }
    const bounds = { workersMin: sc.min, workersMax: sc.max, previousMin: sc.min, previousMax: sc.max };
    if (by > 0 && previous === 0) {
      this.#setWorkers(sc.min);
      return { workers: sc.min, previous, ...bounds };
    }
    const min = Math.max(1, sc.min + by);
    const max = Math.max(min, sc.max + by);
    const n = previous === 0 ? 0 : bounded({ min, max }, previous + by);
    if (min === sc.min && max === sc.max && n === previous) {
      const why = `already at --workers-min ${min} --workers-max ${max}, ${workers(n)}`;
      this.#log('info', { workers_min: min, workers_max: max }, `${what}: ${why}`);
      return why;
    }
    this.#log('info', { workers_min: min, workers_max: max, previous_min: sc.min, previous_max: sc.max }, `adaptive workers: bounds ${sc.min}-${sc.max} -> ${min}-${max}`);
    sc.min = min;
    sc.max = max;
    sc.belowSince = 0;
    if (n !== previous) this.#setWorkers(n);
    return { workers: n, previous, workersMin: min, workersMax: max, previousMin: bounds.previousMin, previousMax: bounds.previousMax };
  }

  #setWorkers(n: number): void {
    const old = this.#s.numWorkers;
    this.#s.numWorkers = n;
    this.#log('info', { workers: n, previous: old }, `number of workers: ${old} -> ${n}`);
    this.#emit({ do: 'hook', name: 'nworkersChanged', args: [n, old] });
  }

  // ---- reload ------------------------------------------------------------------

  /** HUP, or a source file changed: reload now, or once the boot or the reload in progress is over. */
  #requestReload(): void {
    const s = this.#s;
    if (isStopping(s)) return;
    if (s.run.phase !== 'running' || s.reload.phase !== 'idle') {
      if (!s.reloadAgain) {
        s.reloadAgain = true;
        const now = s.run.phase === 'running' ? 'a reload is in progress' : 'the workers are booting';
        this.#log('info', { reload: s.reload.phase }, `${now}: the reload will start once it is over`);
      }
      return;
    }
    this.#beginReload();
  }

  /**
   * A reload: RELOADING=1, the configuration read again, the onReload hook,
   * then a new generation boots while the old one serves. Each async step
   * reports its end with an event ({@link #done}).
   */
  #beginReload(): void {
    this.#s.reloads++;
    this.#s.reloadWarning = undefined;
    this.#s.reload = { phase: 'notifying', startedAt: this.#o.now() };
    this.#emit({ do: 'notify', state: 'reloading', then: { kind: 'done', step: 'notify-reloading' } });
  }

  #done(e: StepDone, now: number): void {
    const s = this.#s;
    const r = s.reload;
    switch (e.step) {
      case 'watch':
        if (s.run.phase === 'starting') s.run = { phase: 'booting' };
        break;
      case 'pre-fork':
        s.forking.delete(e.id);
        // A master on its way out forks nothing more.
        if (s.run.phase === 'booting' || s.run.phase === 'running') this.#emit({ do: 'spawn', id: e.id, generation: s.generation });
        break;
      case 'notify-reloading':
        if (r.phase !== 'notifying') break;
        if (isStopping(s)) {
          s.reload = { phase: 'idle' };
        } else if (this.#o.canReadConfig) {
          s.reload = { phase: 'reading', startedAt: r.startedAt };
          this.#emit({ do: 'read-config' });
        } else {
          this.#onReloadHook(r.startedAt);
        }
        break;
      case 'read-config':
        if (r.phase !== 'reading') break;
        if (e.next !== undefined) this.#applyConfig(e.next);
        else {
          this.#log('error', { reason: e.error }, `reload: the configuration is invalid, keeping the current one: ${e.error}`);
          s.reloadWarning = `the configuration is invalid, the current one was kept: ${e.error}`;
        }
        this.#onReloadHook(r.startedAt);
        break;
      case 'on-reload':
        if (r.phase !== 'hook') break;
        if (isStopping(s)) s.reload = { phase: 'idle' };
        else this.#roll(r.startedAt);
        break;
      case 'notify-stopping':
        if (s.run.phase !== 'stopping' || s.run.notified) break;
        s.run = { ...s.run, notified: true };
        // Round-robin: leave new connections in the kernel's queue (for a new master after USR2, or systemd).
        this.#emit({ do: 'stop-accepting' });
        for (const w of s.workers.values()) this.#emit(...stopWorker(s, w, 'shutdown', s.run.graceful, now));
        break;
      case 'read-report': {
        const w = s.workers.get(e.id);
        if (w === undefined) break;
        // Empty when the loop was blocked outside JavaScript (a native call), which cannot be paused.
        const stack = e.stack || undefined;
        this.#log(
          'error',
          { worker_id: w.id, worker_pid: w.pid, silent_ms: e.silentMs, stack: stack ?? '(no stack captured)', capture_error: e.captureError },
          `worker ${w.id} timed out: its event loop has been blocked for ${Math.round(e.silentMs / 100) / 10} s${stack ? `\n${stack}` : ''}`,
        );
        this.#emit({ do: 'count', metric: 'timeout' });
        // The hook runs before the kill (it may want to look at the process), but a hung hook must not keep a stuck worker alive.
        this.#emit({ do: 'hook', name: 'workerTimeout', args: [{ id: w.id, pid: w.pid }, stack ?? ''], timeoutMs: 2000, then: { kind: 'done', step: 'worker-timeout', id: w.id } });
        break;
      }
      case 'worker-timeout':
        if (s.workers.has(e.id)) this.#emit({ do: 'signal', id: e.id, signal: 'SIGKILL' });
        break;
      case 'reexec':
        s.upgrade = { phase: 'idle' };
        break;
    }
  }

  #onReloadHook(startedAt: number): void {
    this.#s.reload = { phase: 'hook', startedAt };
    this.#emit({ do: 'hook', name: 'onReload', args: [], then: { kind: 'done', step: 'on-reload' } });
  }

  /** The configuration read again: what a HUP can change, it changes; the rest is said. */
  #applyConfig(next: NonNullable<Extract<StepDone, { step: 'read-config' }>['next']>): void {
    const s = this.#s;
    // What the master set up once keeps its value (settings.ts says which: `applies: 'restart'`).
    const { config, kept } = onHup(s.config, next.config);
    for (const k of kept) {
      const metrics = k.name === 'metricsBind' || k.name === 'metricsBuckets';
      const when = metrics ? 'on a restart, not on HUP (nor USR2, which keeps the metrics socket)' : 'on a restart or an upgrade (USR2), not on HUP';
      this.#log('warn', { setting: k.name, value: k.next, kept: k.now }, `${k.flag ?? k.name} ${shown(k.next)} takes effect ${when}: still ${shown(k.now)}`);
    }
    s.config = config;
    s.app = next.target;
    s.configFile = next.configFile;
    s.configSource = next.configSource;
    s.tls = next.tls;
    const scaler = scalerFor(next.config);
    if (scaler === undefined) {
      s.scaler = undefined;
      if (next.config.workers !== s.numWorkers) this.#setWorkers(next.config.workers);
      return;
    }
    // Adaptive workers: the bounds are the configuration's again (TTIN and TTOU are forgotten, as a HUP forgets them without),
    // and the number of workers stays where the load put it, within them (after WINCH: -w's, within them).
    s.scaler = scaler;
    const n = bounded(scaler, s.numWorkers === 0 ? next.config.workers : s.numWorkers);
    if (n !== s.numWorkers) this.#setWorkers(n);
  }

  /** A new generation: manage boots it; the workers of the others serve (or boot) until it is complete, then stop. */
  #roll(startedAt: number): void {
    const s = this.#s;
    const from = s.generation;
    const to = ++s.lastGeneration;
    s.generation = to;
    s.reload = { phase: 'rolling', startedAt, from, to };
    this.#log('info', { generation: to, workers: s.numWorkers }, 'reloading: booting new workers');
  }

  /** The reload's new generation cannot boot: the old generation (what is left of it) is current again, the new one stops. */
  #cancelReload(): void {
    const s = this.#s;
    const r = s.reload;
    if (r.phase !== 'rolling') return;
    const now = this.#o.now();
    s.generation = r.from;
    s.reload = { phase: 'settling' };
    // Why: the error logged with the decision to cancel.
    const why = [...this.#out].reverse().find((a) => a.do === 'log' && a.level !== 'info');
    this.#answerReloads(s.reloads, { ok: false, error: why?.do === 'log' ? why.msg : 'the new workers could not boot; the running workers keep serving' });
    for (const w of s.workers.values()) {
      if (w.generation === r.to) this.#emit(...stopWorker(s, w, 'boot-failure', false, now));
    }
    this.#emit({ do: 'notify', state: 'ready' });
  }

  // ---- stop ----------------------------------------------------------------

  /**
   * TERM (graceful) or INT/QUIT (quick): STOPPING=1, then every worker is
   * told to stop; once none is left, the master exits. A quick stop during
   * a graceful one hurries it.
   */
  #stop(graceful: boolean): void {
    const s = this.#s;
    if (s.run.phase === 'exiting') return;
    if (s.run.phase === 'stopping') {
      if (!graceful) {
        const now = this.#o.now();
        for (const w of s.workers.values()) this.#emit(...stopWorker(s, w, 'shutdown', false, now));
      }
      return;
    }
    if (s.run.phase === 'running') this.#emit({ do: 'tick', on: false });
    s.run = { phase: 'stopping', graceful, notified: false };
    s.reloadAgain = false;
    this.#answerReloads(undefined, { ok: false, error: 'the master is shutting down: the reload was given up' });
    this.#log('info', { graceful }, graceful ? 'shutting down gracefully' : 'shutting down');
    this.#emit({ do: 'notify', state: 'stopping', then: { kind: 'done', step: 'notify-stopping' } });
  }

  // ---- upgrade (USR2) -----------------------------------------------------------

  /** The new master took over: this one retires, unless --keep-old-master keeps it serving until WINCH and TERM. */
  #handedOver(pid: number): void {
    const s = this.#s;
    if (isStopping(s)) return;
    if (s.config.keepOldMaster) {
      this.#log('info', { new_master_pid: pid }, `--keep-old-master: this master (pid ${this.#o.pid}) and its workers keep running; stop them with WINCH, then TERM`);
    } else {
      this.#log('info', { new_master_pid: pid }, `the new master (pid ${pid}) took over: this master stops gracefully`);
      this.#stop(true);
    }
  }
}

/** A setting's value in a log line. */
function shown(v: unknown): string {
  if (v === '') return "''";
  return typeof v === 'string' ? v : JSON.stringify(v);
}
