/**
 * A real redis-server (Debian's) for the tests of the Redis session store:
 * started on a free port of 127.0.0.1 with nothing saved to disk, and
 * killed by its pid by stop() (or at the end of the run, whatever happens).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createClient } from 'redis';
import { freePort } from './free-port.js';
import { afterTest } from './scope.js';
import { until } from './until.js';

const connect = (url: string) => createClient({ url });

export interface RedisServer {
  url: string;
  pid: number;
  /** A client connected to it (closed by stop()). */
  client: ReturnType<typeof connect>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error('redis-server is missing: apt-get install redis-server (.ci/run installs it)');
  }
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `redis://127.0.0.1:${port}`;
  const client = connect(url);
  client.on('error', () => {});
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (client.isOpen) await client.quit().catch(() => {});
    if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid!, 'SIGKILL');
    await exited;
  };
  afterTest(stop);
  await until(async () => {
    try {
      await client.connect();
      return true;
    } catch {
      return false;
    }
  }, 10_000, 'redis-server to accept connections');
  return { url, pid: proc.pid!, client, stop };
}
