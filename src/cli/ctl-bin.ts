#!/usr/bin/env node
/**
 * The `gwserverctl` executable (src/cli/ctl.ts).
 *
 * @module
 */
import { ctlMain } from './ctl.js';

ctlMain(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`gwserverctl: error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
