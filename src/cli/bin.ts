#!/usr/bin/env node
/**
 * The `gwserver` executable.
 *
 * @module
 */
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`gwserver: error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
