/**
 * Short-lived gwserver runs and single requests, shared by the integration tests.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { BIN, ROOT } from './gwserver.js';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit. */
  ms: number;
}

/**
 * Runs gwserver until it exits by itself (--help, --check-config, a boot
 * failure...); one still running after `timeoutMs` is killed and the promise
 * rejects. GWSERVER_CMD_ARGS, WEB_CONCURRENCY and PORT of the test's own
 * environment are removed unless `env` sets them.
 */
export function runToExit(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...opts.env };
    for (const k of ['GWSERVER_CMD_ARGS', 'WEB_CONCURRENCY', 'PORT']) if (opts.env?.[k] === undefined) delete env[k];
    const t0 = Date.now();
    const p = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`gwserver ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** One GET on a fresh connection (`Connection: close`); rejects on a connection error or at the deadline. */
export function httpGet(port: number, path = '/', timeoutMs = 15_000): Promise<{ status: number; body: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { Connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - t0 }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response from 127.0.0.1:${port}${path} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
