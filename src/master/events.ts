/**
 * The arbiter's vocabulary: the events of its one queue, and the actions it
 * decides on.
 *
 * Everything that happens to the master is an {@link ArbiterEvent}: a
 * signal, a worker's message or exit, the supervision tick, a --reload
 * watcher event, a timer, the completion of an async step it started (a
 * hook, systemd's answer, the configuration read again). src/master/arbiter.ts
 * puts them in one queue; src/master/core.ts handles them one at a time and
 * answers with {@link Action}s. An action changes the arbiter's state (the
 * core applies it as it decides it: a worker `stop`ped is `stopping` at once),
 * touches the world (the arbiter carries it out: a signal sent, a process
 * forked, a line logged), or both. An async action names the event that
 * reports its completion (`then`), so that no step is a promise nobody
 * awaits: the next step is decided when that event is handled.
 *
 * @module
 */
import type { ControlCommand, ControlReply } from '../ipc/control.js';
import type { TlsMaterial, WorkerMessage } from '../ipc/protocol.js';
import type { RestartReason } from '../metrics/master.js';
import type { ExitReason, MasterConfig, RetireReason } from './state.js';

/** The signals the master handles (all queued; see docs/signals.md). */
export const SIGNALS = ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGTTIN', 'SIGTTOU', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;
export type MasterSignal = (typeof SIGNALS)[number];

/** The configuration as read again on HUP. */
export interface ReloadedConfig {
  target: string;
  config: MasterConfig;
  configFile?: string | undefined;
  configSource?: string | undefined;
  /** The TLS key and certificates read again (--certfile; absent: TLS is off). */
  tls?: TlsMaterial | undefined;
}

/** The config file's hooks the master runs (src/config/settings.ts documents each). */
export type MasterHook = 'nworkersChanged' | 'preFork' | 'postFork' | 'onReload' | 'childExit' | 'workerExit' | 'workerTimeout';

/** The completion of an async step the arbiter started. */
export type StepDone =
  /** The --reload watcher is armed. */
  | { kind: 'done'; step: 'watch' }
  /** The preFork hook of worker `id` returned: fork it (unless the master is stopping). */
  | { kind: 'done'; step: 'pre-fork'; id: number }
  /** systemd was told RELOADING=1. */
  | { kind: 'done'; step: 'notify-reloading' }
  /** The configuration was read again: `next`, or why it is invalid. */
  | { kind: 'done'; step: 'read-config'; next?: ReloadedConfig; error?: string }
  /** The onReload hook returned. */
  | { kind: 'done'; step: 'on-reload' }
  /** systemd was told STOPPING=1. */
  | { kind: 'done'; step: 'notify-stopping' }
  /** The stuck-loop report of timed-out worker `id` was read (`stack` empty or absent: none captured). */
  | { kind: 'done'; step: 'read-report'; id: number; silentMs: number; stack?: string | undefined; captureError?: string | undefined }
  /** The workerTimeout hook of worker `id` returned (or took too long). */
  | { kind: 'done'; step: 'worker-timeout'; id: number }
  /** USR2: the new master was started, or the upgrade gave up (src/master/reexec.ts logged why). */
  | { kind: 'done'; step: 'reexec' };

export type ArbiterEvent =
  /** The sockets are open (the first event handled): supervision starts. */
  | { kind: 'opened'; addresses: readonly string[] }
  | { kind: 'signal'; signal: MasterSignal }
  /** A reload asked for without a signal: a source file changed (--reload; `shown` is its path for the log), or a hook called `server.reload()`. */
  | { kind: 'reload'; file?: string; shown?: string }
  /** A stop asked for without a signal (a hook called `server.stop()`). */
  | { kind: 'stop'; graceful: boolean }
  /**
   * The supervision tick (every 250 ms once booted). `rss`: MiB by worker id, sampled when --max-worker-memory is set.
   * `backlog`: connections waiting in the listen backlog of the TCP sockets, sampled once a second with adaptive workers (Linux).
   */
  | { kind: 'tick'; rss?: ReadonlyMap<number, number>; backlog?: number }
  /** A timer armed by a `wake-at` action: the backoff is over. */
  | { kind: 'wake' }
  /** node:cluster forked worker `id` (reported right after the `spawn` action). */
  | { kind: 'spawned'; id: number; pid: number }
  /** A message from worker `id` (the acts the arbiter follows; src/ipc/protocol.ts). */
  | { kind: 'message'; id: number; message: Extract<WorkerMessage, { act: 'gwserver:ready' | 'gwserver:heartbeat' | 'gwserver:retire' | 'gwserver:boot-error' }> }
  /** Worker `id` exited. */
  | { kind: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  /** The grace of a stop is over (armed by the `stop` action whose `killAt` it carries). */
  | { kind: 'kill-due'; id: number; killAt: number }
  /** USR2: the new master is ready and took over. */
  | { kind: 'handed-over'; pid: number }
  /** A command on the control socket (src/master/control.ts); answered by a `reply` or an `answer` action with the same `id`. */
  | { kind: 'control'; id: number; command: ControlCommand }
  | StepDone;

export type Action =
  // ---- workers: the table changes with the action, the arbiter touches the process
  /** Run the preFork hook of a new worker `id` (counted as forking meanwhile), then report `done pre-fork`. */
  | { do: 'fork'; id: number }
  /** Fork worker `id` now, with the current configuration, then report `spawned`. */
  | { do: 'spawn'; id: number; generation: number }
  /** Ask worker `id` to exit (SIGTERM: gracefully; SIGQUIT: at once); SIGKILL at `killAt` (`kill-due`) if it is still there. */
  | { do: 'stop'; id: number; reason: ExitReason; signal: 'SIGTERM' | 'SIGQUIT'; graceMs: number; killAt: number }
  /** Adaptive workers: the master now aims for `workers` (the table only; manage forks or stops). */
  | { do: 'scale'; workers: number; direction: 'up' | 'down' }
  /** Adaptive workers: what the scale decision remembers until the next tick (the table only). */
  | { do: 'scale-track'; belowSince: number; backlogHits: number }
  /** Worker `id` serves until a replacement is ready (the table only). */
  | { do: 'retire'; id: number; reason: RetireReason }
  /** Worker `id` missed --timeout: it is stopping; read its stuck-loop report, then report `done read-report`. */
  | { do: 'time-out'; id: number; silentMs: number }
  | { do: 'signal'; id: number; signal: NodeJS.Signals }
  /** Worker `id` exited: out of the table; release what the arbiter holds for it (report file, metrics). */
  | { do: 'reaped'; id: number }
  // ---- the master's own state (the core alone)
  /** The next fork waits until `until` (`failures` boot failures in a row). */
  | { do: 'backoff'; failures: number; until: number }
  /** Stop quickly and exit with `code`. */
  | { do: 'halt'; code: number }
  /** The reload's new generation cannot boot: the generation it replaces becomes current again. */
  | { do: 'cancel-reload' }
  // ---- the world (the arbiter alone)
  | { do: 'log'; level: 'info' | 'warn' | 'error'; fields: Record<string, unknown>; msg: string }
  /** One line on stderr, for the operator (the master halts). */
  | { do: 'stderr'; line: string }
  /** Run a hook of the config file (a hook that throws is logged); `then` when it returned, at most `timeoutMs` later. */
  | { do: 'hook'; name: MasterHook; args: unknown[]; then?: ArbiterEvent; timeoutMs?: number }
  /** Tell systemd (and an old master, for the first READY=1); `then` once it was told. */
  | { do: 'notify'; state: 'ready' | 'reloading' | 'stopping'; then?: ArbiterEvent }
  /** A `wake` event at `at` (ms). */
  | { do: 'wake-at'; at: number }
  /** Start or stop the supervision tick. */
  | { do: 'tick'; on: boolean }
  /** --reload: arm the source watcher, then report `done watch`. */
  | { do: 'watch' }
  /** HUP: read the configuration again, then report `done read-config`. */
  | { do: 'read-config' }
  /** The first generation is ready: serve an inherited metrics socket, READY=1, the whenReady hook. */
  | { do: 'announce' }
  /** USR1: the master's own log files. */
  | { do: 'reopen-logs' }
  /** USR2: start a new master on the same sockets, then report `done reexec`. */
  | { do: 'reexec' }
  /** Round-robin: stop accepting (the master is on its way out). */
  | { do: 'stop-accepting' }
  /** Answer control request `id` (src/master/control.ts). */
  | { do: 'reply'; id: number; reply: ControlReply }
  /** Answer control request `id` with what the arbiter gathers: the state, the workers' memory and requests in flight, a stack, the settings. */
  | { do: 'answer'; id: number; command: Extract<ControlCommand, { cmd: 'status' | 'workers' | 'stack' | 'config' | 'stats' }> }
  | { do: 'count'; metric: 'restart'; reason: RestartReason }
  | { do: 'count'; metric: 'timeout' }
  | { do: 'count'; metric: 'scale'; direction: 'up' | 'down' }
  /** Every worker is gone: close everything, run onExit, and exit with `code`. */
  | { do: 'exit'; code: number };
