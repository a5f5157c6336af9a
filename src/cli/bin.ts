#!/usr/bin/env node
/**
 * The `gwserver` executable.
 *
 * @module
 */
import { pinTickShape } from '../worker/tick-shape.js';

// Before anything else runs: see tick-shape.ts (a worker that idles after
// booting would otherwise serve ~20% slower).
pinTickShape();
const { main } = await import('./main.js');

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`gwserver: error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
