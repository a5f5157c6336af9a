/**
 * `tempDir(prefix)`: a fresh directory under the system's temp dir, removed
 * with everything in it when the test that made it ends (scope.ts), or at the
 * end of the run when a before() hook made it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterTest } from './scope.js';

/** A new directory named `prefix` and random characters, e.g. `tempDir('gw-hup-')`. */
export function tempDir(prefix = 'gwserver-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  // A process the test started may still be writing there: a directory that refills is tried again.
  afterTest(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  return dir;
}
