/**
 * The master-worker protocol, typed once: every message of both directions
 * (and the one a re-executed master sends its old master), what the master
 * hands a worker at fork, and the worker states both sides speak of.
 *
 * This folder is neutral ground: src/master/ and src/worker/ both import it
 * and never each other. It imports nothing at run time (types of config/
 * and errors.ts at most; see test/unit/architecture/imports.test.ts).
 *
 * Every message is an object whose `act` starts with `gwserver:`:
 * prom-client and node:cluster share the channel, and their messages are
 * left to their own listeners. Each side has ONE listener that hands a
 * message to the handlers of its act (src/ipc/dispatch.ts; the master's in
 * src/master/channel.ts, the worker's in src/worker/channel.ts). The master
 * also talks to workers with signals (TERM, QUIT, USR1), which work even
 * when a worker's event loop is too busy to read messages.
 *
 * @module
 */

/** The prefix of every act of gwserver's. */
export const ACT_PREFIX = 'gwserver:';

/**
 * A worker's life, as the master records it and the worker lives it:
 * forked and loading the app (`booting`), serving after it said
 * `gwserver:ready`, then `stopping` once it was told to (or timed out).
 */
export type WorkerState = 'booting' | 'ready' | 'stopping';

// ---- metrics on the wire ------------------------------------------------

/** One sample: a value with its labels (`metricName` names a histogram's `_bucket`, `_sum`, `_count`). */
export interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/**
 * One metric family, as prom-client's `registry.getMetricsAsJSON()` gives
 * it: the shape a worker's metrics travel in (src/metrics/types.ts).
 */
export interface MetricJSON {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | string;
  values: MetricValue[];
  /** How the master combines the workers' values (prom-client's aggregators; `sum` when absent). */
  aggregator?: string;
}

// ---- worker -> master ---------------------------------------------------

/**
 * How busy a worker is, as each of its heartbeats says: the one place a
 * worker reports its load, read at heartbeat time from what Node already
 * keeps (src/worker/load.ts), never counted on the request path. The
 * adaptive scaler (--workers-max) decides on all three; `gwserverctl workers`
 * and `top` show them. (What a worker serves now, path by path, it says
 * only when asked: `gwserver:inspect`.)
 */
export interface WorkerLoad {
  /** HTTP/1 requests in flight now: connections with a response under way (upgraded connections, WebSockets, are not requests). */
  inflight: number;
  /** The share of the time since the last heartbeat the event loop was busy (0..1): Node's event-loop utilization. */
  elu: number;
  /** How late the heartbeat's timer fired (ms): the event loop's lag. */
  lag: number;
}

/**
 * The worker's reply to a {@link ConnMessage} (`--scheduling round-robin`):
 * `accepted: false` when it is closing (the master gives the connection to
 * another worker). Matched to the hand-off by `seq`.
 */
export interface ConnAckMessage {
  act: 'gwserver:conn-ack';
  seq: number;
  accepted: boolean;
}

/** What a worker tells the master. */
export type WorkerMessage =
  /** Listening: the worker counts as serving from now on. */
  | { act: 'gwserver:ready' }
  /**
   * Every {@link WorkerSpec.heartbeatMs} (the master kills a worker silent past --timeout), and at SIGTERM with the final count.
   * `load`: how busy the worker is now, on every timed beat (not on the last one, at SIGTERM): the adaptive
   * scaler decides on it, and `gwserverctl workers` shows its lag and utilization.
   */
  | { act: 'gwserver:heartbeat'; requests: number; load?: WorkerLoad }
  /** --max-requests reached: the master boots a replacement, then stops this worker. */
  | { act: 'gwserver:retire'; reason: 'max-requests'; requests: number }
  /** Why the worker is about to exit while booting (exit codes in src/ipc/exit-codes.ts). */
  | { act: 'gwserver:boot-error'; kind: 'app-load' | 'listen' | 'boot'; message: string }
  /** With --metrics-bind, once a second and at a graceful exit: the worker's cumulative metrics (src/metrics/worker.ts). */
  | { act: 'gwserver:metrics'; metrics: MetricJSON[] }
  /** --worker-connections reached (full), or room again: round-robin scheduling hands connections to workers with room first. */
  | { act: 'gwserver:full'; full: boolean }
  /** With --certfile, at boot: asks for the key and certificates the master read (answered by a {@link TlsMessage}). */
  | { act: 'gwserver:tls-request' }
  /** The answer to an {@link InspectMessage} (gwserverctl workers, top): what the worker serves now. */
  | { act: 'gwserver:inspected'; seq: number; inFlight: number; slow: Array<{ method: string; path: string; ageMs: number }> }
  | ConnAckMessage;

// ---- master -> worker ---------------------------------------------------

/**
 * `--scheduling round-robin`: the master hands a connection over; its
 * descriptor rides along as the message's handle.
 */
export interface ConnMessage {
  act: 'gwserver:conn';
  seq: number;
  /** Index of the listening socket, in the order of the master's sockets (and the worker's servers). */
  socket: number;
}

/**
 * The TLS key and certificates as the master read them (--certfile,
 * --keyfile, --ca-certs): PEM text. They travel over the IPC channel, never
 * in the worker's environment (which other processes of the same user, and
 * root, can read in /proc), and never as file names: the workers may run as
 * a user who cannot read the files.
 */
export interface TlsMaterial {
  /** The certificate chain (--certfile), PEM. */
  cert: string;
  /** The private key (--keyfile, or the key in --certfile), PEM. */
  key: string;
  /** The CAs for client certificates (--ca-certs), PEM; absent without. */
  ca?: string;
  /**
   * Session ticket keys (48 random bytes, base64) made when the files were
   * read: every worker of a generation encrypts tickets with them, so a
   * client resumes its session on any worker.
   */
  ticketKeys?: string;
}

/** The answer to `gwserver:tls-request`: the material of the master's current configuration (`null`: TLS is off). */
export interface TlsMessage {
  act: 'gwserver:tls';
  tls: TlsMaterial | null;
}

/**
 * The control socket's `workers` and `stats` (src/master/control.ts): what
 * are you serving now? Answered by `gwserver:inspected` with the same
 * `seq`: the requests in flight, and those older than `olderThanMs`.
 * Nothing is recorded on the request path for it: the worker walks its
 * open connections when asked (src/worker/inspect.ts).
 */
export interface InspectMessage {
  act: 'gwserver:inspect';
  seq: number;
  olderThanMs: number;
}

/** What the master tells a worker (the rest it says with signals). */
export type MasterMessage = ConnMessage | TlsMessage | InspectMessage;

// ---- new master -> old master (USR2) -------------------------------------

/** The message a re-executed master sends its old master once its workers are ready (src/master/reexec.ts). */
export interface MasterReadyMessage {
  act: 'gwserver:master-ready';
  pid: number;
}

// ---- at fork ------------------------------------------------------------

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
  /**
   * The unix socket the watchdog thread listens on for a stack taken on
   * demand (`gwserverctl stack`): the thread answers even while the event
   * loop is blocked. Absent: no stacks on demand.
   */
  stackSocket?: string;
  /** The cwd gwserver started in (config files are found relative to it). */
  cwd: string;
  /** How gwserver was started: a worker resolves it again for the config file's hooks (functions do not cross IPC). */
  invocation?: { argv: readonly string[]; env: NodeJS.ProcessEnv; cwd: string };
  /** The format of each log, `--log-format auto` decided by the master (src/logging/logger.ts resolveLogFormats). */
  logFormats?: { error: 'json' | 'text'; access: 'json' | 'text' };
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

/** Whether `m` is one of gwserver's messages (not prom-client's, not node:cluster's). */
export function isGwserverMessage(m: unknown): m is { act: string } {
  return typeof m === 'object' && m !== null && typeof (m as { act?: unknown }).act === 'string' && (m as { act: string }).act.startsWith(ACT_PREFIX);
}
