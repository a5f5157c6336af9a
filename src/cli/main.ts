/**
 * `gwserver [options] MODULE:CALLABLE`: parse and validate the settings,
 * load the app, serve it. Every mistake a user can make on the command line
 * ends here as one line on stderr and a non-zero exit, never a stack trace.
 *
 * @module
 */
import { GatewayError } from '../errors.js';
import type { Config } from '../config/settings.js';
import { EXIT } from '../ipc/exit-codes.js';
import { checkConfig, ExitNow, parseArgs, printConfig, printHelpOrVersion, UsageError } from './args.js';
import { createLogger, resolveLogFormats, type Logger } from '../logging/logger.js';
import { loadServedApp } from '../loader/load-app.js';
import { withValidation } from '../loader/validate.js';
import { Arbiter, type MasterConfig } from '../master/arbiter.js';
import { reloadConfig, type ResolvedConfig } from '../config/load.js';
import { BindError, bindAll, inheritedSockets, type ListenSocket } from '../master/sockets.js';
import { clearListenEnv, createNotifier, describeFd, listenFds, listenPidMismatch } from '../master/systemd.js';
import { reportReadyToOldMaster, takeInheritedSockets } from '../master/reexec.js';
import { readTls, TlsSetupError, type TlsSettings } from '../master/tls.js';
import type { TlsMaterial } from '../ipc/protocol.js';

function fatal(message: string, code: number): number {
  process.stderr.write(`gwserver: error: ${message}\n`);
  return code;
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: string[]): Promise<number | undefined> {
  let target: string;
  let config: Config;
  let resolved: Extract<ResolvedConfig, { action: 'run' }>;
  try {
    const parsed = await parseArgs(argv);
    if (parsed.action === 'print') return await printConfig(parsed.config);
    if (parsed.action === 'check') return await checkConfig(parsed.target, parsed.config);
    resolved = parsed;
    ({ target, config } = parsed);
  } catch (err) {
    if (err instanceof ExitNow) return printHelpOrVersion(err.what);
    if (err instanceof UsageError) return fatal(err.message, EXIT.USAGE);
    throw err;
  }
  const startCwd = process.cwd();
  if (config.chdir !== '') {
    try {
      process.chdir(config.chdir);
    } catch (err) {
      return fatal(`cannot change to directory ${config.chdir} (--chdir): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.ERROR);
    }
  }
  let logger: Logger;
  try {
    logger = createLogger({ level: config.logLevel, file: config.errorLogfile === '-' ? undefined : config.errorLogfile, format: resolveLogFormats(config).error });
  } catch (err) {
    return fatal(`cannot open the error log ${config.errorLogfile}: ${(err as Error).message}`, EXIT.ERROR);
  }
  installProcessHandlers(logger);

  // --certfile: the master reads the key and certificates (after --chdir), before any worker needs them.
  let tls: TlsMaterial | undefined;
  try {
    tls = loadTls(config, logger);
  } catch (err) {
    if (err instanceof TlsSetupError) return fatal(err.message, EXIT.USAGE);
    throw err;
  }

  const cfg: MasterConfig = config;
  if (cfg.preload) {
    // --preload: load the app in the master first, so a broken app stops gwserver before any fork.
    try {
      await withValidation(await loadServedApp(target, { cwd: process.cwd(), interface: config.interface }), config.validate, target);
    } catch (err) {
      logger.error({ err: (err as Error).cause ?? err }, `the app failed to load: ${(err as Error).message}`);
      if (err instanceof GatewayError) return fatal(err.message, EXIT.APP_LOAD_ERROR);
      return fatal(`cannot load ${target}: ${(err as Error).message}`, EXIT.APP_LOAD_ERROR);
    }
  }

  const openSockets = async (): Promise<ListenSocket[]> => {
    // A master re-executed on USR2 serves the old master's sockets (GWSERVER_FDS): the port is never unbound.
    const handed = takeInheritedSockets(logger, cfg.bind);
    if (handed !== undefined) {
      clearListenEnv();
      return handed;
    }
    const activated = listenFds();
    const foreign = listenPidMismatch(process.env, process.pid);
    if (foreign !== undefined) logger.warn({ listen_pid: foreign }, `LISTEN_PID is ${foreign}, not this process: ignoring LISTEN_FDS`);
    // Children must not take the activation variables for theirs.
    clearListenEnv();
    if (activated.length === 0) return bindAll(cfg.bind, { socketMode: cfg.socketMode });
    // Socket activation: systemd bound the sockets; they replace --bind.
    logger.info({ fds: activated.map((f) => f.fd) }, `using ${activated.length} socket(s) from systemd (LISTEN_FDS)`);
    return inheritedSockets(activated.map((f) => ({ fd: f.fd, address: describeFd(f.fd) })));
  };

  // A re-executed master tells its old master when it is ready, right after systemd.
  const notify = reportReadyToOldMaster(createNotifier(process.env, {
    onError: (err: unknown) => logger.warn({ err }, 'sd_notify failed'),
  }));
  const arbiter = new Arbiter({
    target,
    config: cfg,
    configFile: resolved.configFile,
    configSource: resolved.configSource,
    ...(tls === undefined ? {} : { tls }),
    logger,
    cwd: startCwd,
    notify,
    invocation: resolved.invocation,
    reloadConfig: async () => {
      const next = await reloadConfig(resolved);
      // The TLS files read again: a certificate renewed on disk is served by the new workers. One that cannot be read keeps the current configuration (the core logs why).
      const nextTls = loadTls(next.config, logger);
      resolved = next;
      return { target: resolved.target, config: resolved.config, configFile: resolved.configFile, configSource: resolved.configSource, tls: nextTls };
    },
  });
  try {
    return await arbiter.run(openSockets);
  } catch (err) {
    if (err instanceof BindError) return fatal(err.message, EXIT.ERROR);
    throw err;
  }
}

/** Reads the TLS files (src/master/tls.ts) and logs the certificate served, with a warning when it is not valid now. */
function loadTls(config: TlsSettings, logger: Logger): TlsMaterial | undefined {
  const read = readTls(config);
  if (read === undefined) return undefined;
  const c = read.certificate;
  const fields = { certfile: config.certfile, subject: c.subject, issuer: c.issuer, valid_to: c.validTo, fingerprint256: c.fingerprint256, cert_reqs: config.certReqs, tls_min_version: config.tlsMinVersion };
  logger.info(fields, `TLS: serving the certificate of ${c.subject} (valid to ${c.validTo})`);
  if (c.expired || c.notYetValid) logger.warn(fields, `TLS: the certificate of ${c.subject} is ${c.expired ? `expired (since ${c.validTo})` : `not valid yet (until ${c.validFrom})`}: clients will refuse it`);
  return read.material;
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
