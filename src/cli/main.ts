/**
 * `gwserver [options] MODULE:CALLABLE`: parse and validate the settings,
 * load the app, serve it. Every mistake a user can make on the command line
 * ends here as one line on stderr and a non-zero exit, never a stack trace.
 *
 * @module
 */
import { GatewayError } from '../errors.js';
import type { Config } from '../config/settings.js';
import { ExitNow, parseArgs, UsageError, VERSION } from './args.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { loadApp } from '../loader/load-app.js';
import { parseBind } from '../worker/binds.js';
import { WorkerServer } from '../worker/http-worker.js';

/** Exit codes, as gunicorn's where they mean the same. */
export const EXIT = {
  OK: 0,
  /** Could not start: a socket could not be bound, the chdir failed. */
  ERROR: 1,
  /** A bad flag or setting value. */
  USAGE: 2,
  /** The app could not be loaded (gunicorn's APP_LOAD_ERROR). */
  APP_LOAD: 4,
} as const;

function fatal(message: string, code: number): number {
  process.stderr.write(`gwserver: error: ${message}\n`);
  return code;
}

/** Runs the command line; resolves with an exit code when gwserver should exit at once. */
export async function main(argv: string[]): Promise<number | undefined> {
  let target: string;
  let config: Config;
  try {
    ({ target, config } = await parseArgs(argv));
  } catch (err) {
    if (err instanceof ExitNow) return EXIT.OK;
    if (err instanceof UsageError) return fatal(err.message, EXIT.USAGE);
    throw err;
  }
  if (config.chdir !== '') {
    try {
      process.chdir(config.chdir);
    } catch (err) {
      return fatal(`cannot change to directory ${config.chdir} (--chdir): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.ERROR);
    }
  }
  let logger: Logger;
  try {
    logger = createLogger({ level: config.logLevel, file: config.errorLogfile === '-' ? undefined : config.errorLogfile });
  } catch (err) {
    return fatal(`cannot open the error log ${config.errorLogfile}: ${(err as Error).message}`, EXIT.ERROR);
  }
  installProcessHandlers(logger);

  let app;
  try {
    app = await loadApp(target, { cwd: process.cwd() });
  } catch (err) {
    if (err instanceof GatewayError) return fatal(err.message, EXIT.APP_LOAD);
    return fatal(`cannot load ${target}: ${(err as Error).message}`, EXIT.APP_LOAD);
  }

  const server = new WorkerServer(app, {
    logger,
    rootPath: config.rootPath,
    multiprocess: false,
    workerId: 0,
    forwardedAllowIps: config.forwardedAllowIps,
    limitRequestLine: config.limitRequestLine,
    limitRequestFields: config.limitRequestFields,
    limitRequestFieldSize: config.limitRequestFieldSize,
    limitRequestBody: config.limitRequestBody,
    keepAlive: config.keepAlive,
    headersTimeout: config.headersTimeout,
    requestTimeout: config.requestTimeout,
    backlog: config.backlog,
    socketMode: config.socketMode,
  });
  for (const spec of config.bind) {
    try {
      await server.listen(parseBind(spec));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'EADDRINUSE' ? 'the address is already in use'
        : e.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)'
        : e.code === 'EADDRNOTAVAIL' ? 'the address is not available on this machine'
        : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' ? 'the host name does not resolve'
        : e.message;
      await server.close(0);
      return fatal(`cannot listen on ${spec}: ${why}`, EXIT.ERROR);
    }
  }
  logger.info({ target, version: VERSION }, `serving ${target}`);

  let stopping = false;
  const stop = (graceMs: number, signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void server.close(graceMs).then(() => {
      logger.info('stopped');
      process.exit(EXIT.OK);
    });
  };
  process.on('SIGTERM', () => stop(30_000, 'SIGTERM'));
  process.on('SIGINT', () => stop(0, 'SIGINT'));
  process.on('SIGQUIT', () => stop(0, 'SIGQUIT'));
  // Without a handler, SIGUSR1 would open the inspector on 127.0.0.1:9229.
  process.on('SIGUSR1', () => logger.info('SIGUSR1: log files are reopened by the master (not yet in single-process mode)'));
  return undefined;
}

/** Nothing a request does may kill the worker; an error outside any request is logged and fatal. */
function installProcessHandlers(logger: Logger): void {
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled promise rejection (an app promise nobody awaited)');
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception outside any request; exiting');
    process.exit(EXIT.ERROR);
  });
}
