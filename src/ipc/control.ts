/**
 * The control socket's protocol (`--control-socket`, `gwserverctl`), typed
 * once for the master that answers and the client that asks.
 *
 * Newline-delimited JSON over a unix socket: each line a client writes is
 * one request object, and the master writes one reply line for it, in
 * order. A request is `{"cmd": NAME, ...arguments, "id": ANY}` (`id` is
 * optional and echoed back); a reply is `{"ok": true, "id": ..., ...result}`
 * or `{"ok": false, "id": ..., "error": MESSAGE}`. docs/operations.md
 * documents every command and its fields, for scripts that speak it
 * without gwserverctl.
 *
 * @module
 */

/** The longest request line the master reads (bytes, newline excluded): a longer one gets an error reply and the connection is closed. */
export const MAX_LINE_BYTES = 64 * 1024;

/** How long the master waits for a client's first request (and between two) before closing its connection (ms). */
export const IDLE_TIMEOUT_MS = 10_000;

/** The commands, by name. */
export const COMMANDS = ['status', 'workers', 'stack', 'reload', 'add', 'remove', 'kill', 'reopen', 'shutdown', 'config', 'stats'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** A request, as parsed and checked by the master. */
export type ControlCommand =
  | { cmd: 'status' }
  /** `olderThanMs`: list the requests in flight for at least this long (default 1000). */
  | { cmd: 'workers'; olderThanMs: number }
  /** `worker`: a worker's id (1, 2, ...) or pid. */
  | { cmd: 'stack'; worker: number }
  | { cmd: 'reload' }
  | { cmd: 'add'; n: number }
  | { cmd: 'remove'; n: number }
  /** `graceful` false: SIGQUIT at once, not SIGTERM. */
  | { cmd: 'kill'; worker: number; graceful: boolean }
  | { cmd: 'reopen' }
  | { cmd: 'shutdown'; graceful: boolean }
  | { cmd: 'config' }
  /** What `top` shows: the workers and the request counters (latency percentiles with --metrics-bind). */
  | { cmd: 'stats' };

/** A request in flight in a worker, as the `workers` command lists it. */
export interface InFlightRequest {
  method: string;
  path: string;
  /** How long it has been in flight (ms), as far as the worker saw: at most a heartbeat short. */
  ageMs: number;
}

/** One worker, as `workers` and `stats` answer. */
export interface WorkerInfo {
  id: number;
  pid: number;
  generation: number;
  /** booting, ready, retiring (replaced once its replacement is ready), stopping. */
  state: string;
  /** Why it is retiring or stopping. */
  reason?: string;
  ageMs: number;
  /** Requests it started, as its last heartbeat said. */
  requests: number;
  /** Requests in flight now (null: the worker did not answer in time). */
  inFlight: number | null;
  /** Resident memory (bytes; null: unknown). */
  rssBytes: number | null;
  /** How late its heartbeat timer fired last (ms): its event loop's lag (null: no heartbeat since it was ready). */
  lagMs: number | null;
  /** How busy its event loop was between its last two heartbeats (0..1: event-loop utilization; null: no heartbeat since it was ready). */
  elu: number | null;
  /** Since its last heartbeat (ms). */
  lastBeatMs: number;
  /** Requests in flight longer than the threshold. */
  slow: InFlightRequest[];
}

/** A reply, as written on the socket. */
export type ControlReply = ({ ok: true } & Record<string, unknown>) | { ok: false; error: string };

/**
 * Parses one request line into a command, or says what is wrong with it.
 * Pure: the master calls it on every line, a test on any string.
 */
export function parseCommand(line: string): { command: ControlCommand; id: unknown } | { error: string; id: unknown } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    return { error: `malformed JSON: ${(err as Error).message}`, id: null };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { error: 'a request is a JSON object: {"cmd": "status"}', id: null };
  const o = v as Record<string, unknown>;
  const id = o.id ?? null;
  const cmd = o.cmd;
  if (typeof cmd !== 'string') return { error: 'the request has no "cmd" string', id };
  const int = (name: string, min: number, dflt?: number): number | string => {
    const x = o[name] ?? dflt;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min) return `"${name}" must be an integer >= ${min}`;
    return x;
  };
  const bool = (name: string, dflt: boolean): boolean | string => {
    const x = o[name] ?? dflt;
    return typeof x === 'boolean' ? x : `"${name}" must be true or false`;
  };
  const done = (c: ControlCommand | string) => (typeof c === 'string' ? { error: `${cmd}: ${c}`, id } : { command: c, id });
  switch (cmd) {
    case 'status':
    case 'reload':
    case 'reopen':
    case 'config':
    case 'stats':
      return { command: { cmd }, id };
    case 'workers': {
      const ms = int('olderThanMs', 0, 1000);
      return done(typeof ms === 'string' ? ms : { cmd, olderThanMs: ms });
    }
    case 'stack': {
      const w = int('worker', 1);
      return done(typeof w === 'string' ? w : { cmd, worker: w });
    }
    case 'add':
    case 'remove': {
      const n = int('n', 1, 1);
      return done(typeof n === 'string' ? n : { cmd, n });
    }
    case 'kill': {
      const w = int('worker', 1);
      const g = bool('graceful', true);
      return done(typeof w === 'string' ? w : typeof g === 'string' ? g : { cmd, worker: w, graceful: g });
    }
    case 'shutdown': {
      const g = bool('graceful', true);
      return done(typeof g === 'string' ? g : { cmd, graceful: g });
    }
    default:
      return { error: `unknown command ${JSON.stringify(cmd).slice(0, 80)} (commands: ${COMMANDS.join(', ')})`, id };
  }
}
