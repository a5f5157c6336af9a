/**
 * One handler table keyed by `act` (node:cluster's `methodMessageMapping`):
 * each side of the channel has exactly one listener, which hands every
 * gwserver message to the handlers registered for its act, in the order
 * they were registered. Several parts of a process can so follow one act
 * (the arbiter and the round-robin both follow `gwserver:ready`) without
 * depending on the order of listeners they do not own.
 *
 * @module
 */
import { isGwserverMessage } from './protocol.js';

/** A handler of the messages of one act; `rest` is what the side adds (the worker, the handle). */
export type ActHandler<M extends { act: string }, A extends M['act'], Rest extends unknown[]> = (message: Extract<M, { act: A }>, ...rest: Rest) => void;

/** The handlers of a channel's messages `M`, by act. */
export class ActTable<M extends { act: string }, Rest extends unknown[] = []> {
  readonly #handlers = new Map<string, Array<(message: M, ...rest: Rest) => void>>();

  /** Adds a handler of `act`, run after those added before; returns its removal. */
  on<A extends M['act']>(act: A, handler: ActHandler<M, A, Rest>): () => void {
    const h = handler as unknown as (message: M, ...rest: Rest) => void;
    const list = this.#handlers.get(act) ?? [];
    list.push(h);
    this.#handlers.set(act, list);
    return () => {
      const i = list.indexOf(h);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /**
   * Runs the handlers of `message`'s act. Returns false when it is not a
   * gwserver message (prom-client's, node:cluster's): those belong to other
   * listeners of the same channel. An act nobody handles is dropped.
   */
  dispatch(message: unknown, ...rest: Rest): boolean {
    if (!isGwserverMessage(message)) return false;
    const list = this.#handlers.get(message.act);
    if (list === undefined) return true;
    // A copy: a handler may remove itself (or another) while they run.
    for (const h of [...list]) h(message as M, ...rest);
    return true;
  }
}
