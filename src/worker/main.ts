/**
 * A worker process: load the app, accept on the master's sockets, serve,
 * heartbeat, and stop when told. The master forks entry.ts (which runs
 * this file) through node:cluster with the sockets as inherited
 * descriptors and a WorkerSpec in GWSERVER_WORKER.
 *
 * Signals, as gunicorn's workers: TERM stops gracefully (finish in-flight
 * requests within --graceful-timeout), INT and QUIT stop at once, USR1
 * reopens the log files.
 *
 * @module
 */
import type { Config } from '../config/settings.js';
import { GatewayError } from '../errors.js';
import type { ServedApp } from '../interop/kinds.js';
import { loadServedApp } from '../loader/load-app.js';
import { withValidation } from '../loader/validate.js';
import { createLogger, drainLogs, flushLogs, loggerFd, reopenLogs, type Logger } from '../logging/logger.js';
import { createAccessLog, type AccessLog } from '../logging/access.js';
import { hookLog } from '../logging/hook-log.js';
import { captureOutput } from '../logging/capture-output.js';
import { startWatchdog } from './watchdog.js';
import { EXIT } from '../ipc/exit-codes.js';
import type { WorkerSpec, WorkerState } from '../ipc/protocol.js';
import { onMasterMessage, sendToMaster as send } from './channel.js';
import { InFlightWatch } from './inspect.js';
import { loadSampler } from './load.js';
import { loadInterface, WorkerServer } from './http-worker.js';
import type { ExchangeRecord, RequestObserver } from '../gateway/handler.js';
import { acceptFromMaster } from './round-robin.js';
import type { HookName } from '../config/settings.js';
import { requestTlsMaterial, tlsServerOptions } from './tls.js';
import { dropPrivileges } from './privileges.js';

/** Runs the worker; never resolves while the worker serves. */
export async function workerMain(): Promise<void> {
  const spec = JSON.parse(process.env.GWSERVER_WORKER ?? 'null') as WorkerSpec | null;
  if (spec === null) {
    process.stderr.write('gwserver: error: the worker entry was started without GWSERVER_WORKER (start gwserver, not this file)\n');
    process.exit(EXIT.USAGE);
  }
  const config = spec.config as unknown as Config & { gracefulTimeout?: number; procName?: string };
  const name = config.procName || spec.target;
  process.title = `gwserver: worker [${name}]`;

  let logger: Logger;
  try {
    logger = createLogger({
      level: config.logLevel,
      file: config.errorLogfile === '-' ? undefined : config.errorLogfile,
      base: { worker_id: spec.id },
      format: spec.logFormats?.error ?? config.logFormat,
    });
  } catch (err) {
    send({ act: 'gwserver:boot-error', kind: 'boot', message: `cannot open the error log: ${(err as Error).message}` });
    process.exit(EXIT.WORKER_BOOT_ERROR);
  }
  // Opened with the error log, before --user applies, as gunicorn opens both in the master.
  let accessLog: AccessLog | undefined;
  if (config.accessLogfile !== '') {
    try {
      accessLog = createAccessLog({ file: config.accessLogfile, format: spec.logFormats?.access ?? config.logFormat, template: config.accessLogformat, workerId: spec.id, logger });
    } catch (err) {
      send({ act: 'gwserver:boot-error', kind: 'boot', message: `cannot open the access log ${config.accessLogfile}: ${(err as Error).message}` });
      process.exit(EXIT.WORKER_BOOT_ERROR);
    }
  }
  // The access log writes asynchronously: whatever ends the process (exit(), an uncaught exception) writes what is queued.
  process.on('exit', flushLogs);
  // Before the app loads: what it prints while loading is a record too.
  if (config.captureOutput !== false) captureOutput(logger);

  // These are the master's signals; sent to every process at once (systemctl
  // kill without --kill-who=main), they must not kill or stop a worker.
  for (const sig of ['SIGHUP', 'SIGUSR2', 'SIGTTIN', 'SIGTTOU', 'SIGWINCH'] as const) process.on(sig, () => undefined);

  let watchdog: ReturnType<typeof startWatchdog> | undefined;
  // Without a handler, SIGUSR1 would open the inspector on 127.0.0.1:9229.
  process.on('SIGUSR1', () => {
    reopenLogs();
    watchdog?.setFd(loggerFd(logger));
    logger.info('log files reopened');
  });
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled promise rejection (an app promise nobody awaited)');
  });
  process.on('uncaughtException', (err) => {
    // Outside any request: the process may be in any state. The master replaces it.
    logger.fatal({ err }, 'uncaught exception outside any request; the worker exits');
    process.exit(EXIT.ERROR);
  });

  // The master bound the sockets (and may keep root for that); the worker,
  // which runs the app, drops to --user/--group before loading it.
  try {
    dropPrivileges(config);
  } catch (err) {
    send({ act: 'gwserver:boot-error', kind: 'boot', message: (err as Error).message });
    process.exit(EXIT.WORKER_BOOT_ERROR);
  }

  let app: ServedApp;
  try {
    app = await withValidation(await loadServedApp(spec.target, { cwd: process.cwd(), interface: config.interface }), config.validate, spec.target);
  } catch (err) {
    const message = err instanceof GatewayError ? err.message : `cannot load ${spec.target}: ${(err as Error).message}`;
    // The one line says where; the error log gets the whole stack, as gunicorn logs the traceback.
    logger.error({ err: (err as Error).cause ?? err }, `the app failed to load: ${message}`);
    send({ act: 'gwserver:boot-error', kind: 'app-load', message });
    process.exit(EXIT.APP_LOAD_ERROR);
  }

  // Functions do not cross the IPC channel: read the config file again for its hooks.
  let hooks: Partial<Record<HookName, (...args: unknown[]) => unknown>> = {};
  if (spec.configFile && spec.configSource !== undefined) {
    try {
      // The master's snapshot of the file: the configuration it runs, even if the file changed since.
      // Loaded only with a config file: the loader brings yargs, which a worker otherwise never needs.
      const [{ evaluateSnapshot }, { canonicalSettings }] = await Promise.all([import('../config/snapshot.js'), import('../config/load.js')]);
      const raw = await evaluateSnapshot(spec.configFile, spec.configSource, spec.configFile);
      hooks = canonicalSettings(raw, spec.configFile) as typeof hooks;
    } catch (err) {
      logger.error({ err }, 'cannot read the config file for its hooks');
    }
  }
  // What the worker hooks get as `worker` (docs/configuration.md#server-hooks).
  const self = { id: spec.id, pid: process.pid, log: hookLog(logger) };
  const runHook = async (name: HookName, ...args: unknown[]) => {
    const fn = hooks[name];
    if (typeof fn !== 'function') return;
    try {
      await fn(...args);
    } catch (err) {
      logger.error({ hook: name, err }, `the ${name} hook threw`);
    }
  };
  await runHook('postWorkerInit', self);

  let requests = 0;
  let retiring = false;
  // One observer for the request path; the access log and the metrics hang off it.
  const ended: Array<(record: ExchangeRecord) => void> = [];
  const observer: RequestObserver = {
    requestStarted() {
      requests++;
      if (spec.maxRequests > 0 && requests >= spec.maxRequests && !retiring) {
        retiring = true;
        logger.info({ requests }, 'max requests reached: asking the master for a replacement');
        send({ act: 'gwserver:retire', reason: 'max-requests', requests });
      }
    },
  };
  if (accessLog !== undefined) ended.push(accessLog.log);
  let serverRef: WorkerServer | undefined;
  // --metrics-bind: imported only then, so that a worker without metrics never loads prom-client.
  let metrics: import('../metrics/worker.js').WorkerMetrics | undefined;
  if (config.metricsBind) {
    const { createWorkerMetrics } = await import('../metrics/worker.js');
    metrics = createWorkerMetrics({
      buckets: config.metricsBuckets,
      started: () => requests,
      upgrades: () => serverRef?.upgrades ?? { open: 0, total: 0 },
      onError: (err) => logger.error({ err }, "cannot collect prom-client's default registry (an app metric failed)"),
    });
    ended.push(metrics.observe);
  }
  // Only then is each request timed and followed to its end.
  if (ended.length === 1) observer.requestEnded = ended[0];
  else if (ended.length > 1) {
    observer.requestEnded = (record) => {
      for (let i = 0; i < ended.length; i++) ended[i]!(record);
    };
  }

  // --certfile: the key and certificates come from the master (this worker may not be able to read the files).
  let tls: import('node:tls').TlsOptions | undefined;
  if (config.certfile !== '') {
    try {
      tls = tlsServerOptions(await requestTlsMaterial(), config);
    } catch (err) {
      send({ act: 'gwserver:boot-error', kind: 'boot', message: `TLS: ${(err as Error).message}` });
      process.exit(EXIT.WORKER_BOOT_ERROR);
    }
  }

  await loadInterface(app.kind);
  // Gateway apps' hooks receive the environ; node and fetch apps' the request (IncomingMessage).
  const pre = typeof hooks.preRequest === 'function' ? (subject: unknown) => hooks.preRequest!(self, subject) : undefined;
  const post = typeof hooks.postRequest === 'function' ? (subject: unknown, status: string) => hooks.postRequest!(self, subject, status) : undefined;
  const server = new WorkerServer(app, {
    observer,
    requestIdHeader: config.requestIdHeader,
    logger,
    preRequest: pre,
    postRequest: post,
    requestHooks: { preRequest: pre, postRequest: post },
    rootPath: config.rootPath,
    multiprocess: spec.workers > 1,
    workerId: spec.id,
    forwardedAllowIps: config.forwardedAllowIps,
    limitRequestLine: config.limitRequestLine,
    limitRequestFields: config.limitRequestFields,
    limitRequestFieldSize: config.limitRequestFieldSize,
    limitRequestBody: config.limitRequestBody,
    keepAlive: config.keepAlive,
    headersTimeout: config.headersTimeout,
    requestTimeout: config.requestTimeout,
    responseTimeout: config.responseTimeout,
    sendTimeout: config.sendTimeout,
    workerConnections: config.workerConnections,
    // Round-robin scheduling hands new connections to workers with room first.
    onFull: (full) => send({ act: 'gwserver:full', full }),
    proxyProtocol: config.proxyProtocol,
    proxyAllowFrom: config.proxyAllowFrom,
    tls,
    httpProtocols: config.httpProtocols,
    http2Cleartext: config.http2Cleartext,
    http2NodeApps: config.http2NodeApps,
    http2MaxConcurrentStreams: config.http2MaxConcurrentStreams,
    http2InitialWindowSize: config.http2InitialWindowSize,
    http2MaxHeaderListSize: config.http2MaxHeaderListSize,
    http2MaxFrameSize: config.http2MaxFrameSize,
    backlog: config.backlog,
  });

  serverRef = server;

  // This worker's side of the states the master records (src/ipc/protocol.ts).
  let state: WorkerState = 'booting';
  const stop = (graceMs: number, why: string) => {
    if (state === 'stopping') return;
    state = 'stopping';
    logger.info({ reason: why }, 'worker stopping');
    void server.close(graceMs).then(async () => {
      // The final counts reach the master before the exit: a graceful stop loses none.
      await metrics?.flush();
      await watchdog?.stop();
      // In order, before the exit (flushLogs at exit cannot wait for a write in flight).
      await drainLogs();
      process.exit(EXIT.OK);
    });
  };
  process.on('SIGTERM', () => {
    // The master logs the exit with the count: let it have the final one.
    send({ act: 'gwserver:heartbeat', requests });
    stop(config.gracefulTimeout * 1000, 'SIGTERM');
  });
  const quick = () => void runHook('workerInt', self).finally(() => process.exit(EXIT.OK));
  process.on('SIGINT', quick);
  process.on('SIGQUIT', quick);
  // The master is gone (killed with SIGKILL, say): nobody will supervise us.
  process.on('disconnect', () => stop(config.gracefulTimeout * 1000, 'the master went away'));

  try {
    await server.prepare();
  } catch (err) {
    send({ act: 'gwserver:boot-error', kind: 'app-load', message: `the app's ready() failed: ${(err as Error).message}` });
    process.exit(EXIT.APP_LOAD_ERROR);
  }
  logger.info({ interface: app.kind, why: app.why }, `serving a ${app.kind} app: ${app.why}`);
  logger.info({ protocols: server.protocols.served }, server.protocols.summary);

  try {
    for (const fd of spec.fds) await server.listenFd(fd);
    // Round-robin scheduling: the master accepts and sends us the connections.
    if (spec.roundRobin) await acceptFromMaster(server, spec.roundRobin, logger);
  } catch (err) {
    send({ act: 'gwserver:boot-error', kind: 'listen', message: `cannot accept on the master's sockets: ${(err as Error).message}` });
    process.exit(EXIT.WORKER_BOOT_ERROR);
  }

  if (spec.stuckAfterMs > 0) {
    // A thread of its own sees a blocked event loop and reports where it is stuck, before the master kills us.
    // It also takes a stack on demand (gwserverctl stack), on a socket of its own: it answers while the loop is blocked.
    watchdog = startWatchdog({ stuckAfterMs: spec.stuckAfterMs, fd: loggerFd(logger), reportFile: spec.reportFile, stackSocket: spec.stackSocket, base: { worker_id: spec.id } });
  }
  // gwserverctl workers and top: the requests in flight, found by walking the connections when asked (nothing per request).
  const inFlight = new InFlightWatch(() => server.servers);
  onMasterMessage('gwserver:inspect', (m) => send({ act: 'gwserver:inspected', seq: m.seq, ...inFlight.inspect(m.olderThanMs) }));
  if (spec.heartbeatMs > 0) {
    // One timer, one walk of the connections per beat: the walk counts the requests in flight for the load (with the
    // event loop's utilization and lag: src/worker/load.ts) and stamps the new ones, so gwserverctl knows their age.
    const load = loadSampler(() => inFlight.stamp(), spec.heartbeatMs);
    const beat = setInterval(() => send({ act: 'gwserver:heartbeat', requests, load: load() }), spec.heartbeatMs);
    beat.unref();
  }
  // The stack socket listens before ready (bounded: a thread slow to start does not hold the worker back).
  if (watchdog !== undefined) await Promise.race([watchdog.stackSocket, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
  if (state === 'booting') state = 'ready';
  send({ act: 'gwserver:ready' });
  metrics?.start();
}

await workerMain();
