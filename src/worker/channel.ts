/**
 * The worker's end of the channel to its master: what it sends (typed in
 * src/ipc/protocol.ts), and ONE `process.on('message')` listener, added
 * with the first handler, which hands the master's messages to the handlers
 * of their act (src/ipc/dispatch.ts). Without a handler there is no
 * listener, so the channel does not hold the event loop. prom-client, in a
 * worker that loads it, listens on the same channel for its own messages.
 *
 * @module
 */
import { ActTable, type ActHandler } from '../ipc/dispatch.js';
import type { MasterMessage, WorkerMessage } from '../ipc/protocol.js';

const fromMaster = new ActTable<MasterMessage, [handle: unknown]>();
let listening = false;

/** Adds a handler of the master's messages of `act`; returns its removal. */
export function onMasterMessage<A extends MasterMessage['act']>(act: A, handler: ActHandler<MasterMessage, A, [handle: unknown]>): () => void {
  if (!listening) {
    listening = true;
    process.on('message', (message: unknown, handle?: unknown) => void fromMaster.dispatch(message, handle));
  }
  return fromMaster.on(act, handler);
}

/** Sends the master a message, while the channel is open (a worker whose master is gone has nobody to tell). */
export function sendToMaster(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}
