/**
 * The reference single-process server, as `wsgiref.simple_server` is for
 * WSGI: one call serves an app, for scripts, tests and embedding. It is the
 * same streaming server a gwserver worker runs.
 *
 * @module
 */
import type { Application } from '../gateway/types.js';
import type { ServedApp } from '../interop/kinds.js';
import { parseBind } from '../config/binds.js';
import { DEFAULTS } from '../config/settings.js';
import { loadInterface, WorkerServer, type WorkerServerOptions } from './http-worker.js';
import { pinTickShape } from './tick-shape.js';

export interface ServeOptions extends WorkerServerOptions {
  /** Where to listen, in `--bind` syntax (default `127.0.0.1:8000`; port 0 picks a free one). */
  bind?: string;
}

export interface RunningServer {
  /** The address it listens on (`http://127.0.0.1:8000`, `unix:/path`). */
  url: string;
  server: WorkerServer;
  /** Stops accepting and waits for in-flight requests (up to `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

/**
 * Serves `app` until `close()` is called: a gateway application, or an app
 * of any interface as {@link loadServedApp} resolves it.
 */
export async function serve(app: Application | ServedApp, options: ServeOptions = {}): Promise<RunningServer> {
  // A process that serves and then idles, as gwserver's workers (tick-shape.ts).
  pinTickShape();
  if (typeof app !== 'function') await loadInterface(app.kind);
  const server = new WorkerServer(app, options);
  const url = await server.listen(parseBind(options.bind ?? DEFAULTS.bind[0]!));
  return { url, server, close: (graceMs) => server.close(graceMs) };
}
