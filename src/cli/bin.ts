#!/usr/bin/env node
/**
 * The `gwserver` executable.
 *
 * @module
 */
import { pinTickShape } from '../worker/tick-shape.js';

// Before anything else runs: the master idles too, and its IPC and metrics
// take the same nextTick path (see tick-shape.ts; workers pin theirs in
// worker/entry.ts).
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
