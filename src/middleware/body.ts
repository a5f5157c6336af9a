/**
 * Helpers the toolkit's middleware share for the response side: running
 * cleanup when the server closes a body, and answering a refusal.
 *
 * @module
 */
import type { Body, StartResponse } from '../gateway/types.js';

/**
 * Returns `body` with `close()` also running `after` (once, after the body's
 * own `close()`, even when that throws). The body keeps its identity where it
 * can: an array stays an array (so the server still frames it with
 * Content-Length) and a file wrapper stays a file wrapper (so it is still
 * sent as a file); a string or bytes become a one-element array.
 */
export function withClose(body: Body, after: () => unknown): Body {
  let done = false;
  const run = async (inner: (() => unknown) | undefined) => {
    try {
      await inner?.();
    } finally {
      if (!done) {
        done = true;
        await after();
      }
    }
  };
  if (typeof body === 'string' || body instanceof Uint8Array) {
    const list: Array<string | Uint8Array> & { close?: () => Promise<void> } = [body];
    list.close = () => run(undefined);
    return list;
  }
  const target = body as { close?: () => void | Promise<void> };
  const own = target.close;
  if (!Object.isFrozen(target)) {
    target.close = () => run(own === undefined ? undefined : () => own.call(target));
    return target as Body;
  }
  // A frozen body cannot take a close(): hand the server a delegate instead.
  const sync = (target as Iterable<unknown>)[Symbol.iterator];
  const delegate: Record<PropertyKey, unknown> = {
    close: () => run(own === undefined ? undefined : () => own.call(target)),
  };
  if (typeof sync === 'function') delegate[Symbol.iterator] = () => sync.call(target);
  else delegate[Symbol.asyncIterator] = () => (target as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  return delegate as unknown as Body;
}

/**
 * Answers a request the middleware refuses: a short plain-text body. The
 * error (when there is one) goes as excInfo, so that this also replaces
 * headers an app set before it threw.
 */
export function refuse(startResponse: StartResponse, status: string, message: string, headers: Array<[string, string]> = [], excInfo?: unknown): string[] {
  const body = `${message}\n`;
  const list: Array<[string, string]> = [['Content-Type', 'text/plain; charset=utf-8'], ...headers];
  if (excInfo === undefined) startResponse(status, list);
  else startResponse(status, list, excInfo);
  return [body];
}
