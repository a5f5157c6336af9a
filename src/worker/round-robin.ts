/**
 * The worker's side of `--scheduling round-robin`: it accepts nothing itself;
 * the master sends each connection's descriptor over the IPC channel
 * (`gwserver:conn`, src/ipc/protocol.ts; the master's side is in
 * src/master/round-robin.ts), the worker acknowledges it and serves it on
 * the node:http server of that socket.
 *
 * Each server "listens" on a stand-in handle, as a node:cluster worker's
 * server does under cluster's round-robin: node:net then wraps and counts
 * the connections the master sends (so a graceful `close()` waits for them,
 * `maxConnections` and `noDelay` apply), and closing the server closes the
 * stand-in, after which connections are refused back to the master, which
 * gives them to another worker.
 *
 * @module
 */
import type { ConnAckMessage } from '../ipc/protocol.js';
import type { Logger } from '../logging/logger.js';
import { onMasterMessage, sendToMaster } from './channel.js';
import type { WorkerServer } from './http-worker.js';

/** What node:net calls on a listening handle; `onconnection` is set by net. */
class MasterHandle {
  onconnection: ((err: number, handle: unknown) => void) | undefined;
  #open = true;
  #keepAlive: NodeJS.Timeout | undefined;

  constructor() {
    this.ref();
  }

  get open(): boolean {
    return this.#open;
  }

  listen(_backlog: number): number {
    return 0;
  }

  close(cb?: () => void): void {
    this.#open = false;
    this.unref();
    cb?.();
  }

  // No real handle holds the event loop: a timer stands in, as in cluster's workers.
  ref(): void {
    if (this.#open) this.#keepAlive ??= setInterval(() => undefined, 2 ** 31 - 1);
  }

  unref(): void {
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
  }
}

/**
 * Sets up `sockets` servers on `server` that take their connections from
 * the master. Resolves once they are ready (the master may send from then on).
 */
export async function acceptFromMaster(server: WorkerServer, sockets: number, logger: Logger): Promise<void> {
  const handles: MasterHandle[] = [];
  for (let i = 0; i < sockets; i++) {
    const h = new MasterHandle();
    await server.listenHandle(h);
    handles.push(h);
  }
  onMasterMessage('gwserver:conn', (m, handle) => {
    const h = handles[m.socket];
    const accepted = h !== undefined && h.open && h.onconnection !== undefined && handle !== undefined;
    const ack: ConnAckMessage = { act: 'gwserver:conn-ack', seq: m.seq, accepted };
    // Acknowledge first: the master waits for it before handing this worker another connection.
    sendToMaster(ack);
    const raw = handle as { close(): void } | undefined;
    if (!accepted) {
      // Closing our copy only: the master still holds the connection and gives it to another worker.
      raw?.close();
      return;
    }
    try {
      h.onconnection!(0, handle);
    } catch (err) {
      logger.error({ err }, 'round-robin: could not take a connection from the master');
      raw?.close();
    }
  });
}
