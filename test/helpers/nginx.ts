/**
 * Runs the real nginx (Debian's /usr/sbin/nginx) in the foreground with a
 * site file of the test's making, everything it writes kept inside one temp
 * dir: a minimal main nginx.conf includes the site file, as nginx's own
 * http block includes conf.d/*.conf. nginx cannot listen on port 0, so the
 * port is one that was free a moment before; a start that loses it to
 * another process is retried on a new one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';
import { childPids } from './gwserver.js';

/** The nginx binary: on PATH, or Debian's /usr/sbin (not on a non-root user's PATH). */
export function findNginx(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin'];
  for (const d of dirs) {
    const candidate = path.join(d, 'nginx');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/**
 * Replaces the one line of `text` that `pattern` matches (a multiline regex
 * for a whole line). Throws when it matches no line or several: the shipped
 * file changed, and the test must follow it rather than run something else.
 */
export function rewriteLine(text: string, pattern: RegExp, replacement: string, file = 'config/nginx.conf'): string {
  const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`);
  const hits = text.match(global)?.length ?? 0;
  if (hits !== 1) throw new Error(`${file} has ${hits} lines matching ${pattern} (expected exactly 1): update the test to follow the file`);
  return text.replace(pattern, replacement);
}

export interface Nginx {
  /** The master's pid. */
  pid: number;
  /** The 127.0.0.1 port it listens on. */
  port: number;
  dir: string;
  errorLog(): string;
  accessLog(): string;
  /** Graceful stop (QUIT), then SIGKILL for the master and its workers if they outlive the grace. */
  stop(): Promise<void>;
}

function read(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** The main nginx.conf around the site file: paths in `dir`, nginx in the foreground. */
function mainConf(dir: string, site: string): string {
  const p = (name: string) => path.join(dir, name);
  return [
    'daemon off;',
    'master_process on;',
    'worker_processes 1;',
    // As root, nginx's workers would switch to nobody, who cannot enter a
    // mkdtemp directory (0700): run them as the test's own user instead.
    // (Anyone else gets a warning for the directive: leave it out.)
    ...(process.getuid?.() === 0 ? [`user ${os.userInfo().username};`] : []),
    `pid ${p('nginx.pid')};`,
    `error_log ${p('error.log')} info;`,
    'events { worker_connections 256; }',
    'http {',
    `    access_log ${p('access.log')};`,
    // Every temp path, even unused ones: nginx creates them all at start,
    // and the compiled-in defaults (/var/lib/nginx) are root's.
    `    client_body_temp_path ${p('client_body')};`,
    `    proxy_temp_path ${p('proxy')};`,
    `    fastcgi_temp_path ${p('fastcgi')};`,
    `    uwsgi_temp_path ${p('uwsgi')};`,
    `    scgi_temp_path ${p('scgi')};`,
    `    include ${site};`,
    '}',
    '',
  ].join('\n');
}

function exitedAlready(proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null;
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/**
 * Starts nginx with the site file `site(port)` written to `dir/<name>`, and
 * resolves once it listens (its pid file is written after the listening
 * sockets are open). Rejects with nginx's error log if it cannot start.
 */
export async function startNginx(nginx: string, dir: string, site: (port: number) => string, name = 'site.conf'): Promise<Nginx> {
  const sitePath = path.join(dir, name);
  const confPath = path.join(dir, 'nginx.conf');
  const pidPath = path.join(dir, 'nginx.pid');
  const errorPath = path.join(dir, 'error.log');
  writeFileSync(confPath, mainConf(dir, sitePath));
  let lastError = '';
  for (let attempt = 1; attempt <= 5; attempt++) {
    const port = await freePort();
    writeFileSync(sitePath, site(port));
    writeFileSync(errorPath, '');
    // -e: the error log before the configuration is read (Debian's default is stderr; others' is under /var/log).
    const proc = spawn(nginx, ['-p', dir, '-c', confPath, '-e', errorPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const workers = new Set<number>();
    const stop = async () => {
      for (const w of childPids(proc.pid!)) workers.add(w);
      if (!exitedAlready(proc)) {
        proc.kill('SIGQUIT');
        const grace = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(grace);
      }
      // A master killed outright leaves its workers behind, holding the port.
      for (const w of workers) kill(w, 'SIGKILL');
    };
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (exitedAlready(proc)) break;
      if (read(pidPath).trim() === String(proc.pid)) {
        for (const w of childPids(proc.pid!)) workers.add(w);
        return { pid: proc.pid!, port, dir, errorLog: () => read(errorPath), accessLog: () => read(path.join(dir, 'access.log')), stop };
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`nginx did not start within 15 s; error log:\n${read(errorPath)}${output}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    await exited;
    lastError = `${read(errorPath)}${output}`;
    // Another process took the port between our probe and nginx's bind: try another.
    if (!/Address already in use/.test(lastError)) break;
  }
  throw new Error(`nginx could not start; error log:\n${lastError}`);
}
