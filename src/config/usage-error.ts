/**
 * The two ways resolving the configuration ends without a configuration: a
 * mistake the user must fix (one line, exit 2), or `--help`/`--version`
 * having been printed (exit 0).
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

/** --help or --version was printed: exit 0. */
export class ExitNow extends Error {
  constructor() {
    super('exit now');
    this.name = 'ExitNow';
  }
}
