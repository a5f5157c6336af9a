/**
 * gwserver's exit codes, one table for every process: the command line
 * (src/cli/), the master, which halts with them (src/master/arbiter.ts), a
 * worker that cannot boot, whose code the master reads (src/worker/main.ts),
 * and a re-executed master, whose code its old master logs
 * (src/master/reexec.ts). The numbers are gunicorn's where they mean the
 * same. systemd/gwserver.service's RestartPreventExitStatus= lists the codes
 * a restart cannot fix (test/integration/systemd-units.test.ts reads them
 * here).
 *
 * @module
 */

export const EXIT = {
  /** A normal stop, and --help, --version, --print-config, a --check-config that passed. */
  OK: 0,
  /** Could not start (a socket could not be bound, --chdir failed, the error log cannot be opened), or an error outside any request; --check-config for a --bind it can see is unusable. */
  ERROR: 1,
  /** A bad flag, setting value or config file; a worker started by hand, without the master's spec. */
  USAGE: 2,
  /** A worker could not boot (a log file, --user, the master's sockets); the master halts with it when its first workers cannot (gunicorn's WORKER_BOOT_ERROR); --check-config for a --user or --group that cannot be taken. */
  WORKER_BOOT_ERROR: 3,
  /** The app could not be loaded: a worker exits with it; the master, --preload and --check-config halt with it (gunicorn's APP_LOAD_ERROR). */
  APP_LOAD_ERROR: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** What a master's exit code says about it, as the old master that started it (USR2) logs it. */
export const MASTER_EXIT_MEANING: Readonly<Partial<Record<number, string>>> = {
  [EXIT.ERROR]: 'it could not start',
  [EXIT.USAGE]: 'a bad setting or config file',
  [EXIT.WORKER_BOOT_ERROR]: 'its workers could not boot',
  [EXIT.APP_LOAD_ERROR]: 'the app could not be loaded',
};
