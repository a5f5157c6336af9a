/**
 * --pid: the master writes its pid once its sockets are open, and removes
 * the file when it exits, if the file is still its own (a new master started
 * on USR2 writes its pid there; src/master/reexec.ts renames this master's
 * to PIDFILE.oldbin meanwhile).
 *
 * @module
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';

export class PidFile {
  /** The file written (a HUP may change the setting since: the file written at start is the one removed). */
  #file = '';

  /** Writes this process's pid to `file` ('' for none). */
  write(file: string): void {
    if (!file) return;
    writeFileSync(file, `${process.pid}\n`);
    this.#file = file;
  }

  /** Removes the file written, if it still holds this process's pid. */
  remove(): void {
    const file = this.#file;
    if (!file) return;
    try {
      // Only our own: a new master (USR2) may have written its pid there.
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
    } catch {
      // Already gone.
    }
  }
}
