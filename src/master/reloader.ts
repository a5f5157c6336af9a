/**
 * --reload: watch the app's source files and reload the workers (as on HUP)
 * when one changes. For development: the master does not load the app, so it
 * watches the app's directory rather than a list of loaded modules.
 *
 * Each directory is watched on its own, not the tree with `recursive: true`:
 * on Linux, Node 20's recursive watch follows each file, so an editor that
 * saves by writing a new file and renaming it over the old one (`sed -i`,
 * vim, JetBrains' safe write) is seen once, and never again. A directory's
 * watch reports every name that changes in it, whatever the inode behind it.
 *
 * @module
 */
import { readdirSync, statSync, watch, type Dirent, type FSWatcher } from 'node:fs';
import path from 'node:path';

const SOURCE = /\.(?:[cm]?js|ts|mts|cts|json)$/;

/** Whether a changed path (relative to the watched directory) is a source file worth a reload. */
export function isSource(relative: string): boolean {
  if (!SOURCE.test(relative)) return false;
  return !relative.split(path.sep).some(skipped);
}

/** Dependencies and dot-directories (.git, .cache) change for other reasons. */
function skipped(part: string): boolean {
  return part === 'node_modules' || (part.startsWith('.') && part !== '.' && part !== '..');
}

/**
 * Watches `dir` and its subdirectories (but `node_modules` and dot-directories);
 * calls `onChange` once per burst of changes (editors write a file in several
 * steps). A directory created later is watched too. Returns a function that
 * stops watching.
 */
export function watchSources(dir: string, onChange: (file: string) => void, debounceMs = 200): () => void {
  let timer: NodeJS.Timeout | undefined;
  let last = '';
  const watchers = new Map<string, FSWatcher>();

  const changed = (file: string): void => {
    last = file;
    clearTimeout(timer);
    timer = setTimeout(() => onChange(last), debounceMs);
  };

  const add = (d: string): void => {
    if (watchers.has(d)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(d, { persistent: false }, (_event, name) => {
        if (name === null) return;
        const file = path.join(d, String(name));
        const relative = path.relative(dir, file);
        if (isSource(relative)) changed(file);
        else if (!skipped(String(name)) && isDirectory(file)) addTree(file);
      });
    } catch {
      return; // Gone already, or not readable: nothing to watch.
    }
    // A watched directory that is removed ends its watch with an error.
    watcher.on('error', () => {
      watcher.close();
      watchers.delete(d);
    });
    watchers.set(d, watcher);
  };

  const addTree = (d: string): void => {
    add(d);
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory() && !skipped(e.name)) addTree(path.join(d, e.name));
  };

  addTree(dir);
  return () => {
    clearTimeout(timer);
    for (const w of watchers.values()) w.close();
    watchers.clear();
  };
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
