/**
 * The control socket's commands as the arbiter's core decides them
 * (src/master/core.ts), without a process: events of kind `control` in, and
 * `reply` / `answer` actions out, against a table of workers in memory. The
 * same commands run against real masters in test/integration/control.test.ts.
 */
import assert from 'node:assert/strict';
import type { ControlCommand, ControlReply } from '../../../src/ipc/control.js';
import { ArbiterCore } from '../../../src/master/core.js';
import type { Action, ArbiterEvent } from '../../../src/master/events.js';
import { initialState, type MasterConfig } from '../../../src/master/state.js';

function config(extra: Record<string, unknown> = {}): MasterConfig {
  return { workers: 2, timeout: 30, gracefulTimeout: 30, maxWorkerMemory: 0, reload: false, scheduling: 'os', metricsBind: '', metricsBuckets: [0.1, 1], keepOldMaster: false, procName: '', ...extra } as unknown as MasterConfig;
}

/** The core, with a fake arbiter that ends every async step at once and gives each fork a pid. */
class Fake {
  now = 1_000_000;
  readonly core: ArbiterCore;
  /** Set: reading the configuration again (a reload) fails with this. */
  configError: string | undefined;
  #seq = 0;

  constructor(canReadConfig = false, extra: Record<string, unknown> = {}) {
    this.core = new ArbiterCore(initialState({ config: config(extra), app: 'app.mjs:application' }), { now: () => this.now, canReadConfig, inTerminal: () => false, pid: 4242 });
  }

  get s() {
    return this.core.state;
  }

  send(e: ArbiterEvent): Action[] {
    const out: Action[] = [];
    const queue = [e];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const actions = this.core.handle(next);
      out.push(...actions);
      for (const a of actions) {
        if (a.do === 'fork') queue.push({ kind: 'done', step: 'pre-fork', id: a.id });
        else if (a.do === 'spawn') queue.push({ kind: 'spawned', id: a.id, pid: 10_000 + a.id });
        else if ((a.do === 'hook' || a.do === 'notify') && a.then !== undefined) queue.push(a.then);
        else if (a.do === 'read-config') queue.push(this.configError === undefined ? { kind: 'done', step: 'read-config', next: { target: this.s.app, config: this.s.config } } : { kind: 'done', step: 'read-config', error: this.configError });
      }
    }
    return out;
  }

  /** A control command; returns its id and the actions decided. */
  command(command: ControlCommand): { id: number; actions: Action[] } {
    const id = ++this.#seq;
    return { id, actions: this.send({ kind: 'control', id, command }) };
  }

  readyAll(): Action[] {
    const out: Action[] = [];
    for (const w of [...this.s.workers.values()]) if (w.status.phase === 'booting') out.push(...this.send({ kind: 'message', id: w.id, message: { act: 'gwserver:ready' } }));
    return out;
  }

  exitStopping(): Action[] {
    const out: Action[] = [];
    for (const w of [...this.s.workers.values()]) if (w.status.phase === 'stopping') out.push(...this.send({ kind: 'exit', id: w.id, code: 0, signal: null }));
    return out;
  }

  boot(): this {
    this.send({ kind: 'opened', addresses: ['http://127.0.0.1:8000'] });
    this.readyAll();
    assert.equal(this.s.run.phase, 'running');
    return this;
  }
}

function replies(actions: Action[], id?: number): ControlReply[] {
  return actions.filter((a): a is Extract<Action, { do: 'reply' }> => a.do === 'reply' && (id === undefined || a.id === id)).map((a) => a.reply);
}

describe('arbiter: control commands', () => {
  it('passes the questions to the arbiter to answer, and changes nothing', () => {
    const f = new Fake().boot();
    for (const command of [{ cmd: 'status' }, { cmd: 'workers', olderThanMs: 0 }, { cmd: 'stack', worker: 1 }, { cmd: 'config' }, { cmd: 'stats' }] as ControlCommand[]) {
      const { id, actions } = f.command(command);
      assert.deepEqual(actions.filter((a) => a.do !== 'log'), [{ do: 'answer', id, command }]);
    }
    assert.equal(f.s.numWorkers, 2);
  });

  it('reload is answered once the new generation is ready, not before', () => {
    const f = new Fake().boot();
    const { id, actions } = f.command({ cmd: 'reload' });
    assert.deepEqual(replies(actions), []);
    assert.equal(f.s.reload.phase, 'rolling');
    const first = f.send({ kind: 'message', id: 3, message: { act: 'gwserver:ready' } });
    assert.deepEqual(replies(first), [], 'one new worker of two is not the generation');
    const done = f.send({ kind: 'message', id: 4, message: { act: 'gwserver:ready' } });
    assert.deepEqual(replies(done, id), [{ ok: true, generation: 2, workers: 2, ms: 0 }]);
  });

  it('a reload whose configuration cannot be read still reloads, and says so', () => {
    const f = new Fake(true).boot();
    f.configError = 'workers: must be a positive integer';
    const { id } = f.command({ cmd: 'reload' });
    const done = f.readyAll();
    assert.deepEqual(replies(done, id), [{ ok: true, generation: 2, workers: 2, ms: 0, warning: 'the configuration is invalid, the current one was kept: workers: must be a positive integer' }]);
    f.exitStopping();
    f.configError = undefined;
    const again = f.command({ cmd: 'reload' });
    assert.equal((replies(f.readyAll(), again.id)[0] as Record<string, unknown>).warning, undefined);
  });

  it('a reload asked for during another one is answered at the end of the one after', () => {
    const f = new Fake().boot();
    const a = f.command({ cmd: 'reload' });
    const b = f.command({ cmd: 'reload' });
    assert.equal(f.s.reloadAgain, true);
    const end1 = f.readyAll();
    assert.deepEqual(replies(end1, a.id).map((r) => r.ok), [true]);
    assert.deepEqual(replies(end1, b.id), []);
    // The old generation leaves; then the second reload begins, and ends.
    f.exitStopping();
    assert.equal(f.s.reload.phase, 'rolling');
    const end2 = f.readyAll();
    assert.deepEqual(replies(end2, b.id), [{ ok: true, generation: 3, workers: 2, ms: 0 }]);
  });

  it('a reload whose workers cannot load the app is answered with why', () => {
    const f = new Fake().boot();
    const { id } = f.command({ cmd: 'reload' });
    f.send({ kind: 'message', id: 3, message: { act: 'gwserver:boot-error', kind: 'app-load', message: 'SyntaxError: nope' } });
    const failed = f.send({ kind: 'exit', id: 3, code: 4, signal: null });
    const [r] = replies(failed, id);
    assert.equal(r?.ok, false);
    assert.match((r as { error: string }).error, /^reload failed: a new worker could not load the app: SyntaxError: nope; the running workers keep serving/);
    assert.equal(f.s.generation, 1);
  });

  it('add, remove (never below one) and kill, as TTIN, TTOU and a stop of one worker', () => {
    const f = new Fake().boot();
    assert.deepEqual(replies(f.command({ cmd: 'add', n: 2 }).actions), [{ ok: true, workers: 4, previous: 2 }]);
    assert.equal(f.s.numWorkers, 4);
    assert.deepEqual(replies(f.command({ cmd: 'remove', n: 9 }).actions), [{ ok: true, workers: 1, previous: 4 }]);
    assert.deepEqual(replies(f.command({ cmd: 'remove', n: 1 }).actions), [{ ok: false, error: 'already at 1 worker: the master keeps at least one' }]);
    f.readyAll();
    f.exitStopping();
    const [w] = [...f.s.workers.values()];
    const kill = f.command({ cmd: 'kill', worker: w!.pid, graceful: false }).actions;
    assert.deepEqual(replies(kill), [{ ok: true, worker: w!.id, pid: w!.pid, signal: 'SIGQUIT' }]);
    const stop = kill.find((a): a is Extract<Action, { do: 'stop' }> => a.do === 'stop');
    assert.equal(stop?.reason, 'killed');
    assert.equal(stop?.signal, 'SIGQUIT');
    // The master replaces it.
    assert.ok(kill.some((a) => a.do === 'fork'));
    assert.deepEqual(replies(f.command({ cmd: 'kill', worker: 77, graceful: true }).actions), [{ ok: false, error: 'no worker with id or pid 77' }]);
  });

  it('add and remove with adaptive workers: as N TTINs or TTOUs, both bounds move, and the reply says so', () => {
    const adaptive = { workersMin: 1, workersMax: 4, workersTargetInflight: 16, workersScaleDownDelay: 30 };
    const f = new Fake(false, adaptive).boot();
    const byCtl = f.command({ cmd: 'add', n: 2 }).actions;
    assert.deepEqual(replies(byCtl), [{ ok: true, workers: 4, previous: 2, workersMin: 3, workersMax: 6, previousMin: 1, previousMax: 4 }]);
    assert.deepEqual([f.s.numWorkers, f.s.scaler?.min, f.s.scaler?.max], [4, 3, 6]);
    assert.ok(byCtl.some((a) => a.do === 'log' && a.msg === 'adaptive workers: bounds 1-4 -> 3-6'));
    assert.ok(byCtl.some((a) => a.do === 'hook' && a.name === 'nworkersChanged'));
    // Two TTINs on a master in the same state: the same change.
    const g = new Fake(false, adaptive).boot();
    g.send({ kind: 'signal', signal: 'SIGTTIN' });
    g.send({ kind: 'signal', signal: 'SIGTTIN' });
    assert.deepEqual([g.s.numWorkers, g.s.scaler?.min, g.s.scaler?.max], [4, 3, 6]);
    assert.deepEqual(replies(f.command({ cmd: 'remove', n: 5 }).actions), [{ ok: true, workers: 1, previous: 4, workersMin: 1, workersMax: 1, previousMin: 3, previousMax: 6 }]);
    assert.deepEqual(replies(f.command({ cmd: 'remove', n: 1 }).actions), [{ ok: false, error: 'already at --workers-min 1 --workers-max 1, 1 worker: the master keeps at least one' }]);
  });

  it('reopen signals every worker USR1 and reopens the master\'s logs', () => {
    const f = new Fake().boot();
    const { actions } = f.command({ cmd: 'reopen' });
    assert.ok(actions.some((a) => a.do === 'reopen-logs'));
    assert.equal(actions.filter((a) => a.do === 'signal' && a.signal === 'SIGUSR1').length, 2);
    assert.deepEqual(replies(actions), [{ ok: true }]);
  });

  it('shutdown answers first, then stops; a waiting reload is told; later orders are refused', () => {
    const f = new Fake().boot();
    const reload = f.command({ cmd: 'reload' });
    const { id, actions } = f.command({ cmd: 'shutdown', graceful: true });
    const order = actions.filter((a) => a.do === 'reply' || a.do === 'notify').map((a) => (a.do === 'reply' ? `reply ${a.id}` : `notify ${a.state}`));
    assert.deepEqual(order, [`reply ${id}`, `reply ${reload.id}`, 'notify stopping']);
    assert.deepEqual(replies(actions, reload.id), [{ ok: false, error: 'the master is shutting down: the reload was given up' }]);
    assert.equal(f.s.run.phase, 'stopping');
    assert.deepEqual(replies(f.command({ cmd: 'add', n: 1 }).actions), [{ ok: false, error: 'the master is shutting down' }]);
    // Questions are still answered.
    assert.equal(f.command({ cmd: 'status' }).actions.some((a) => a.do === 'answer'), true);
  });
});
