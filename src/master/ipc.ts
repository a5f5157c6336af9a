/**
 * The messages between the master and its workers. Every message is an
 * object whose `act` starts with `gwserver:` (prom-client and cluster share
 * the channel). The master talks to workers with signals (TERM, QUIT, USR1),
 * which work even when a worker's event loop is too busy to read messages.
 *
 * @module
 */
import type { MetricJSON } from '../metrics/types.js';

/** What a worker tells the master. */
export type WorkerMessage =
  | { act: 'gwserver:ready' }
  | { act: 'gwserver:heartbeat'; requests: number }
  | { act: 'gwserver:retire'; reason: 'max-requests'; requests: number }
  | { act: 'gwserver:boot-error'; kind: 'app-load' | 'listen' | 'boot'; message: string }
  /** With --metrics-bind, once a second and at a graceful exit: the worker's cumulative metrics (src/metrics/worker.ts). */
  | { act: 'gwserver:metrics'; metrics: MetricJSON[] };

/** What the master hands a worker at fork, in the GWSERVER_WORKER environment variable. */
export interface WorkerSpec {
  /** MODULE:CALLABLE. */
  target: string;
  /** The resolved settings (JSON-safe part: hooks stay in the config file, which the worker loads). */
  config: Record<string, unknown>;
  /** The config file, when one was used (the worker evaluates it for its hooks). */
  configFile?: string;
  /** The config file's text as the master read it (hooks come from this, not the file as it is now). */
  configSource?: string;
  /** gwserver's worker number (1, 2, ...), stable for the worker's life. */
  id: number;
  /** The listening sockets, as descriptors of the worker (inherited through stdio). */
  fds: number[];
  /** Round-robin scheduling: the number of sockets whose connections the master hands over (then `fds` is empty). */
  roundRobin?: number;
  /** How many workers the master runs (for wsgi.multiprocess). */
  workers: number;
  /** Requests after which the worker asks to be replaced (jitter applied), 0: never. */
  maxRequests: number;
  /** Heartbeat interval in ms (0: none). */
  heartbeatMs: number;
  /** Stuck-loop report threshold for the watchdog (ms, 0: no watchdog). */
  stuckAfterMs: number;
  /** Where the watchdog writes its report for the master to read. */
  reportFile: string;
  /** The cwd gwserver started in (config files are found relative to it). */
  cwd: string;
  /** How gwserver was started: a worker resolves it again for the config file's hooks (functions do not cross IPC). */
  invocation?: { argv: readonly string[]; env: NodeJS.ProcessEnv; cwd: string };
}

/**
 * How often a worker heartbeats for a given --timeout (seconds): four beats
 * per timeout, so that one late beat is not a death sentence; between 100 ms
 * and 1 s, and 1 s without a timeout.
 */
export function heartbeatInterval(timeoutS: number): number {
  const timeoutMs = timeoutS * 1000;
  return timeoutMs > 0 ? Math.max(100, Math.min(1000, Math.floor(timeoutMs / 4))) : 1000;
}

/** Type guard for messages from gwserver's workers. */
export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && typeof (m as { act?: unknown }).act === 'string' && (m as { act: string }).act.startsWith('gwserver:');
}
