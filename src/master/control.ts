/**
 * The control socket (`--control-socket`): a unix socket of the master's,
 * mode 0600, on which `gwserverctl` (or any script) asks questions and gives
 * orders, one JSON object a line (the protocol: src/ipc/control.ts,
 * docs/operations.md). This file is the transport only: it reads lines,
 * bounds them, times idle clients out, parses each request and hands the
 * command to the arbiter, which puts it in its one queue as an event, as it
 * does a signal; the reply comes back through `reply`, in order.
 *
 * Never on TCP: who may connect is decided by the file's mode and owner
 * (the master's user, and root), not by anything on the wire.
 *
 * On USR2 the socket is handed over as the pid file is: with a path of the
 * operator's, the old master's moves to `PATH.oldbin` and the new master
 * binds `PATH`; the default path names the master's pid, so two masters
 * never share one.
 *
 * @module
 */
import { chmodSync, lstatSync, renameSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { defaultControlPath, ensureControlDir, listDefaultSockets, processRuns } from '../config/control-path.js';
import { IDLE_TIMEOUT_MS, MAX_LINE_BYTES, parseCommand, type ControlCommand, type ControlReply } from '../ipc/control.js';
import type { Logger } from '../logging/logger.js';

/** Hands a command to the arbiter; `reply` is called exactly once. */
export type CommandSink = (command: ControlCommand, reply: (r: ControlReply) => void) => void;

/** Whether something answers on the unix socket `file` (a live master), within a second. */
function answers(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(file);
    const t = setTimeout(() => {
      c.destroy();
      resolve(false);
    }, 1000);
    c.once('connect', () => {
      clearTimeout(t);
      c.destroy();
      resolve(true);
    });
    c.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/**
 * Removes the default sockets of masters that are gone (killed with SIGKILL,
 * they could not remove theirs), so that they pile up nowhere and a pid
 * used again later does not find an old file.
 */
function sweepStale(dir: string): void {
  for (const s of listDefaultSockets(dir)) {
    if (s.pid === process.pid || processRuns(s.pid)) continue;
    try {
      unlinkSync(s.path);
    } catch {
      // Another master swept it first.
    }
  }
}

export class ControlServer {
  readonly #log: Logger;
  readonly #sink: CommandSink;
  #server: net.Server | undefined;
  /** Where the socket is now (PATH, or PATH.oldbin while a new master holds PATH). */
  #path = '';
  /** The path as configured ('' for the default). */
  #configured = '';
  readonly #clients = new Set<net.Socket>();

  constructor(log: Logger, sink: CommandSink) {
    this.#log = log;
    this.#sink = sink;
  }

  /** Where it listens ('' when it does not). */
  get path(): string {
    return this.#path;
  }

  /**
   * Listens on `configured` (or the default path of this master). A socket
   * that cannot be made is logged, and the master serves on without one:
   * signals still work.
   */
  async open(configured: string): Promise<void> {
    this.#configured = configured;
    const file = configured === '' ? defaultControlPath(process.pid) : path.resolve(configured);
    try {
      if (configured === '') {
        ensureControlDir(path.dirname(file));
        sweepStale(path.dirname(file));
      }
      await this.#clearStale(file);
      // Half-open: a script may send its requests and close its side (`printf ... | nc -U`) before the replies come.
      const server = net.createServer({ allowHalfOpen: true }, (c) => this.#serve(c));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ path: file, readableAll: false, writableAll: false }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      // The file is made with the umask's mode: 0600 before anyone is told where it is.
      chmodSync(file, 0o600);
      server.on('error', (err) => this.#log.error({ err, control_socket: file }, 'control socket error'));
      this.#server = server;
      this.#path = file;
      this.#log.info({ control_socket: file }, `control socket: ${file} (gwserverctl --socket ${file})`);
    } catch (err) {
      this.#log.error({ err, control_socket: file }, `cannot open the control socket ${file}: ${(err as Error).message}; gwserverctl cannot reach this master (signals still work)`);
    }
  }

  /** A file at `file`: a live master's socket is an error; a stale one (a master that was killed) is removed. */
  async #clearStale(file: string): Promise<void> {
    let st;
    try {
      st = lstatSync(file);
    } catch {
      return;
    }
    if (!st.isSocket()) throw new Error(`${file} exists and is not a socket`);
    if (await answers(file)) throw new Error(`another master answers on ${file}`);
    unlinkSync(file);
  }

  #serve(c: net.Socket): void {
    this.#clients.add(c);
    c.on('close', () => this.#clients.delete(c));
    c.on('error', () => undefined);
    let buf = '';
    // Replies in the order of the requests, whenever each is ready.
    const queue: Array<{ reply?: ControlReply; id: unknown }> = [];
    c.setTimeout(IDLE_TIMEOUT_MS, () => {
      // A client waiting for an answer (a reload) is not idle.
      if (queue.length > 0) return;
      this.#write(c, { ok: false, error: `no request within ${IDLE_TIMEOUT_MS / 1000} s: closing` });
      c.end();
      setTimeout(() => c.destroy(), 1000).unref();
    });
    let ended = false;
    const flush = () => {
      while (queue.length > 0 && queue[0]!.reply !== undefined) {
        const { reply, id } = queue.shift()!;
        this.#write(c, { ...reply!, id } as ControlReply);
      }
      // The client is done writing: close once it has every reply.
      if (ended && queue.length === 0) c.end();
    };
    c.on('end', () => {
      ended = true;
      flush();
    });
    c.setEncoding('utf8');
    c.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        if (line.trim() === '') continue;
        // A long line that came whole in a few chunks is as long as one still coming.
        if (Buffer.byteLength(line) > MAX_LINE_BYTES) {
          buf = line;
          break;
        }
        this.#request(line, queue, flush);
      }
      if (Buffer.byteLength(buf) > MAX_LINE_BYTES) {
        buf = '';
        this.#write(c, { ok: false, error: `request line longer than ${MAX_LINE_BYTES} bytes: closing` });
        c.end();
        // Whatever else it sends is not read.
        c.pause();
        setTimeout(() => c.destroy(), 1000).unref();
      }
    });
  }

  #request(line: string, queue: Array<{ reply?: ControlReply; id: unknown }>, flush: () => void): void {
    const parsed = parseCommand(line);
    const slot: { reply?: ControlReply; id: unknown } = { id: parsed.id };
    queue.push(slot);
    if ('error' in parsed) {
      slot.reply = { ok: false, error: parsed.error };
      flush();
      return;
    }
    let answered = false;
    this.#sink(parsed.command, (r) => {
      if (answered) return;
      answered = true;
      slot.reply = r;
      flush();
    });
  }

  #write(c: net.Socket, r: ControlReply): void {
    if (c.writable) c.write(`${JSON.stringify(r)}\n`);
  }

  /**
   * USR2: a new master is about to start. A path of the operator's moves to
   * `PATH.oldbin` (this master still answers there), so that the new one can
   * bind `PATH`; the default path is this master's own and stays.
   */
  handOver(): void {
    if (this.#server === undefined || this.#configured === '') return;
    const oldbin = `${this.#path}.oldbin`;
    try {
      renameSync(this.#path, oldbin);
      this.#path = oldbin;
    } catch (err) {
      this.#log.warn({ err }, `cannot rename the control socket ${this.#path} to ${oldbin}`);
    }
  }

  /** USR2 failed: the socket moves back to `PATH`. */
  takeBack(): void {
    if (this.#server === undefined || this.#configured === '' || !this.#path.endsWith('.oldbin')) return;
    const back = this.#path.slice(0, -'.oldbin'.length);
    try {
      renameSync(this.#path, back);
      this.#path = back;
    } catch (err) {
      this.#log.warn({ err }, `cannot rename the control socket ${this.#path} back to ${back}`);
    }
  }

  /** The master exits: stop listening and remove the socket file. */
  close(): void {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    // libuv removes the path it bound when the handle closes: after a hand-over
    // that path is the new master's, so the handle is left to the exit.
    if (!this.#path.endsWith('.oldbin')) server.close();
    for (const c of this.#clients) c.destroy();
    try {
      // Still ours: nobody else binds PATH.oldbin or a path named by this master's pid.
      unlinkSync(this.#path);
    } catch {
      // Already gone.
    }
  }
}
