/**
 * The master's end of its workers' channels: ONE `cluster.on('message')`
 * listener, which hands every gwserver message to the handlers registered
 * for its act (src/ipc/dispatch.ts), in the order they were registered. The
 * arbiter registers its own first (it makes the channel), so a part that
 * registers later (the round-robin, the metrics) finds the arbiter's record
 * of the worker already updated. Messages that are not gwserver's are left
 * to their own listeners: prom-client shares the channel.
 *
 * @module
 */
import cluster, { type Worker } from 'node:cluster';
import { ActTable, type ActHandler } from '../ipc/dispatch.js';
import type { WorkerMessage } from '../ipc/protocol.js';

/** What the workers send, by act; each handler also gets the sending worker and the message's handle. */
export class MasterChannel {
  readonly #table = new ActTable<WorkerMessage, [worker: Worker, handle: unknown]>();
  readonly #listener = (worker: Worker, message: unknown, handle: unknown) => void this.#table.dispatch(message, worker, handle);
  #listening = false;

  /** Adds a handler of `act` (see {@link ActTable.on}); returns its removal. */
  on<A extends WorkerMessage['act']>(act: A, handler: ActHandler<WorkerMessage, A, [worker: Worker, handle: unknown]>): () => void {
    return this.#table.on(act, handler);
  }

  /** Starts listening (before the first fork). */
  open(): void {
    if (this.#listening) return;
    this.#listening = true;
    cluster.on('message', this.#listener);
  }

  /** Stops listening (the master is exiting). */
  close(): void {
    if (!this.#listening) return;
    this.#listening = false;
    cluster.off('message', this.#listener);
  }
}
