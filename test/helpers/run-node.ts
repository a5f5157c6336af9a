/**
 * `runNode(args)`: a node process started from the repository root (an
 * example, a script, `node --test ...`), its output collected as text, and
 * killed by pid when the test ends if it is still running, whatever the
 * test's outcome. For gwserver itself, see gwserver.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ROOT } from './gwserver.js';
import { afterTest } from './scope.js';
import { until } from './until.js';

export interface NodeRun {
  proc: ChildProcess;
  stdout: string;
  stderr: string;
  /** The exit code once it exited (null: killed by a signal); undefined while it runs. */
  code: number | null | undefined;
  /** Waits for the exit (within `deadline` ms) and resolves with the code. */
  exited(deadline?: number): Promise<number | null>;
}

export function runNode(args: string[], env: NodeJS.ProcessEnv = {}): NodeRun {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: NodeRun = {
    proc,
    stdout: '',
    stderr: '',
    code: undefined,
    exited: async (deadline = 20_000) => {
      await until(() => run.code !== undefined, deadline, () => `node ${args.join(' ')} to exit; stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
      return run.code ?? null;
    },
  };
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (run.stdout += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (run.stderr += d));
  proc.on('exit', (code) => (run.code = code));
  afterTest(() => {
    if (run.code === undefined && proc.pid !== undefined) process.kill(proc.pid, 'SIGKILL');
  });
  return run;
}
