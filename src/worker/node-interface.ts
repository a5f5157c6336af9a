/**
 * The node interface: a `node:http` request listener (Express, Koa's
 * `callback()`, Connect, Fastify's router, a bare `(req, res)`) gets the
 * worker's own `IncomingMessage` and `ServerResponse`. Nothing is rebuilt:
 * the container's work (container.ts) is a few stores before the call and
 * a 'close' listener when something observes the end.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NodeHandler } from '../interop/kinds.js';
import { isThenable } from '../gateway/exchange.js';
import type { Container, Served } from './container.js';

/** A gateway app served as a node handler returns its body and never answers: say so instead of hanging. */
const GATEWAY_HINT = 'the node handler returned a value and did not answer the request: if it is a gateway app (environ, startResponse), serve it with --interface gateway';

/** The `request` listener that serves `handler` through the container. */
export function createNodeListener(handler: NodeHandler, c: Container): (req: IncomingMessage, res: ServerResponse) => void {
  const call = (served: Served) => {
    let r: unknown;
    try {
      r = handler(served.req, served.res);
    } catch (err) {
      // A gateway app called with (req, res) calls res as startResponse.
      const hint = err instanceof TypeError && /is not a function/.test(err.message) ? 'if this is a gateway app (environ, startResponse), serve it with --interface gateway' : undefined;
      c.appError(served, err, hint);
      return;
    }
    if (c.responseMs !== 0) c.arm(served);
    if (r === undefined) return;
    if (isThenable(r)) {
      r.then(undefined, (err: unknown) => c.appError(served, err));
    } else if ((Array.isArray(r) || typeof r === 'string' || r instanceof Uint8Array) && !served.res.headersSent && !served.res.writableEnded) {
      c.appError(served, new Error(GATEWAY_HINT));
    }
  };
  if (c.preRequest !== undefined) {
    return (req, res) => {
      const served = c.begin(req, res);
      if (served !== undefined) c.withHooks(served, () => call(served));
    };
  }
  return (req, res) => {
    const served = c.begin(req, res);
    if (served !== undefined) call(served);
  };
}
