/**
 * `gwserverctl [--socket PATH] COMMAND [ARGS] [--json]`: asks a running
 * gwserver master questions and gives it orders over its control socket
 * (src/master/control.ts; the protocol: src/ipc/control.ts), as gunicorn's
 * `gunicornc` does. A binary of its own, not a `gwserver` subcommand, which
 * would shadow an app module of that name.
 *
 * Which server: `--socket PATH`, else `--pid FILE|PID` (the default socket
 * of that master), else $GWSERVER_CONTROL_SOCKET, else the one
 * gwserver of this user running with a default socket (more than one: it
 * lists them and asks). Human output by default; `--json` prints the
 * master's reply as it is, for scripts. Every mistake is one line on stderr
 * and a non-zero exit, never a stack trace.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import yargs from 'yargs';
import { CONTROL_SOCKET_ENV, controlDir, defaultControlPath, listDefaultSockets, processRuns } from '../config/control-path.js';
import type { WorkerInfo } from '../ipc/control.js';

/** Exit codes: 0 done, 1 the server said no (or is unreachable), 2 usage. */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

class CtlError extends Error {
  constructor(message: string, readonly code: number = EXIT_FAILED) {
    super(message);
  }
}

type Reply = Record<string, unknown> & { ok: boolean; error?: string };

const HELP = `Usage: gwserverctl [--socket PATH | --pid FILE|PID] COMMAND [ARGS] [--json]

Talks to a running gwserver master over its control socket (docs/operations.md).

Commands:
  status                       master pid, uptime, generation, workers (and the adaptive bounds),
                               listeners, settings digest, reload
  workers [--older-than S]     each worker: state, age, requests, in flight, memory, lag, busy, heartbeat,
                               and the requests in flight for at least S seconds (default 1)
  stack WORKER                 the JavaScript stack of a worker (its id or pid), now
  reload                       reload the workers (as HUP); waits until the new ones are ready
  add [N]                      N more workers (as N TTINs: with adaptive workers both bounds move too;
                               default 1)
  remove [N]                   N fewer workers (as N TTOUs; default 1)
  kill WORKER [--quick]        stop a worker gracefully (--quick: at once); the master replaces it
  reopen                       reopen the log files (as USR1)
  shutdown [--graceful|--quick]  stop the server (as TERM, or INT with --quick)
  config                       the effective settings
  top                          a live view, once a second (q or Ctrl-C to quit)

Options:
  --socket PATH   the control socket (default: found by --pid, else $${CONTROL_SOCKET_ENV}, else
                  the one gwserver of this user with a default socket)
  --pid FILE|PID  the master whose default socket to use (its --pid file, or its pid)
  --json          print the master's JSON reply
  -h, --help      this help
`;

// ---- finding the server ---------------------------------------------------------

/** The control socket to use, by the documented rules. */
export function findSocket(opts: { socket?: string | undefined; pid?: string | undefined }, env: NodeJS.ProcessEnv = process.env): string {
  if (opts.socket !== undefined && opts.socket !== '') return opts.socket;
  if (opts.pid !== undefined && opts.pid !== '') {
    let pid: number;
    if (/^\d+$/.test(opts.pid)) pid = Number(opts.pid);
    else {
      let text: string;
      try {
        text = readFileSync(opts.pid, 'utf8').trim();
      } catch (err) {
        throw new CtlError(`cannot read the pid file ${opts.pid}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      if (!/^\d+$/.test(text)) throw new CtlError(`${opts.pid} holds no pid`);
      pid = Number(text);
    }
    const file = defaultControlPath(pid, env);
    if (!existsSync(file)) throw new CtlError(`no control socket at ${file} for pid ${pid} (started with --control-socket PATH? then use --socket PATH)`);
    return file;
  }
  const fromEnv = env[CONTROL_SOCKET_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const dir = controlDir(env);
  const found = listDefaultSockets(dir).filter((s) => processRuns(s.pid));
  if (found.length === 1) return found[0]!.path;
  if (found.length === 0) throw new CtlError(`no gwserver of this user runs with a default control socket (in ${dir}): name one with --socket PATH or --pid FILE`);
  throw new CtlError(`${found.length} gwservers run (pids ${found.map((s) => s.pid).join(', ')}): choose one with --pid PID or --socket PATH`);
}

// ---- the connection ---------------------------------------------------------------

/** One connection to a master: requests out, replies in, in order. */
class Connection {
  readonly #c: net.Socket;
  readonly #file: string;
  #buf = '';
  readonly #waiting: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  #closed: Error | undefined;
  /** Called once when the master closes the connection (it exited). */
  onClose: (() => void) | undefined;

  private constructor(c: net.Socket, file: string) {
    this.#c = c;
    this.#file = file;
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      this.#buf += d;
      let i: number;
      while ((i = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 1);
        let r: Reply;
        try {
          r = JSON.parse(line) as Reply;
        } catch {
          r = { ok: false, error: `the master sent a line that is not JSON: ${line.slice(0, 80)}` };
        }
        this.#waiting.shift()?.resolve(r);
      }
    });
    const gone = (err?: Error) => {
      if (this.#closed !== undefined) return;
      this.#closed = err ?? new CtlError(`the server closed the control socket ${this.#file}`);
      for (const w of this.#waiting.splice(0)) w.reject(this.#closed);
      this.onClose?.();
    };
    c.on('error', (err) => gone(new CtlError(`${this.#file}: ${err.message}`)));
    c.on('close', () => gone());
  }

  static open(file: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const c = net.connect(file);
      c.once('connect', () => {
        c.removeAllListeners('error');
        resolve(new Connection(c, file));
      });
      c.once('error', (err: NodeJS.ErrnoException) => {
        const why =
          err.code === 'ENOENT' ? `no control socket at ${file}`
          : err.code === 'EACCES' ? `permission denied on ${file}: run gwserverctl as the server's user (or root)`
          : err.code === 'ECONNREFUSED' ? `nothing answers on ${file} (a master that is gone left it behind?)`
          : `cannot connect to ${file}: ${err.code ?? err.message}`;
        reject(new CtlError(why));
      });
    });
  }

  request(req: Record<string, unknown>): Promise<Reply> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#c.write(`${JSON.stringify(req)}\n`);
    });
  }

  close(): void {
    this.onClose = undefined;
    this.#c.end();
    this.#c.destroy();
  }
}

// ---- human output ------------------------------------------------------------------

function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

function mib(bytes: number | null): string {
  return bytes === null ? '-' : `${(bytes / 1048576).toFixed(1)} MiB`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function showStatus(r: Reply): string {
  const w = r.workers as Record<string, number>;
  const reload = r.reload as { inProgress: boolean; phase: string; queued: boolean };
  const upgrade = r.upgrade as { inProgress: boolean; oldMasterPid: number | null };
  const adaptive = r.adaptive as { min: number; max: number } | null | undefined;
  const lines: Array<[string, string]> = [
    ['master', `pid ${r.pid}, gwserver ${r.version} on Node.js ${r.node}, up ${duration(r.uptimeMs as number)} (since ${r.startedAt})`],
    ['app', `${r.app}${r.name !== r.app ? ` (--name ${r.name})` : ''}`],
    ['phase', `${r.phase}, generation ${r.generation}`],
    ['workers', `${w.ready} ready of ${w.target}${w.booting ? `, ${w.booting} booting` : ''}${w.retiring ? `, ${w.retiring} retiring` : ''}${w.stopping ? `, ${w.stopping} stopping` : ''}${adaptive ? ` (adaptive: ${adaptive.min} to ${adaptive.max})` : ''}`],
    ['listeners', (r.listeners as string[]).join(', ') || '(none)'],
    ['settings', `digest ${r.settingsDigest}`],
    ['reload', reload.inProgress ? `in progress (${reload.phase})${reload.queued ? ', another one queued' : ''}` : reload.queued ? 'one queued' : 'none in progress'],
  ];
  if (upgrade.inProgress) lines.push(['upgrade', 'USR2: a new master is starting']);
  if (upgrade.oldMasterPid !== null) lines.push(['upgrade', `the old master (pid ${upgrade.oldMasterPid}) still runs`]);
  lines.push(['control', String(r.controlSocket)]);
  return lines.map(([k, v]) => `${k.padEnd(10)} ${v}`).join('\n');
}

function showWorkers(r: Reply): string {
  const ws = r.workers as WorkerInfo[];
  const rows = [['ID', 'PID', 'GEN', 'STATE', 'AGE', 'REQUESTS', 'IN FLIGHT', 'RSS', 'LAG', 'BUSY', 'HEARTBEAT']];
  const slow: string[] = [];
  for (const w of ws) {
    rows.push([
      String(w.id),
      String(w.pid),
      String(w.generation),
      w.reason === undefined ? w.state : `${w.state} (${w.reason})`,
      duration(w.ageMs),
      String(w.requests),
      w.inFlight === null ? '?' : String(w.inFlight),
      mib(w.rssBytes),
      w.lagMs === null ? '-' : `${w.lagMs} ms`,
      w.elu === null ? '-' : `${Math.round(w.elu * 100)}%`,
      `${duration(w.lastBeatMs)} ago`,
    ]);
    for (const q of w.slow) slow.push(`  worker ${w.id}: ${q.method} ${q.path} for ${duration(q.ageMs)}`);
  }
  const out = [table(rows), '', `${ws.length} worker${ws.length === 1 ? '' : 's'} (target ${r.target}, generation ${r.generation})`];
  const secs = (r.olderThanMs as number) / 1000;
  if (slow.length > 0) out.push('', `in flight for ${secs} s or more:`, ...slow);
  else out.push(`no request in flight for ${secs} s or more`);
  if (ws.some((w) => w.inFlight === null && w.state !== 'booting')) out.push('?: the worker did not answer within 1 s (its event loop may be blocked: try gwserverctl stack)');
  return out.join('\n');
}

function showStack(r: Reply): string {
  const blocked = r.blockedMs as number;
  // The watchdog's beat comes every 250 ms at most: a loop that turns is never much later than that.
  const how = blocked >= 400 ? `its event loop had not turned for ${duration(blocked)}` : `its event loop turning (last turn ${duration(blocked)} before): this is the JavaScript that ran at that moment`;
  return `worker ${r.worker} (pid ${r.pid}), taken in ${r.captureMs} ms, ${how}:\n${r.stack}`;
}

function showConfig(r: Reply): string {
  const settings = r.settings as Record<string, unknown>;
  const lines = Object.entries(settings).map(([k, v]) => `${k} = ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [`# ${r.app}${r.configFile ? `, config file ${r.configFile}` : ''}, settings digest ${r.settingsDigest}`, ...lines].join('\n');
}

// ---- top ------------------------------------------------------------------------------

/** The `q`-th quantile of the requests between two cumulative histograms (upper bound in s), or undefined. */
function quantile(prev: Array<[number | null, number]> | null, cur: Array<[number | null, number]> | null, q: number): number | null | undefined {
  if (cur === null) return undefined;
  const before = new Map(prev ?? []);
  const delta = cur.map(([le, n]) => [le, n - (before.get(le) ?? 0)] as [number | null, number]);
  const total = delta[delta.length - 1]?.[1] ?? 0;
  if (total <= 0 || delta.some(([, n]) => n < 0)) return undefined;
  const want = q * total;
  for (const [le, n] of delta) if (n >= want) return le;
  return undefined;
}

function ms(seconds: number | null | undefined): string {
  if (seconds === undefined) return '-';
  // The last bucket's bound (+Inf) travels as null in JSON.
  if (seconds === null || seconds === Infinity) return 'over the last bucket';
  return `<=${Math.round(seconds * 1000)} ms`;
}

async function top(conn: Connection, out: NodeJS.WriteStream): Promise<number> {
  const tty = out.isTTY === true;
  const stdin = process.stdin;
  let stop: ((code: number) => void) | undefined;
  const ended = new Promise<number>((resolve) => (stop = resolve));
  const onKey = (d: Buffer | string) => {
    const s = String(d);
    if (s.includes('q') || s.includes('\u0003')) stop?.(0);
  };
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.on('data', onKey);
  stdin.resume();
  const onSig = () => stop?.(0);
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  conn.onClose = () => {
    out.write(`\n${tty ? '\x1b[?25h' : ''}gwserverctl: the server went away\n`);
    stop?.(EXIT_FAILED);
  };
  if (tty) out.write('\x1b[?25l');
  let prev: { at: number; requests: Map<number, number>; buckets: Array<[number | null, number]> | null } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const frame = async () => {
    let r: Reply;
    try {
      r = await conn.request({ cmd: 'stats' });
    } catch {
      return; // onClose says why
    }
    if (!r.ok) {
      out.write(`gwserverctl: ${r.error}\n`);
      stop?.(EXIT_FAILED);
      return;
    }
    const at = r.at as number;
    const ws = r.workers as WorkerInfo[];
    const requests = new Map(ws.map((w) => [w.pid, w.requests]));
    const buckets = r.latencyBuckets as Array<[number | null, number]> | null;
    const secs = prev === undefined ? 0 : (at - prev.at) / 1000;
    const rate = (pid: number, n: number) => {
      const before = prev?.requests.get(pid);
      return before === undefined || secs <= 0 ? undefined : Math.max(0, (n - before) / secs);
    };
    const rows = [['ID', 'PID', 'STATE', 'AGE', 'REQ/S', 'IN FLIGHT', 'RSS', 'LAG']];
    let total = 0;
    for (const w of ws) {
      const rps = rate(w.pid, w.requests);
      total += rps ?? 0;
      rows.push([String(w.id), String(w.pid), w.state, duration(w.ageMs), rps === undefined ? '-' : rps.toFixed(1), w.inFlight === null ? '?' : String(w.inFlight), mib(w.rssBytes), w.lagMs === null ? '-' : `${w.lagMs} ms`]);
    }
    const latency = buckets === null
      ? 'latency: start gwserver with --metrics-bind to see it'
      : `latency${prev === undefined ? ' (since start)' : ''} p50 ${ms(quantile(prev?.buckets ?? null, buckets, 0.5))}  p90 ${ms(quantile(prev?.buckets ?? null, buckets, 0.9))}  p99 ${ms(quantile(prev?.buckets ?? null, buckets, 0.99))}`;
    const head = `gwserverctl top - ${new Date(at).toISOString().slice(11, 19)}  ${ws.length} workers (target ${r.target}), generation ${r.generation}`;
    const body = [head, `${prev === undefined ? '-' : total.toFixed(1)} req/s  ${r.inFlight} in flight  ${latency}`, '', table(rows), '', 'q or Ctrl-C to quit'].join('\n');
    out.write(tty ? `\x1b[H\x1b[2J${body}\n` : `${body}\n\n`);
    prev = { at, requests, buckets };
  };
  const loop = async () => {
    await frame();
    timer = setTimeout(() => void loop(), 1000);
  };
  void loop();
  const code = await ended;
  clearTimeout(timer);
  conn.onClose = undefined;
  process.off('SIGINT', onSig);
  process.off('SIGTERM', onSig);
  stdin.off('data', onKey);
  if (stdin.isTTY) stdin.setRawMode(false);
  stdin.pause();
  if (tty) out.write('\x1b[?25h');
  return code;
}

// ---- the command line ---------------------------------------------------------------

interface Parsed {
  socket?: string | undefined;
  pid?: string | undefined;
  json: boolean;
  words: string[];
  olderThan?: string | undefined;
  graceful: boolean;
  quick: boolean;
  help: boolean;
}

async function parse(argv: string[]): Promise<Parsed> {
  let failure: string | undefined;
  const args = await yargs(argv)
    .scriptName('gwserverctl')
    .parserConfiguration({ 'camel-case-expansion': false, 'parse-numbers': false, 'parse-positional-numbers': false, 'boolean-negation': false })
    .strictOptions()
    .exitProcess(false)
    .help(false)
    .version(false)
    .fail((msg, err) => {
      failure = msg || err?.message || 'invalid arguments';
    })
    .option('socket', { type: 'string', requiresArg: true, alias: 's' })
    .option('pid', { type: 'string', requiresArg: true, alias: 'p' })
    .option('json', { type: 'boolean', alias: 'j' })
    .option('older-than', { type: 'string', requiresArg: true })
    .option('graceful', { type: 'boolean' })
    .option('quick', { type: 'boolean' })
    .option('help', { type: 'boolean', alias: 'h' })
    .parseAsync();
  if (failure !== undefined) throw new CtlError(`${failure} (see gwserverctl --help)`, EXIT_USAGE);
  const last = <T>(v: T | T[] | undefined): T | undefined => (Array.isArray(v) ? v[v.length - 1] : v);
  return {
    socket: last(args.socket as string | string[] | undefined),
    pid: last(args.pid as string | string[] | undefined),
    json: last(args.json as boolean | boolean[] | undefined) === true,
    words: args._.map(String),
    olderThan: last(args['older-than'] as string | string[] | undefined),
    graceful: last(args.graceful as boolean | boolean[] | undefined) === true,
    quick: last(args.quick as boolean | boolean[] | undefined) === true,
    help: last(args.help as boolean | boolean[] | undefined) === true,
  };
}

function positiveInt(word: string | undefined, what: string, dflt?: number): number {
  if (word === undefined && dflt !== undefined) return dflt;
  if (word === undefined || !/^\d+$/.test(word) || Number(word) < 1) throw new CtlError(`${what} must be a positive whole number${word === undefined ? '' : `, not ${JSON.stringify(word)}`}`, EXIT_USAGE);
  return Number(word);
}

/** The request a command line makes, or why it makes none. */
function request(p: Parsed): Record<string, unknown> {
  const [cmd, ...rest] = p.words;
  const extra = (n: number) => {
    if (rest.length > n) throw new CtlError(`${cmd}: unexpected ${JSON.stringify(rest.slice(n).join(' '))} (see gwserverctl --help)`, EXIT_USAGE);
  };
  if (p.olderThan !== undefined && cmd !== 'workers') throw new CtlError('--older-than goes with workers', EXIT_USAGE);
  if ((p.graceful || p.quick) && cmd !== 'shutdown' && cmd !== 'kill') throw new CtlError('--graceful and --quick go with shutdown and kill', EXIT_USAGE);
  if (p.graceful && p.quick) throw new CtlError('--graceful and --quick cannot be combined', EXIT_USAGE);
  switch (cmd) {
    case undefined:
      throw new CtlError('no command (see gwserverctl --help)', EXIT_USAGE);
    case 'status':
    case 'reload':
    case 'reopen':
    case 'config':
    case 'top':
      extra(0);
      return { cmd };
    case 'workers': {
      extra(0);
      let olderThanMs = 1000;
      if (p.olderThan !== undefined) {
        const s = Number(p.olderThan);
        if (p.olderThan.trim() === '' || !Number.isFinite(s) || s < 0) throw new CtlError(`--older-than takes seconds (e.g. 0.5), not ${JSON.stringify(p.olderThan)}`, EXIT_USAGE);
        olderThanMs = Math.round(s * 1000);
      }
      return { cmd, olderThanMs };
    }
    case 'stack':
      extra(1);
      return { cmd, worker: positiveInt(rest[0], 'stack WORKER (a worker id or pid)') };
    case 'add':
    case 'remove':
      extra(1);
      return { cmd, n: positiveInt(rest[0], `${cmd} N`, 1) };
    case 'kill':
      extra(1);
      return { cmd, worker: positiveInt(rest[0], 'kill WORKER (a worker id or pid)'), graceful: !p.quick };
    case 'shutdown':
      extra(0);
      return { cmd, graceful: !p.quick };
    default:
      throw new CtlError(`unknown command ${JSON.stringify(cmd)} (see gwserverctl --help)`, EXIT_USAGE);
  }
}

function human(req: Record<string, unknown>, r: Reply): string {
  switch (req.cmd) {
    case 'status':
      return showStatus(r);
    case 'workers':
      return showWorkers(r);
    case 'stack':
      return showStack(r);
    case 'config':
      return showConfig(r);
    case 'reload':
      return `reloaded: generation ${r.generation} is ready (${r.workers} worker${r.workers === 1 ? '' : 's'}) after ${duration(r.ms as number)}${r.warning === undefined ? '' : `\nwarning: ${r.warning}`}`;
    case 'add':
    case 'remove':
      // With adaptive workers, the bounds moved too (as TTIN and TTOU move them).
      return `workers: ${r.previous} -> ${r.workers}${r.workersMin === undefined ? '' : ` (adaptive: ${r.previousMin} to ${r.previousMax} -> ${r.workersMin} to ${r.workersMax})`}`;
    case 'kill':
      return `worker ${r.worker} (pid ${r.pid}) told to stop (${r.signal}); the master replaces it`;
    case 'reopen':
      return 'log files reopened';
    case 'shutdown':
      return r.graceful ? 'shutting down gracefully: requests in flight are finished first' : 'shutting down now';
    default:
      return JSON.stringify(r);
  }
}

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

/** Runs gwserverctl; resolves with the exit code. */
export async function ctlMain(argv: string[]): Promise<number> {
  try {
    const p = await parse(argv);
    if (p.help) {
      await write(process.stdout, HELP);
      return 0;
    }
    const req = request(p);
    const file = findSocket(p);
    const conn = await Connection.open(file);
    if (req.cmd === 'top') {
      if (p.json) throw new CtlError('top is a live view: for JSON, ask stats (see docs/operations.md)', EXIT_USAGE);
      return await top(conn, process.stdout);
    }
    let r: Reply;
    try {
      r = await conn.request(req);
    } finally {
      conn.close();
    }
    if (p.json) await write(process.stdout, `${JSON.stringify(r)}\n`);
    if (!r.ok) {
      process.stderr.write(`gwserverctl: ${r.error}\n`);
      return EXIT_FAILED;
    }
    if (!p.json) await write(process.stdout, `${human(req, r)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof CtlError) {
      process.stderr.write(`gwserverctl: ${err.message}\n`);
      return err.code;
    }
    process.stderr.write(`gwserverctl: error: ${(err as Error).message}\n`);
    return EXIT_FAILED;
  }
}
