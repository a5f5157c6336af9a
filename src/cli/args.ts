/**
 * The command line's front door: from argv (and the environment) to the
 * action, the application and the validated settings, by way of the config
 * loader (src/config/load.ts), which owns the flags, the config file and
 * their precedence. Also the two actions that end before serving:
 * `--print-config` and `--check-config`.
 *
 * @module
 */
import { GatewayError } from '../errors.js';
import { resolveConfig, type ResolvedConfig } from '../config/load.js';
import { formatConfig } from '../config/print.js';
import type { Config } from '../config/settings.js';
import { EXIT } from '../ipc/exit-codes.js';
import type { ServedApp } from '../interop/kinds.js';
import { loadServedApp } from '../loader/load-app.js';
import { withValidation } from '../loader/validate.js';
import { bindProblem } from '../master/sockets.js';
import { listenFds } from '../master/systemd.js';
import { readTls, TlsSetupError } from '../master/tls.js';
import { dropPrivileges } from '../worker/privileges.js';
import { helpText, versionText } from './help.js';

export { UsageError, ExitNow } from '../config/load.js';
export { VERSION } from '../config/flags.js';

/**
 * Parses argv, $GWSERVER_CMD_ARGS and the config file into the action, the
 * target and the validated, frozen config (see {@link resolveConfig}).
 *
 * @throws UsageError with a one-line message (exit 2); ExitNow after --help or --version (exit 0).
 */
export async function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Promise<ResolvedConfig> {
  return resolveConfig(argv, env, cwd);
}

function writeOut(text: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(text, () => resolve()));
}

function fail(message: string, code: number): number {
  process.stderr.write(`gwserver: error: ${message}\n`);
  return code;
}

/** `--help` or `-v`/`--version`: writes the help or the version to stdout; resolves with exit code 0. */
export async function printHelpOrVersion(what: 'help' | 'version'): Promise<number> {
  await writeOut(what === 'help' ? helpText() : versionText());
  return EXIT.OK;
}

/** `--print-config`: writes the resolved configuration to stdout; resolves with exit code 0. */
export async function printConfig(config: Config): Promise<number> {
  await writeOut(formatConfig(config));
  return EXIT.OK;
}

/**
 * `--check-config`: the configuration is valid (it resolved); now do what a
 * start does before it serves, in the same order, as far as it can be done
 * without binding or forking: change to --chdir, read the TLS files, look at
 * each --bind address (a unix socket's directory, a host name), take the
 * workers' --group and --user (in this process, which exits next), and load
 * the app as a worker would; then print on stdout which interface (calling
 * convention) it will be served with and why. Resolves with the exit code
 * the start would have: 0 when all is fine, 1 for --chdir or a --bind, 2 for
 * the TLS files, 3 for --user or --group, 4 when the app does not load
 * (after one line on stderr, the one a start prints). Nothing is started: no
 * port is bound (the server being checked may hold it), a Fastify instance
 * is not made ready.
 */
export async function checkConfig(target: string, config: Config): Promise<number> {
  if (config.chdir !== '') {
    try {
      process.chdir(config.chdir);
    } catch (err) {
      return fail(`cannot change to directory ${config.chdir} (--chdir): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.ERROR);
    }
  }
  // The TLS files as the master will read them: what is wrong with them is said here too.
  try {
    const read = readTls(config);
    if (read !== undefined) await writeOut(`tls: the certificate of ${read.certificate.subject}, valid to ${read.certificate.validTo}\n`);
  } catch (err) {
    if (err instanceof TlsSetupError) return fail(err.message, EXIT.USAGE);
    throw err;
  }
  // Sockets from systemd replace --bind, as in a start.
  if (listenFds().length === 0) {
    for (const spec of config.bind) {
      const problem = await bindProblem(spec);
      if (problem !== undefined) return fail(problem.message, EXIT.ERROR);
    }
  }
  // As a worker: the app is loaded as --user, and a user or group that does not exist stops the start.
  try {
    dropPrivileges(config);
  } catch (err) {
    return fail((err as Error).message, EXIT.WORKER_BOOT_ERROR);
  }
  let served: ServedApp;
  try {
    served = await withValidation(await loadServedApp(target, { cwd: process.cwd(), interface: config.interface }), config.validate, target);
  } catch (err) {
    return fail(err instanceof GatewayError ? err.message : `cannot load ${target}: ${(err as Error).message}`, EXIT.APP_LOAD_ERROR);
  }
  // Which convention a worker will serve the app with: the one thing --check-config can tell that --print-config cannot.
  await writeOut(`interface: ${served.kind} (${served.why})\n`);
  return EXIT.OK;
}
