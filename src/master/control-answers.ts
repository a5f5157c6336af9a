/**
 * The answers to the control socket's questions (`status`, `workers`,
 * `stack`, `config`, `stats`), gathered by the arbiter from what the master
 * already has: its state (the table of workers, their heartbeats, the
 * reload's phase), /proc for memory, the workers' answers to
 * `gwserver:inspect` for what they serve now, a worker's watchdog thread for
 * a stack, and the workers' metrics snapshots (with --metrics-bind) for
 * latencies. The orders (`reload`, `add`, ...) are the core's
 * (src/master/core.ts).
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { processRuns } from '../config/control-path.js';
import { VERSION } from '../config/flags.js';
import type { ControlCommand, ControlReply, InFlightRequest, WorkerInfo } from '../ipc/control.js';
import type { MetricJSON } from '../ipc/protocol.js';
import { oldMasterPid } from './reexec.js';
import type { ArbiterState, WorkerRecord } from './state.js';

/** How long the master waits for a worker's answer to `gwserver:inspect` (a worker whose loop is blocked does not answer). */
const INSPECT_TIMEOUT_MS = 1000;
/** How long it waits for a stack (the capture itself waits at most 1 s for the main thread to pause). */
const STACK_TIMEOUT_MS = 5000;

/** What the arbiter lends the answers. */
export interface AnswerHost {
  state: Readonly<ArbiterState>;
  /** --name, else the app. */
  name: string;
  /** The listening sockets, as logged. */
  addresses: readonly string[];
  controlSocket: string;
  /** When this master started (ms). */
  startedAt: number;
  /** Asks worker `id` what it serves now; undefined when it did not answer in time. */
  inspect(id: number, olderThanMs: number, timeoutMs: number): Promise<{ inFlight: number; slow: InFlightRequest[] } | undefined>;
  /** Worker `id`'s watchdog socket (undefined: it has none, --timeout 0). */
  stackSocket(id: number): string | undefined;
  /** The workers' latest metrics snapshots (--metrics-bind), or undefined. */
  metrics(): Iterable<MetricJSON[]> | undefined;
}

/**
 * Removes the stack sockets (`gwserver-MASTERPID-worker-N.stack.sock`) that
 * workers killed with their master (SIGKILL to both) left in `dir`: a master
 * removes its workers' when they exit, but a dead master cannot.
 */
export function sweepStackSockets(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^gwserver-(\d+)-worker-\d+\.stack\.sock$/.exec(name);
    if (m === null || Number(m[1]) === process.pid || processRuns(Number(m[1]))) continue;
    try {
      unlinkSync(path.join(dir, name));
    } catch {
      // Another master swept it first.
    }
  }
}

/** Resident memory of `pid` in bytes, from /proc (null: unknown). */
function rssBytes(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The settings as JSON: a hook shows as `[function NAME]`. */
export function jsonSettings(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(config).sort()) {
    const v = config[key];
    if (typeof v === 'function') out[key] = `[function ${v.name || 'anonymous'}]`;
    else if (v !== undefined) out[key] = v;
  }
  return out;
}

/** A short digest of the effective settings: it changes when a HUP changed any (scripts compare it across hosts or reloads). */
export function settingsDigest(config: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(JSON.stringify(jsonSettings(config))).digest('hex').slice(0, 16);
}

function stateOf(w: WorkerRecord, current: number): { state: string; reason?: string } {
  const st = w.status;
  if (st.phase === 'retiring') return { state: 'retiring', reason: st.reason };
  if (st.phase === 'stopping') return { state: 'stopping', reason: st.reason };
  if (w.generation !== current) return { state: st.phase, reason: 'reload' };
  return { state: st.phase };
}

async function workersInfo(host: AnswerHost, olderThanMs: number): Promise<WorkerInfo[]> {
  const s = host.state;
  const records = [...s.workers.values()].sort((a, b) => a.id - b.id);
  const answers = await Promise.all(records.map((w) => (w.pid === 0 || w.status.phase === 'booting' ? Promise.resolve(undefined) : host.inspect(w.id, olderThanMs, INSPECT_TIMEOUT_MS))));
  // After the answers: a heartbeat may have come meanwhile.
  const now = Date.now();
  return records.map((w, i) => {
    const a = answers[i];
    return {
      id: w.id,
      pid: w.pid,
      generation: w.generation,
      ...stateOf(w, s.generation),
      ageMs: now - w.startedAt,
      requests: w.requests,
      inFlight: a?.inFlight ?? null,
      rssBytes: w.pid === 0 ? null : rssBytes(w.pid),
      lagMs: w.load?.lag ?? null,
      elu: w.load?.elu ?? null,
      lastBeatMs: now - w.lastBeat,
      slow: a?.slow ?? [],
    };
  });
}

/** Sums the request duration histogram of every worker: cumulative counts by upper bound (seconds; `+Inf` last). */
function latencyBuckets(snapshots: Iterable<MetricJSON[]>): Array<[number, number]> | undefined {
  const byLe = new Map<number, number>();
  let any = false;
  for (const metrics of snapshots) {
    const h = metrics.find((m) => m.name === 'gwserver_http_request_duration_seconds');
    if (h === undefined) continue;
    any = true;
    for (const v of h.values) {
      if (v.metricName !== undefined && !v.metricName.endsWith('_bucket')) continue;
      const le = v.labels.le;
      if (le === undefined) continue;
      const bound = le === '+Inf' ? Infinity : Number(le);
      byLe.set(bound, (byLe.get(bound) ?? 0) + v.value);
    }
  }
  if (!any) return undefined;
  return [...byLe.entries()].sort((a, b) => a[0] - b[0]);
}

/** Asks a worker's watchdog thread for the stack of its main thread (src/worker/watchdog-thread.ts). */
function takeStack(file: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const c = net.connect(file);
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no stack within ${STACK_TIMEOUT_MS / 1000} s`));
    }, STACK_TIMEOUT_MS);
    c.setEncoding('utf8');
    c.on('connect', () => c.write('stack\n'));
    c.on('data', (d: string) => (buf += d));
    c.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    c.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as Record<string, unknown>);
      } catch {
        reject(new Error('the watchdog thread gave no answer'));
      }
    });
  });
}

/** The answer to one of the questions. Never throws: a failure is an error reply. */
export async function answer(host: AnswerHost, c: Extract<ControlCommand, { cmd: 'status' | 'workers' | 'stack' | 'config' | 'stats' }>): Promise<ControlReply> {
  const s = host.state;
  switch (c.cmd) {
    case 'status': {
      const records = [...s.workers.values()];
      const count = (phase: string) => records.filter((w) => w.status.phase === phase).length;
      return {
        ok: true,
        pid: process.pid,
        version: VERSION,
        node: process.version,
        name: host.name,
        app: s.app,
        startedAt: new Date(host.startedAt).toISOString(),
        uptimeMs: Date.now() - host.startedAt,
        phase: s.run.phase,
        generation: s.generation,
        workers: { target: s.numWorkers, booting: count('booting'), ready: count('ready'), retiring: count('retiring'), stopping: count('stopping') },
        // Adaptive workers: the bounds the target moves within now (TTIN, TTOU, add and remove move them); null: off.
        adaptive: s.scaler === undefined ? null : { min: s.scaler.min, max: s.scaler.max },
        listeners: [...host.addresses],
        settingsDigest: settingsDigest(s.config as unknown as Record<string, unknown>),
        reload: { inProgress: s.reload.phase !== 'idle', phase: s.reload.phase, queued: s.reloadAgain },
        upgrade: { inProgress: s.upgrade.phase !== 'idle', oldMasterPid: oldMasterPid() ?? null },
        controlSocket: host.controlSocket,
      };
    }
    case 'config': {
      const settings = jsonSettings(s.config as unknown as Record<string, unknown>);
      return { ok: true, app: s.app, configFile: s.configFile ?? null, settingsDigest: settingsDigest(s.config as unknown as Record<string, unknown>), settings };
    }
    case 'workers':
      return { ok: true, target: s.numWorkers, generation: s.generation, olderThanMs: c.olderThanMs, workers: await workersInfo(host, c.olderThanMs) };
    case 'stats': {
      const workers = await workersInfo(host, Number.MAX_SAFE_INTEGER);
      const snapshots = host.metrics();
      return {
        ok: true,
        at: Date.now(),
        target: s.numWorkers,
        generation: s.generation,
        workers,
        requests: workers.reduce((n, w) => n + w.requests, 0),
        inFlight: workers.reduce((n, w) => n + (w.inFlight ?? 0), 0),
        latencyBuckets: snapshots === undefined ? null : (latencyBuckets(snapshots) ?? null),
      };
    }
    case 'stack': {
      const w = s.workers.get(c.worker) ?? [...s.workers.values()].find((x) => x.pid === c.worker);
      if (w === undefined) return { ok: false, error: `no worker with id or pid ${c.worker}` };
      if (w.status.phase === 'booting') return { ok: false, error: `worker ${w.id} is booting: no stack before it serves` };
      const file = host.stackSocket(w.id);
      if (file === undefined) return { ok: false, error: 'stacks on demand need the watchdog, which --timeout 0 turns off' };
      try {
        const rec = await takeStack(file);
        if (typeof rec.capture_error === 'string' && (rec.frames as unknown[] | undefined)?.length === 0) {
          return { ok: false, error: `worker ${w.id}: ${rec.capture_error}` };
        }
        return { ok: true, worker: w.id, pid: w.pid, blockedMs: rec.blocked_ms, captureMs: rec.capture_ms, stack: rec.stack, frames: rec.frames };
      } catch (err) {
        return { ok: false, error: `worker ${w.id}: cannot take its stack: ${(err as Error).message}` };
      }
    }
  }
}
