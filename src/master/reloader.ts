/**
 * --reload: watch the app's source files and reload the workers (as on HUP)
 * when one changes. For development: the master does not load the app, so it
 * watches the app's directory rather than a list of loaded modules.
 *
 * @module
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

const SOURCE = /\.(?:[cm]?js|ts|mts|cts|json)$/;

/** Whether a changed path (relative to the watched directory) is a source file worth a reload. */
export function isSource(relative: string): boolean {
  if (!SOURCE.test(relative)) return false;
  // Dependencies and dot-directories (.git, .cache) change for other reasons.
  return !relative.split(path.sep).some((part) => part === 'node_modules' || (part.startsWith('.') && part !== '.' && part !== '..'));
}

/**
 * Watches `dir` recursively; calls `onChange` once per burst of changes
 * (editors write a file in several steps). Returns a function that stops watching.
 */
export function watchSources(dir: string, onChange: (file: string) => void, debounceMs = 200): () => void {
  let timer: NodeJS.Timeout | undefined;
  let last = '';
  const watcher: FSWatcher = watch(dir, { recursive: true, persistent: false }, (_event, name) => {
    if (name === null || !isSource(String(name))) return;
    last = path.join(dir, String(name));
    clearTimeout(timer);
    timer = setTimeout(() => onChange(last), debounceMs);
  });
  watcher.on('error', () => undefined);
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}
