/**
 * The three calling conventions a gwserver worker serves, and the marks by
 * which an app says which one it speaks.
 *
 * - `gateway`: `application(environ, startResponse)`, gwserver's own;
 * - `node`: a `node:http` request listener `(req, res)` (Express, Koa's
 *   `callback()`, Connect, Fastify's router), given the worker's real
 *   `IncomingMessage` and `ServerResponse`;
 * - `fetch`: a WHATWG fetch handler `(request, env) => Response` (Hono,
 *   `export default { fetch }`).
 *
 * {@link fromNodeHandler} and {@link fromFetch} return gateway apps (they
 * compose with gateway middleware), and mark them with what they wrap, so
 * that a worker serving one at the top level can serve the wrapped handler
 * natively instead.
 *
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Application } from '../gateway/types.js';

/** The calling conventions (`--interface`). */
export type InterfaceName = 'gateway' | 'node' | 'fetch';

/** `--interface`'s values: a convention, or `auto` (decided from the app). */
export type InterfaceSetting = InterfaceName | 'auto';

/** A `node:http` request listener: `(req, res) => void` (a returned promise is watched for rejection). */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/** A `node:http` `'upgrade'` listener (WebSocket handshakes): `ws`'s `handleUpgrade` takes these three. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => unknown;

/**
 * What a fetch handler gets besides the request, as `@hono/node-server`
 * passes it (Hono's `c.env`, so that its `getConnInfo` works): the worker's
 * `node:http` request and response.
 */
export interface FetchEnv {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
}

/** A WHATWG fetch handler, e.g. Hono's `app.fetch`. */
export type FetchHandler = (request: Request, env?: FetchEnv) => Response | Promise<Response>;

/**
 * Called with each `http.Server` a worker listens with, before it accepts:
 * the one hook for libraries that attach to the server itself (socket.io,
 * Hono's `injectWebSocket`).
 */
export type ServerHook = (server: Server) => unknown;

/** The mark {@link fromNodeHandler} and {@link fromFetch} leave on the app they return. */
export const kInterface: unique symbol = Symbol.for('gwserver.interface');

/** What a mark records. */
export type InterfaceMark =
  | { kind: 'node'; handler: NodeHandler; upgrade?: UpgradeHandler; onServer?: ServerHook }
  | { kind: 'fetch'; fetch: FetchHandler; onServer?: ServerHook };

/** An app as a worker serves it: its convention, what to call, and why that convention. */
export type ServedApp =
  | { kind: 'gateway'; app: Application; why: string; onServer?: ServerHook }
  | {
    kind: 'node';
    handler: NodeHandler;
    upgrade?: UpgradeHandler;
    onServer?: ServerHook;
    /** Awaited before the worker accepts (a Fastify instance's `ready()`). */
    ready?: () => unknown;
    /** Awaited when the worker stops, after its connections are gone (a Fastify instance's `close()`). */
    close?: () => unknown;
    why: string;
  }
  | { kind: 'fetch'; fetch: FetchHandler; onServer?: ServerHook; why: string };

/** The mark on `app`, if a wrapper left one. */
export function markOf(app: unknown): InterfaceMark | undefined {
  if ((typeof app !== 'function' && typeof app !== 'object') || app === null) return undefined;
  const mark = (app as { [kInterface]?: InterfaceMark })[kInterface];
  return mark !== undefined && (mark.kind === 'node' || mark.kind === 'fetch') ? mark : undefined;
}

/** Leaves `mark` on `app` (not enumerable: invisible to the app's own code). */
export function mark<T extends object>(app: T, m: InterfaceMark): T {
  Object.defineProperty(app, kInterface, { value: m, enumerable: false, configurable: true });
  return app;
}
