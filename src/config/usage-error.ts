/**
 * The two ways resolving the configuration ends without a configuration: a
 * mistake the user must fix (one line, exit 2), or `--help`/`--version`
 * asked for (printed by the command line, exit 0).
 *
 * @module
 */
import { GatewayError } from '../errors.js';

/** A mistake on the command line, in $GWSERVER_CMD_ARGS or in the config file: one line for the user, exit 2. */
export class UsageError extends GatewayError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GW_CONFIG', message, options);
    this.name = 'UsageError';
  }
}

/**
 * --help or --version was asked for: the command line prints it (src/cli/help.ts
 * renders it; config/ only parses) and exits 0.
 */
export class ExitNow extends Error {
  readonly what: 'help' | 'version';
  constructor(what: 'help' | 'version') {
    super(`exit after --${what}`);
    this.name = 'ExitNow';
    this.what = what;
  }
}
