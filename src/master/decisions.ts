/**
 * gunicorn's three steps of supervision as pure decisions: each reads the
 * arbiter's state (src/master/state.ts) and returns the actions to take
 * (src/master/events.ts), and changes nothing itself; src/master/core.ts
 * applies what they decide. A test calls them on a table built by hand
 * (test/unit/master/arbiter.test.ts).
 *
 * - {@link reap}: a worker exited. Log it, run the hooks, count the restart;
 *   a worker that died while booting backs the forks off, cancels the reload
 *   whose code it could not load, or, before the first generation was ever
 *   complete, halts the master (gunicorn's WORKER_BOOT_ERROR, APP_LOAD_ERROR).
 * - {@link murder}: a worker whose heartbeat stopped for --timeout is
 *   killed (after its stack is logged); one over --max-worker-memory is
 *   replaced.
 * - {@link recycle}: a worker whose --max-worker-lifetime is up is replaced,
 *   one at a time (on the tick, after murder).
 * - {@link scale}: adaptive workers (--workers-max): the number of workers
 *   the master aims for, from the load the workers report (on the tick,
 *   before manage, which forks or stops to match).
 * - {@link manage}: fork what is missing (with the backoff), stop what is
 *   extra, and stop the replaced workers as their replacements are ready.
 *
 * @module
 */
import { EXIT } from '../ipc/exit-codes.js';
import type { RestartReason } from '../metrics/master.js';
import type { Action } from './events.js';
import { activeWorkers, bounded, currentReady, isStopping, replaced, type ArbiterState, type ExitReason, type RetireReason, type WorkerRecord } from './state.js';

/** The arbiter's state, as the decisions read it. */
export type View = Readonly<ArbiterState>;

/** How long a quick stop (SIGQUIT) waits before SIGKILL. */
export const QUICK_STOP_MS = 5000;

/** The longest wait between two boots after boot failures in a row. */
export const MAX_BACKOFF_MS = 30_000;

/** The wait before the next fork after `failures` boot failures in a row: 100 ms, doubled each time, up to 30 s. */
export function backoffMs(failures: number): number {
  return Math.min(MAX_BACKOFF_MS, 100 * 2 ** (failures - 1));
}

/**
 * Stop worker `w`: SIGTERM (graceful: it finishes its requests, SIGKILL after
 * --graceful-timeout) or SIGQUIT (at once, SIGKILL after 5 s). A worker
 * already stopping keeps its first reason; telling it again gracefully is
 * nothing, quickly is a hurry.
 */
export function stopWorker(s: View, w: Readonly<WorkerRecord>, reason: ExitReason, graceful: boolean, now: number): Action[] {
  if (w.status.phase === 'stopping' && graceful) return [];
  const graceMs = graceful ? s.config.gracefulTimeout * 1000 : QUICK_STOP_MS;
  return [{
    do: 'stop',
    id: w.id,
    reason: w.status.phase === 'stopping' ? w.status.reason : reason,
    signal: graceful ? 'SIGTERM' : 'SIGQUIT',
    graceMs,
    killAt: now + graceMs,
  }];
}

/** Replace worker `w` (serving, of the current generation) for `reason`: a replacement boots first, then it stops. */
export function retire(w: Readonly<WorkerRecord>, reason: RetireReason): Action[] {
  return [
    { do: 'retire', id: w.id, reason },
    { do: 'log', level: 'info', fields: { worker_id: w.id, worker_pid: w.pid, reason }, msg: `replacing worker ${w.id} (${reason})` },
  ];
}

/**
 * Keep the number of workers right: stop the replaced workers (retiring, or
 * of an older generation) as their replacements are ready (oldest first), fork what the current generation
 * lacks (not before the backoff is over), and stop what it has too many of
 * (oldest first, as gunicorn does).
 */
export function manage(s: View, now: number): Action[] {
  if (s.run.phase !== 'booting' && s.run.phase !== 'running') return [];
  const actions: Action[] = [];
  const leaving = replaced(s);
  let surplus = currentReady(s) + leaving.length - s.numWorkers;
  for (const w of leaving) {
    if (surplus <= 0) break;
    actions.push(...stopWorker(s, w, w.status.phase === 'retiring' ? w.status.reason : 'reload', true, now));
    surplus--;
  }
  const active = activeWorkers(s);
  const coming = active.length + s.forking.size;
  if (coming < s.numWorkers) {
    if (now < s.nextSpawnAt) {
      if (s.wakeAt !== s.nextSpawnAt) actions.push({ do: 'wake-at', at: s.nextSpawnAt });
    } else {
      for (let i = 1; i <= s.numWorkers - coming; i++) actions.push({ do: 'fork', id: s.lastId + i });
    }
  } else if (active.length > s.numWorkers) {
    const extra = active.sort((a, b) => a.startedAt - b.startedAt).slice(0, active.length - s.numWorkers);
    for (const w of extra) actions.push(...stopWorker(s, w, 'scale-down', true, now));
  }
  return actions;
}

/**
 * Kill the workers whose event loop stopped (no heartbeat for --timeout: a
 * `time-out`, which logs the stack the worker's watchdog captured, runs the
 * workerTimeout hook, then SIGKILL), and replace those over
 * --max-worker-memory (`rss`: MiB by worker id, as sampled).
 */
export function murder(s: View, now: number, rss?: ReadonlyMap<number, number>): Action[] {
  const actions: Action[] = [];
  const timeoutMs = s.config.timeout * 1000;
  const maxMem = s.config.maxWorkerMemory;
  for (const w of s.workers.values()) {
    const serving = w.status.phase === 'ready' || w.status.phase === 'retiring';
    if (timeoutMs > 0 && serving && now - w.lastBeat > timeoutMs) {
      actions.push({ do: 'time-out', id: w.id, silentMs: now - w.lastBeat });
      continue;
    }
    const mib = rss?.get(w.id);
    if (maxMem > 0 && w.status.phase === 'ready' && w.generation === s.generation && mib !== undefined && mib > maxMem) {
      actions.push(
        { do: 'log', level: 'warn', fields: { worker_id: w.id, worker_pid: w.pid, rss_mib: Math.round(mib), limit_mib: maxMem }, msg: `worker ${w.id} uses ${Math.round(mib)} MiB (over --max-worker-memory ${maxMem})` },
        ...retire(w, 'memory'),
      );
    }
  }
  return actions;
}

/**
 * --max-worker-lifetime: replace the worker whose lifetime (with its jitter)
 * is up, one at a time. While a worker is being replaced (retiring), while
 * a worker of the current generation boots (a replacement on its way, a
 * scale-up), or while a reload is under way, a worker whose time is up
 * waits: its turn comes on a later tick. The oldest due worker goes first.
 */
export function recycle(s: View, now: number): Action[] {
  if (s.config.maxWorkerLifetime <= 0 || s.run.phase !== 'running' || s.reload.phase !== 'idle') return [];
  let due: WorkerRecord | undefined;
  for (const w of s.workers.values()) {
    if (w.status.phase === 'retiring') return [];
    if (w.generation !== s.generation) continue;
    if (w.status.phase === 'booting') return [];
    if (w.status.phase !== 'ready' || w.retireAt <= 0 || w.retireAt > now) continue;
    if (due === undefined || w.retireAt < due.retireAt) due = w;
  }
  if (due === undefined) return [];
  const age = Math.round((now - due.startedAt) / 100) / 10;
  return [
    { do: 'log', level: 'info', fields: { worker_id: due.id, worker_pid: due.pid, age_s: age }, msg: `worker ${due.id} reached --max-worker-lifetime (${age} s old)` },
    ...retire(due, 'lifetime'),
  ];
}

/** Adaptive workers: the event-loop utilization per worker the master aims for. */
export const TARGET_ELU = 0.75;
/** Adaptive workers: a mean lag this late (ms), with event loops at least {@link LAG_ELU} busy, asks for one more worker. */
export const LAG_MS = 100;
/** Below this utilization, lag is the machine's (other processes have the CPUs), which more workers would not help. */
export const LAG_ELU = 0.5;
/** Adaptive workers: backlog samples in a row with connections waiting that ask for one more worker. */
export const BACKLOG_HITS = 2;

/**
 * Adaptive workers (--workers-min, --workers-max): how many workers the
 * load needs, from what the serving workers said in their last heartbeat
 * and the listen backlog (`backlog`, sampled once a second; undefined
 * between samples):
 *
 *     need = max(ceil(requests in flight / --workers-target-inflight),
 *                ceil(sum of event-loop utilizations / 0.75),
 *                workers + 1 if connections waited in the backlog on two samples in a row
 *                        or the mean lag is >= 100 ms with loops >= 50% busy)
 *
 * brought within [min, max]. More than there are: the master aims for that
 * many at once. Fewer: once that has been so for --workers-scale-down-delay,
 * one worker fewer, and again after the same delay. It decides nothing
 * while the master boots, reloads or stops, after WINCH (0 workers), while a
 * worker of the current generation boots (a scale-up, a replacement), and
 * until every serving worker has reported its load since it was ready: so a
 * decision always sees the workers the previous one asked for.
 */
export function scale(s: View, now: number, backlog?: number): Action[] {
  const sc = s.scaler;
  if (sc === undefined) return [];
  const actions: Action[] = [];
  let hits = sc.backlogHits;
  if (backlog !== undefined) hits = backlog > 0 ? hits + 1 : 0;
  let below = sc.belowSince;
  const track = (): Action[] => {
    if (hits !== sc.backlogHits || below !== sc.belowSince) actions.unshift({ do: 'scale-track', belowSince: below, backlogHits: hits });
    return actions;
  };
  if (s.run.phase !== 'running' || s.reload.phase !== 'idle' || s.numWorkers === 0) {
    below = 0;
    return track();
  }
  let ready = 0;
  let serving = 0;
  let inflight = 0;
  let elu = 0;
  let lag = 0;
  for (const w of s.workers.values()) {
    if (w.status.phase === 'booting' && w.generation === s.generation) return track();
    if (w.status.phase !== 'ready' && w.status.phase !== 'retiring') continue;
    if (w.load === undefined) return track();
    serving++;
    if (w.status.phase === 'ready' && w.generation === s.generation) ready++;
    inflight += w.load.inflight;
    elu += w.load.elu;
    lag += w.load.lag;
  }
  const n = s.numWorkers;
  if (s.forking.size > 0 || ready < n || serving === 0) return track();
  const meanElu = elu / serving;
  const meanLag = lag / serving;
  const pressed = hits >= BACKLOG_HITS || (meanLag >= LAG_MS && meanElu >= LAG_ELU);
  const need = Math.max(1, Math.ceil(inflight / s.config.workersTargetInflight), Math.ceil(elu / TARGET_ELU - 1e-9), pressed ? n + 1 : 0);
  const desired = bounded(sc, need);
  const fields = { inflight, elu: Math.round(meanElu * 100) / 100, lag_ms: Math.round(meanLag), backlog: backlog ?? null, workers_min: sc.min, workers_max: sc.max };
  const why = `${inflight} request${inflight === 1 ? '' : 's'} in flight, event loops ${Math.round(meanElu * 100)}% busy, lag ${Math.round(meanLag)} ms${hits >= BACKLOG_HITS ? ', connections waiting in the backlog' : ''}`;
  let to = n;
  if (desired > n) {
    below = 0;
    to = desired;
  } else if (desired < n) {
    if (below === 0) below = now;
    else if (now - below >= s.config.workersScaleDownDelay * 1000) {
      below = now;
      to = n - 1;
    }
  } else {
    below = 0;
  }
  track();
  if (to === n) return actions;
  const direction = to > n ? 'up' : 'down';
  actions.push(
    { do: 'scale', workers: to, direction },
    { do: 'log', level: 'info', fields: { ...fields, workers: to, previous: n, direction }, msg: `adaptive workers: ${n} -> ${to} (${direction}: ${why})` },
    { do: 'hook', name: 'nworkersChanged', args: [to, n] },
    { do: 'count', metric: 'scale', direction },
  );
  return actions;
}

/** A worker's exit, as node:cluster reports it. */
export interface Exit {
  id: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** For `gwserver_worker_restarts_total`: why a worker that exited is replaced; undefined when it is not (a stop, a scale-down). */
export function restartReason(reason: ExitReason | undefined, wasBooting: boolean, e: Exit): RestartReason | undefined {
  if (reason === 'timeout' || reason === 'memory' || reason === 'max-requests' || reason === 'lifetime' || reason === 'reload') return reason;
  // gwserverctl kill: as a TERM sent to the worker by hand.
  if (reason === 'killed') return 'exit';
  if (reason !== undefined) return undefined; // scale-down, shutdown, a cancelled reload: not replaced
  if (wasBooting) return 'boot-failure';
  return e.code === 0 && e.signal === null ? 'exit' : 'crash';
}

/**
 * A worker exited: log it with its reason (the master's, or how it died),
 * run childExit (every exit) and workerExit (a worker the master stopped),
 * count the restart, take it out of the table. One that died while booting
 * on its own is a boot failure ({@link bootFailed}).
 */
export function reap(s: View, e: Exit, now: number): Action[] {
  const w = s.workers.get(e.id);
  if (w === undefined) return [];
  const reason = w.status.phase === 'stopping' ? w.status.reason : undefined;
  const wasBooting = w.status.phase === 'booting';
  const shown = reason ?? (e.signal ? `signal ${e.signal}` : `exit code ${e.code}`);
  const fields = { worker_id: w.id, worker_pid: w.pid, code: e.code, signal: e.signal, reason: shown, requests: w.requests };
  // The master stopped it: expected. A death, or a timeout: a warning.
  const stopped = reason !== undefined && reason !== 'timeout';
  const described = { id: w.id, pid: w.pid, code: e.code, signal: e.signal, reason: shown };
  const actions: Action[] = [
    { do: 'log', level: stopped ? 'info' : 'warn', fields, msg: `worker ${w.id} exited (${shown})` },
    { do: 'hook', name: 'childExit', args: [described] },
  ];
  const restart = isStopping(s) ? undefined : restartReason(reason, wasBooting, e);
  if (restart !== undefined) actions.push({ do: 'count', metric: 'restart', reason: restart });
  if (stopped) actions.push({ do: 'hook', name: 'workerExit', args: [described] });
  actions.push({ do: 'reaped', id: w.id });
  if (!isStopping(s) && wasBooting && reason === undefined) actions.push(...bootFailed(s, w, e.code, now));
  return actions;
}

/**
 * Worker `w` died while booting. An app that cannot be loaded, or a worker
 * that cannot boot (its logs, --user, the sockets), halts a master whose
 * first generation was never complete: respawning would fail the same way.
 * Later, an app that cannot be loaded cancels the reload that wanted it (the
 * serving generation stays), and so does any boot failure of a reload that
 * another reload is waiting behind (the newer change wins). The next fork
 * waits: 100 ms, doubled with each failure in a row, up to 30 s, so that a
 * broken deploy is no fork bomb. A reload cancelled for its app forks
 * nothing more and says so once: the next reload (a save under --reload, a
 * HUP) tries again at once, as a developer fixing a typo expects.
 */
export function bootFailed(s: View, w: Readonly<WorkerRecord>, code: number | null, now: number): Action[] {
  const err = w.status.phase === 'booting' ? w.status.bootError : undefined;
  const rolling = s.reload.phase === 'rolling' ? s.reload : undefined;
  const actions: Action[] = [];
  if (code === EXIT.APP_LOAD_ERROR || err?.kind === 'app-load') {
    if (!s.booted) return halt(EXIT.APP_LOAD_ERROR, err?.message ?? 'the app failed to load');
    const reason = err?.message ?? 'unknown error';
    if (rolling !== undefined && w.generation === rolling.to) {
      return [
        { do: 'log', level: 'error', fields: { worker_id: w.id, reason }, msg: `reload failed: a new worker could not load the app: ${reason}; the running workers keep serving until the next reload` },
        { do: 'cancel-reload' },
      ];
    }
    actions.push({ do: 'log', level: 'error', fields: { worker_id: w.id, reason }, msg: `a new worker could not load the app: ${reason}; the running workers keep serving` });
  } else if (err?.kind === 'listen' || err?.kind === 'boot') {
    if (!s.booted) return halt(EXIT.WORKER_BOOT_ERROR, err.message);
  }
  const givesWay = rolling !== undefined && s.reloadAgain && w.generation === rolling.to;
  if (givesWay) {
    actions.push(
      { do: 'log', level: 'warn', fields: { worker_id: w.id, generation: rolling.to }, msg: `worker ${w.id} of the new generation died while booting, and another reload was asked for: this one is cancelled for it` },
      { do: 'cancel-reload' },
    );
  }
  const failures = s.bootFailures + 1;
  const delay = backoffMs(failures);
  actions.push({ do: 'backoff', failures, until: now + delay });
  // Promise a next attempt only when one is forked: the reload that follows, or a replacement that manage forks.
  const others = activeWorkers(s).filter((x) => x.id !== w.id);
  if (givesWay || others.length + s.forking.size < s.numWorkers) {
    actions.push({ do: 'log', level: 'warn', fields: { worker_id: w.id, failures, retry_in_ms: delay }, msg: `worker ${w.id} died while booting; next attempt in ${delay} ms` });
  } else {
    actions.push({ do: 'log', level: 'warn', fields: { worker_id: w.id, failures }, msg: `worker ${w.id} died while booting` });
  }
  return actions;
}

/** Halt: say why (the log, and one line on stderr for whoever started gwserver), then stop quickly and exit with `code`. */
export function halt(code: number, message: string): Action[] {
  return [
    { do: 'log', level: 'error', fields: { exit_code: code }, msg: `halting: ${message}` },
    { do: 'stderr', line: `gwserver: error: ${message}\n` },
    { do: 'halt', code },
  ];
}
