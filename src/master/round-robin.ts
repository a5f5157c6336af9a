/**
 * `--scheduling round-robin`: the master accepts every connection itself and
 * hands it to the next ready worker in turn, over the cluster IPC channel
 * (the descriptor travels with SCM_RIGHTS, as node:cluster's own round-robin
 * does). The workers then do not accept on the sockets at all; see
 * src/worker/round-robin.ts for their side.
 *
 * The sockets stay the master's: it holds the listening descriptors until it
 * stops, so they survive the death of any worker, the last one included. While no worker can take a connection, accepted connections
 * wait here, paused (nothing is read from them), in a queue bounded by
 * `--backlog`, and go to the next worker that is ready.
 *
 * A hand-off is acknowledged by the worker, and a worker gets no second
 * connection before it acknowledged the first (node:cluster does the same):
 * so a worker whose event loop is stuck holds at most one connection it never
 * serves. The master keeps its copy of the descriptor until the
 * acknowledgement; when a worker exits without acknowledging, the
 * connection goes to another worker (node:cluster loses it). Workers whose
 * heartbeat is late are skipped. Ack and hand-off are matched by `seq`.
 *
 * This works on libuv handles (`onconnection`, `listen`) as cluster's
 * primary does (lib/internal/cluster/round_robin_handle.js): a net.Server
 * would track the sockets it sent to workers and make closing it wait for
 * them. The handles are the ones src/master/sockets.ts created.
 *
 * @module
 */
import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import { heartbeatInterval, type ConnAckMessage, type ConnMessage, type WorkerState } from '../ipc/protocol.js';
import type { Logger } from '../logging/logger.js';
import type { MasterChannel } from './channel.js';
import type { ListenSocket } from './sockets.js';

/** What the round-robin needs to know of a worker (the arbiter's record of it). */
export interface SchedulableWorker {
  worker: Worker;
  state: WorkerState;
  lastBeat: number;
}

export interface RoundRobinOptions {
  logger: Logger;
  /**
   * The workers' messages (acks, and ready and heartbeat, after which a
   * worker may take connections). The arbiter registered its handlers
   * first: when ours run, its record of the worker is up to date.
   */
  channel: MasterChannel;
  /** listen() backlog, and the bound of the master's own queue of waiting connections. */
  backlog: number;
  /** The master's workers, live. */
  workers: () => Iterable<SchedulableWorker>;
  /** The current --timeout in seconds (heartbeats are timed from it). */
  timeout: () => number;
}

/** A libuv stream handle (TCPWrap or PipeWrap), as node:net uses it internally. */
interface RawHandle {
  fd?: number;
  listen(backlog: number): number;
  close(cb?: () => void): void;
  onconnection: ((err: number, client?: RawHandle) => void) | null;
}

interface Waiting {
  socket: number;
  handle: RawHandle;
}

interface InFlight extends Waiting {
  seq: number;
}

type CreateServerHandle = (address: string | null, port: number | null, addressType: number | null, fd?: number) => RawHandle | number;

/** How late a heartbeat may be before the worker is skipped: two beats. */
export function lateAfterMs(timeoutS: number): number {
  return 2 * heartbeatInterval(timeoutS) + 100;
}

/** The master's accept loop and dispatcher for round-robin scheduling. */
export class RoundRobin {
  readonly #o: RoundRobinOptions;
  readonly #queue: Waiting[] = [];
  readonly #listeners: RawHandle[] = [];
  readonly #inFlight = new Map<Worker, InFlight>();
  #seq = 0;
  /** Workers that said they are full (--worker-connections). */
  readonly #full = new Set<Worker>();
  /** cluster id of the worker served last: the next one in id order is next. */
  #last = 0;
  #scheduled = false;
  #closed = false;
  /** The master is stopping: no more accepting, nothing more to hand over. */
  #draining = false;
  #droppedAt = 0;
  #dropped = 0;
  /** Removes our handlers from the channel. */
  readonly #unsubscribe: Array<() => void> = [];
  readonly #onDisconnect = (worker: Worker) => this.#gone(worker);
  // A killed worker's channel may not report 'disconnect': after its exit, give an ack it sent a moment to be read.
  readonly #onExit = (worker: Worker) => void setTimeout(() => this.#gone(worker), 100);

  constructor(sockets: readonly ListenSocket[], options: RoundRobinOptions) {
    this.#o = options;
    this.#unsubscribe.push(
      options.channel.on('gwserver:conn-ack', (m, worker) => this.#acked(worker, m)),
      options.channel.on('gwserver:ready', () => this.#workerFree()),
      options.channel.on('gwserver:heartbeat', () => this.#workerFree()),
      options.channel.on('gwserver:full', (m, worker) => {
        options.logger.debug({ worker_pid: worker.process.pid, full: m.full }, m.full ? 'round-robin: a worker is full, the others come first' : 'round-robin: a worker has room again');
        if (m.full) this.#full.add(worker);
        else if (this.#full.delete(worker)) this.#workerFree();
      }),
    );
    cluster.on('disconnect', this.#onDisconnect);
    cluster.on('exit', this.#onExit);
    try {
      sockets.forEach((s, i) => this.#listen(s, i));
    } catch (err) {
      this.close();
      throw err;
    }
    options.logger.info({ sockets: sockets.length, queue: options.backlog }, 'round-robin scheduling: the master accepts connections and hands them to the workers in turn');
  }

  #listen(s: ListenSocket, index: number): void {
    let handle = s.handle as RawHandle | undefined;
    if (handle === undefined) {
      // An inherited descriptor (socket activation, USR2): wrap it. The handle owns the fd from now on.
      const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
      if (typeof create !== 'function') throw new Error(`this Node.js (${process.version}) lacks net._createServerHandle, which round-robin scheduling needs`);
      const h = create(null, null, null, s.fd);
      if (typeof h === 'number') throw new Error(`cannot accept on ${s.address}: errno ${h}`);
      handle = h;
      s.handle = h;
    }
    handle.onconnection = (err, client) => {
      if (err !== 0 || client === undefined) {
        // EMFILE and the like: the connection stays in the kernel's backlog; libuv retries.
        this.#o.logger.warn({ address: s.address, errno: err }, 'round-robin: accept failed');
        return;
      }
      this.#accepted({ socket: index, handle: client });
    };
    const err = handle.listen(this.#o.backlog);
    if (err !== 0) throw new Error(`cannot listen on ${s.address}: errno ${err}`);
    this.#listeners.push(handle);
  }

  #accepted(w: Waiting): void {
    if (this.#closed || this.#draining) {
      w.handle.close();
      return;
    }
    if (this.#queue.length >= this.#o.backlog) {
      // The kernel's backlog would refuse it too: close rather than hold it forever.
      w.handle.close();
      this.#dropped++;
      const now = Date.now();
      if (now - this.#droppedAt > 1000) {
        this.#o.logger.warn({ dropped: this.#dropped, queue: this.#queue.length }, `round-robin: no worker is taking connections; ${this.#dropped} connection(s) closed over the queue limit (--backlog ${this.#o.backlog})`);
        this.#droppedAt = now;
        this.#dropped = 0;
      }
      return;
    }
    this.#queue.push(w);
    this.#dispatch();
  }

  /** Hands waiting connections to free workers, each in turn. */
  #dispatch(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const worker = this.#next();
      if (worker === undefined) return;
      this.#handOff(worker, this.#queue.shift()!);
    }
  }

  /**
   * The next worker in id order after the last one served that is ready,
   * beating, and holds no unacknowledged connection; one with room for it
   * (--worker-connections) first. When every one is full, a full one takes
   * it (and answers 503).
   */
  #next(): Worker | undefined {
    return this.#pick(true) ?? this.#pick(false);
  }

  #pick(withRoom: boolean): Worker | undefined {
    const now = Date.now();
    const late = lateAfterMs(this.#o.timeout());
    let first: Worker | undefined;
    let after: Worker | undefined;
    for (const w of this.#o.workers()) {
      if (w.state !== 'ready' || now - w.lastBeat > late || this.#inFlight.has(w.worker) || !w.worker.isConnected()) continue;
      if (withRoom && this.#full.has(w.worker)) continue;
      const id = w.worker.id;
      if (first === undefined || id < first.id) first = w.worker;
      if (id > this.#last && (after === undefined || id < after.id)) after = w.worker;
    }
    return after ?? first;
  }

  #handOff(worker: Worker, w: Waiting): void {
    const seq = ++this.#seq;
    this.#last = worker.id;
    this.#inFlight.set(worker, { ...w, seq });
    const message: ConnMessage = { act: 'gwserver:conn', seq, socket: w.socket };
    // The handle is not closed by sending it: the master keeps its copy until the worker acknowledges.
    worker.send(message, w.handle as unknown as net.Socket, (err: Error | null) => {
      if (err) this.#takeBack(worker, seq);
    });
  }

  /** The hand-off `seq` did not reach its worker: queue the connection first again. */
  #takeBack(worker: Worker, seq?: number): void {
    const f = this.#inFlight.get(worker);
    if (f === undefined || (seq !== undefined && f.seq !== seq)) return;
    this.#inFlight.delete(worker);
    if (this.#closed || this.#draining) {
      f.handle.close();
      return;
    }
    this.#queue.unshift({ socket: f.socket, handle: f.handle });
    this.#schedule();
  }

  #acked(worker: Worker, m: ConnAckMessage): void {
    const f = this.#inFlight.get(worker);
    if (f === undefined || f.seq !== m.seq) return;
    if (m.accepted) {
      this.#inFlight.delete(worker);
      f.handle.close();
      this.#dispatch();
    } else {
      this.#takeBack(worker, m.seq);
    }
  }

  /**
   * A worker said it is ready, or beat again (a late worker is skipped): it
   * may take what waits. Looked at on the next turn, once for a burst of
   * messages.
   */
  #workerFree(): void {
    if (this.#queue.length > 0) this.#schedule();
  }

  /**
   * The worker's channel closed, or it exited: a connection it never
   * acknowledged goes to another worker. 'disconnect' comes after the last
   * message the worker sent was read, so an ack sent before it died is not
   * missed; after 'exit' (a worker killed with SIGKILL may report nothing
   * else), the ack had 100 ms to arrive.
   */
  #gone(worker: Worker): void {
    this.#full.delete(worker);
    const f = this.#inFlight.get(worker);
    if (f === undefined) return;
    this.#o.logger.info({ worker_pid: worker.process.pid }, 'round-robin: a connection handed to a worker that exited before taking it goes to another worker');
    this.#takeBack(worker);
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#dispatch();
    });
  }

  /**
   * The master is stopping (TERM, INT, QUIT, or retiring after USR2): stop
   * accepting, so that new connections queue in the kernel for whoever else
   * holds the socket (a new master, systemd) instead of being accepted here
   * for workers that will not come. This closes the master's listening
   * descriptors, so it is for a master on its way out only. Connections
   * waiting here, and the ones stopping workers refuse, are closed: with
   * every worker stopping, nobody would serve them.
   */
  stopAccepting(): void {
    if (this.#draining || this.#closed) return;
    this.#draining = true;
    for (const h of this.#listeners) h.close();
    for (const w of this.#queue.splice(0)) w.handle.close();
  }

  /**
   * Closes the waiting connections and the ones not yet acknowledged; from
   * now on, accepted connections are closed at once. The listening handles
   * stay open: they are the master's sockets, closed with the others at exit.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#unsubscribe.splice(0)) off();
    cluster.off('disconnect', this.#onDisconnect);
    cluster.off('exit', this.#onExit);
    for (const w of this.#queue.splice(0)) w.handle.close();
    for (const f of this.#inFlight.values()) f.handle.close();
    this.#inFlight.clear();
  }
}
