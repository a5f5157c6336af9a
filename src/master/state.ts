/**
 * The arbiter's state as plain data: the table of workers, one record per
 * worker process whose life is one discriminated union ({@link WorkerStatus}),
 * and the phases of the master itself: starting, booting its first
 * generation, running, stopping; a reload in progress; an upgrade (USR2) in
 * progress.
 *
 * Only src/master/core.ts changes it, while it handles one event of the
 * arbiter's queue; the decisions (src/master/decisions.ts) only read it. No
 * process, timer or file here: a test builds a state by hand.
 *
 * @module
 */
import type { Config } from '../config/settings.js';
import { EXIT } from '../ipc/exit-codes.js';
import type { TlsMaterial, WorkerLoad, WorkerState } from '../ipc/protocol.js';

/** The settings the master runs with (every setting: the registry declares the container's too). */
export type MasterConfig = Readonly<Config>;

/** Why a worker was (or is being) stopped. */
export type ExitReason = 'timeout' | 'memory' | 'max-requests' | 'lifetime' | 'reload' | 'shutdown' | 'scale-down' | 'boot-failure' | 'killed';

/** Why a serving worker of the current generation is replaced: a replacement boots first, then it stops. */
export type RetireReason = Extract<ExitReason, 'max-requests' | 'memory' | 'lifetime'>;

/** What a worker said (`gwserver:boot-error`) before it exited while booting. */
export interface BootError {
  kind: 'app-load' | 'listen' | 'boot';
  message: string;
}

/**
 * A worker's life, as the master sees it. The worker itself knows three
 * states (`WorkerState` in src/ipc/protocol.ts: what the round-robin and the
 * metrics read, see {@link wireState}); the master adds why it is replacing
 * or stopping one. A reload replaces a whole generation: a worker of another
 * generation than the current one ({@link WorkerRecord.generation}) is on its
 * way out whatever its phase, and keeps booting or serving until enough
 * workers of the current one are ready ({@link replaced}).
 */
export type WorkerStatus =
  /** Forked, loading the app. `bootError`: what it said before dying, when it did. */
  | { phase: 'booting'; bootError?: BootError }
  /** Serving: it said `gwserver:ready`. */
  | { phase: 'ready' }
  /** Serving (a worker of the current generation) until its replacement is ready, then stopped for `reason`. */
  | { phase: 'retiring'; reason: RetireReason }
  /**
   * Told to exit (SIGTERM or SIGQUIT), or timed out and about to get SIGKILL.
   * `killAt`: when it gets SIGKILL if it is still there (`graceMs` after it
   * was told); absent for a timed-out worker, killed once the workerTimeout
   * hook returned.
   */
  | { phase: 'stopping'; reason: ExitReason; graceMs?: number; killAt?: number };

/** The master's record of one worker process. */
export interface WorkerRecord {
  /** gwserver's worker number (1, 2, ...): never reused. */
  readonly id: number;
  /** 0 until node:cluster forked it. */
  pid: number;
  /** The reload it was started in: a HUP starts a new generation. */
  readonly generation: number;
  /** When it was forked (ms). */
  readonly startedAt: number;
  /** Its last heartbeat (ms; its fork, then its `gwserver:ready`). */
  lastBeat: number;
  /** Requests served, as its last heartbeat said. */
  requests: number;
  /**
   * How busy it is, as its last timed heartbeat said: requests in flight, event-loop utilization and lag (the
   * adaptive scaler, gwserverctl workers). Absent until its first heartbeat since it was ready.
   */
  load?: WorkerLoad;
  /** When --max-worker-lifetime (with its jitter, drawn at fork) is up (ms); 0: never. */
  readonly retireAt: number;
  status: WorkerStatus;
}

/** The master's own life. */
export type RunPhase =
  /** Sockets being opened, hooks and the --reload watcher being set up: events wait in the queue. */
  | { phase: 'starting' }
  /** The first generation boots: a worker that cannot load the app or boot halts the master. */
  | { phase: 'booting' }
  | { phase: 'running' }
  /** TERM (graceful), INT or QUIT. `notified`: systemd was told STOPPING=1 and the workers were told to stop. */
  | { phase: 'stopping'; graceful: boolean; notified: boolean }
  /** Every worker is gone: releasing the sockets, the pid file, onExit. */
  | { phase: 'exiting' };

/**
 * A reload (HUP, or a --reload watcher event), one at a time: a request
 * while one is in progress sets {@link ArbiterState.reloadAgain}, and exactly
 * one more reload follows when this one has settled.
 */
export type ReloadPhase =
  | { phase: 'idle' }
  /** RELOADING=1 to systemd. */
  | { phase: 'notifying'; startedAt: number }
  /** The configuration is read again. */
  | { phase: 'reading'; startedAt: number }
  /** The onReload hook runs. */
  | { phase: 'hook'; startedAt: number }
  /** Generation `to` (now current) boots; generation `from` serves until `to` is complete. */
  | { phase: 'rolling'; startedAt: number; from: number; to: number }
  /** The current generation serves; the workers of any other generation are on their way out. */
  | { phase: 'settling' };

/**
 * Adaptive workers (--workers-max): the bounds the number of workers moves
 * within, and what the scale decision remembers from one tick to the next
 * (src/master/decisions.ts `scale`).
 */
export interface Scaler {
  /** --workers-min (TTIN and TTOU move it). */
  min: number;
  /** --workers-max (TTIN and TTOU move it). */
  max: number;
  /** Since when the load has needed fewer workers than there are (ms; 0: it has not). */
  belowSince: number;
  /** Backlog samples in a row that found connections waiting. */
  backlogHits: number;
}

/** The scaler a configuration asks for (undefined: adaptive workers are off). */
export function scalerFor(config: Pick<MasterConfig, 'workersMin' | 'workersMax'>): Scaler | undefined {
  if (!(config.workersMax > 0)) return undefined;
  return { min: config.workersMin, max: config.workersMax, belowSince: 0, backlogHits: 0 };
}

/** `n` within the scaler's bounds. */
export function bounded(scaler: Pick<Scaler, 'min' | 'max'>, n: number): number {
  return Math.min(scaler.max, Math.max(scaler.min, n));
}

/** USR2: a new master being started (the preExec hook, then the spawn: src/master/reexec.ts). */
export type UpgradePhase = { phase: 'idle' } | { phase: 'starting' };

export interface ArbiterState {
  config: MasterConfig;
  /** The app, MODULE:CALLABLE. */
  app: string;
  configFile?: string | undefined;
  configSource?: string | undefined;
  /** The TLS key and certificates the workers ask for at boot (--certfile; read at start and on each HUP). */
  tls?: TlsMaterial | undefined;
  /** The metrics settings as started: a HUP cannot change them (mixed histogram buckets would not add up). */
  readonly metricsSettings: { readonly metricsBind: string; readonly metricsBuckets: readonly number[] };
  /** The addresses of the sockets, as logged. */
  addresses: readonly string[];
  /** How many workers the master aims for (-w, TTIN, TTOU, WINCH, a HUP, the adaptive scaler). */
  numWorkers: number;
  /** Adaptive workers (--workers-max); undefined: off. */
  scaler: Scaler | undefined;
  /** The table: every worker process, by id. */
  readonly workers: Map<number, WorkerRecord>;
  /** Workers whose preFork hook runs: no process yet, counted as on their way. */
  readonly forking: Set<number>;
  lastId: number;
  /** The generation the master keeps complete. */
  generation: number;
  /** The highest generation ever started (a cancelled reload's number is not reused). */
  lastGeneration: number;
  /** The first generation was complete once: from now on a worker that cannot boot no longer halts the master. */
  booted: boolean;
  /** Workers in a row that died while booting (reset by a `gwserver:ready`). */
  bootFailures: number;
  /** No fork before this (ms): the backoff after boot failures. */
  nextSpawnAt: number;
  /** The time a wake-up is armed for (0: none). */
  wakeAt: number;
  run: RunPhase;
  reload: ReloadPhase;
  /** A reload was asked for while one was in progress: one more follows. */
  reloadAgain: boolean;
  upgrade: UpgradePhase;
  exitCode: number;
  /** Reloads begun so far (the number of the one in progress). */
  reloads: number;
  /** What the reload in progress has to say besides its outcome (its configuration could not be read), for `gwserverctl reload`. */
  reloadWarning?: string | undefined;
  /** Control requests (`gwserverctl reload`) waiting for the end of reload number `reload`. */
  reloadWaiters: Array<{ id: number; reload: number }>;
}

/** What the worker's own three states make of a status (the round-robin and the metrics read these). */
export function wireState(status: WorkerStatus): WorkerState {
  switch (status.phase) {
    case 'booting':
      return 'booting';
    case 'ready':
    case 'retiring':
      return 'ready';
    case 'stopping':
      return 'stopping';
  }
}

/** Workers of the current generation that serve and are not being replaced. */
export function currentReady(s: Readonly<ArbiterState>): number {
  let n = 0;
  for (const w of s.workers.values()) if (w.generation === s.generation && w.status.phase === 'ready') n++;
  return n;
}

/**
 * Workers to stop as soon as enough workers of the current generation are
 * ready: those retiring, and those of another generation (a reload) that
 * are not stopping yet. Oldest first.
 */
export function replaced(s: Readonly<ArbiterState>): WorkerRecord[] {
  return [...s.workers.values()]
    .filter((w) => w.status.phase === 'retiring' || (w.generation !== s.generation && w.status.phase !== 'stopping'))
    .sort((a, b) => a.startedAt - b.startedAt);
}

/** Workers of the current generation that count toward --workers: booting or ready, not retiring or stopping. */
export function activeWorkers(s: Readonly<ArbiterState>): WorkerRecord[] {
  return [...s.workers.values()].filter((w) => w.generation === s.generation && (w.status.phase === 'booting' || w.status.phase === 'ready'));
}

/** Whether the master is on its way out (TERM, INT, QUIT, a halt). */
export function isStopping(s: Readonly<ArbiterState>): boolean {
  return s.run.phase === 'stopping' || s.run.phase === 'exiting';
}

/** `1 worker`, `2 workers`. */
export function workers(n: number): string {
  return `${n} worker${n === 1 ? '' : 's'}`;
}

/** A fresh state, before the sockets are open. */
export function initialState(init: { config: MasterConfig; app: string; configFile?: string | undefined; configSource?: string | undefined; tls?: TlsMaterial | undefined }): ArbiterState {
  const scaler = scalerFor(init.config);
  return {
    config: init.config,
    app: init.app,
    configFile: init.configFile,
    configSource: init.configSource,
    tls: init.tls,
    metricsSettings: { metricsBind: init.config.metricsBind, metricsBuckets: init.config.metricsBuckets },
    addresses: [],
    numWorkers: scaler === undefined ? init.config.workers : bounded(scaler, init.config.workers),
    scaler,
    workers: new Map(),
    forking: new Set(),
    lastId: 0,
    generation: 1,
    lastGeneration: 1,
    booted: false,
    bootFailures: 0,
    nextSpawnAt: 0,
    wakeAt: 0,
    run: { phase: 'starting' },
    reload: { phase: 'idle' },
    reloadAgain: false,
    upgrade: { phase: 'idle' },
    exitCode: EXIT.OK,
    reloads: 0,
    reloadWaiters: [],
  };
}
