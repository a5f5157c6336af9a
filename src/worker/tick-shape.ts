/**
 * Keeps `process.nextTick`'s fast path fast in a server that idles.
 *
 * Node makes every tick as an object literal with two computed symbol keys
 * (`{ [async_id_symbol]: id, [trigger_async_id_symbol]: id, callback, args }`),
 * and V8 remembers, in `nextTick`'s feedback, the hidden class each of those
 * keys moved the object through. The hidden classes of the transitions are
 * held weakly: once no tick object is alive, a full GC frees them and the
 * next tick makes new ones. A worker that waits for traffic after booting
 * has several full GCs (V8's memory reducer returns its boot garbage) with a
 * timer's tick or an IPC message in between: each sees a new hidden class,
 * and after a few (V8 keeps four) the feedback turns megamorphic for good. Measured here
 * (hello, one pinned worker, idle 12 s after boot): 60k req/s instead of
 * 75k, with `nextTick` taking a fifth of the worker's CPU.
 *
 * Holding one tick object keeps its chain of hidden classes alive, so that
 * every later tick takes the same transitions and the feedback stays
 * monomorphic. Inside a tick callback the executing async resource is the
 * tick object itself.
 *
 * @module
 */
import { executionAsyncResource } from 'node:async_hooks';

let pinned: object | undefined;

/**
 * Keeps one `process.nextTick` object alive for the life of the process.
 * Call it as early as possible (before the feedback has seen five shapes);
 * calling it again does nothing.
 */
export function pinTickShape(): void {
  if (pinned !== undefined) return;
  pinned = {};
  process.nextTick(() => {
    pinned = executionAsyncResource();
  });
}

/** The tick object held (for tests: a plain object with the tick's callback). */
export function pinnedTick(): object | undefined {
  return pinned;
}
