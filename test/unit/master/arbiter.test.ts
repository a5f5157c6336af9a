/**
 * The arbiter's decisions, without a process: src/master/core.ts driven
 * event by event against a table of workers that exists only in memory (as
 * gunicorn's tests/test_arbiter.py drives its arbiter against mocks), and
 * the pure decisions of src/master/decisions.ts on tables built by hand.
 *
 * A small fake stands in for src/master/arbiter.ts: it answers the actions
 * that report their end (a hook's `then`, a fork's pid, the configuration
 * read again) and keeps a clock. The same behaviours run with real processes
 * and signals in test/integration/master/.
 */
import assert from 'node:assert/strict';
import { ArbiterCore } from '../../../src/master/core.js';
import { backoffMs, manage, murder, reap, recycle, scale } from '../../../src/master/decisions.js';
import type { Action, ArbiterEvent, MasterSignal, ReloadedConfig } from '../../../src/master/events.js';
import { initialState, type ArbiterState, type MasterConfig, type WorkerRecord, type WorkerStatus } from '../../../src/master/state.js';

/** The settings the core reads, at their defaults; the rest of Config is of no concern here. */
function config(over: Record<string, unknown> = {}): MasterConfig {
  return {
    workers: 2,
    timeout: 30,
    gracefulTimeout: 30,
    maxWorkerMemory: 0,
    reload: false,
    scheduling: 'os',
    metricsBind: '',
    metricsBuckets: [0.1, 1],
    keepOldMaster: false,
    procName: '',
    ...over,
  } as unknown as MasterConfig;
}

type Step = Extract<ArbiterEvent, { kind: 'done' }>['step'];

/**
 * The core with a fake clock and a fake arbiter around it. Async steps end
 * at once (their `then` is handled next), unless their step is in `held`:
 * then they wait in `pending` until {@link release}.
 */
class Fake {
  now = 1_000_000;
  readonly core: ArbiterCore;
  /** Every action decided so far, in order. */
  readonly decided: Action[] = [];
  readonly held = new Set<Step>();
  readonly pending: ArbiterEvent[] = [];
  /** What reading the configuration gives (a HUP): a config, or an error message. */
  nextConfig: ReloadedConfig | string | undefined;
  /** What a timed-out worker's watchdog captured, by worker id. */
  readonly stacks = new Map<number, string>();
  /** What Math.random gives the core (the lifetime's jitter). */
  random = 0.5;

  constructor(over: Record<string, unknown> = {}, options: { canReadConfig?: boolean; inTerminal?: boolean } = {}) {
    this.core = new ArbiterCore(initialState({ config: config(over), app: 'app.mjs:application' }), {
      now: () => this.now,
      canReadConfig: options.canReadConfig ?? false,
      inTerminal: () => options.inTerminal ?? false,
      pid: 4242,
      random: () => this.random,
    });
  }

  get s(): Readonly<ArbiterState> {
    return this.core.state;
  }

  /** Handles `e`, then what the fake arbiter answers; returns every action decided meanwhile. */
  send(e: ArbiterEvent): Action[] {
    const out: Action[] = [];
    const queue = [e];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const actions = this.core.handle(next);
      out.push(...actions);
      for (const a of actions) queue.push(...this.#answer(a));
    }
    this.decided.push(...out);
    return out;
  }

  /** The async steps held so far, now done. */
  release(step?: Step): Action[] {
    const out: Action[] = [];
    for (let i = 0; i < this.pending.length; ) {
      const e = this.pending[i]!;
      if (step === undefined || (e.kind === 'done' && e.step === step)) {
        this.pending.splice(i, 1);
        out.push(...this.send(e));
      } else {
        i++;
      }
    }
    return out;
  }

  #then(e: ArbiterEvent | undefined): ArbiterEvent[] {
    if (e === undefined) return [];
    if (e.kind === 'done' && this.held.has(e.step)) {
      this.pending.push(e);
      return [];
    }
    return [e];
  }

  #answer(a: Action): ArbiterEvent[] {
    switch (a.do) {
      case 'fork':
        return this.#then({ kind: 'done', step: 'pre-fork', id: a.id });
      case 'spawn':
        return [{ kind: 'spawned', id: a.id, pid: 10_000 + a.id }];
      case 'hook':
      case 'notify':
        return this.#then(a.then);
      case 'watch':
        return this.#then({ kind: 'done', step: 'watch' });
      case 'read-config': {
        const c = this.nextConfig;
        return this.#then(typeof c === 'string' ? { kind: 'done', step: 'read-config', error: c } : { kind: 'done', step: 'read-config', next: c ?? { target: this.s.app, config: this.s.config } });
      }
      case 'time-out':
        return [{ kind: 'done', step: 'read-report', id: a.id, silentMs: a.silentMs, stack: this.stacks.get(a.id) }];
      default:
        return [];
    }
  }

  // ---- what the workers do ----

  open(): Action[] {
    return this.send({ kind: 'opened', addresses: ['http://127.0.0.1:8000'] });
  }

  ready(id: number): Action[] {
    return this.send({ kind: 'message', id, message: { act: 'gwserver:ready' } });
  }

  exit(id: number, code: number | null, signal: NodeJS.Signals | null = null): Action[] {
    return this.send({ kind: 'exit', id, code, signal });
  }

  signal(signal: MasterSignal): Action[] {
    return this.send({ kind: 'signal', signal });
  }

  /** Every worker still booting says it is ready. */
  readyAll(): Action[] {
    const out: Action[] = [];
    for (const w of [...this.s.workers.values()]) if (w.status.phase === 'booting') out.push(...this.ready(w.id));
    return out;
  }

  /** Every worker told to stop exits (code 0, as a graceful stop does). */
  exitStopping(): Action[] {
    const out: Action[] = [];
    for (const w of [...this.s.workers.values()]) if (w.status.phase === 'stopping') out.push(...this.exit(w.id, 0));
    return out;
  }

  /** Opens and boots the first generation. */
  boot(): this {
    this.open();
    this.readyAll();
    assert.equal(this.s.run.phase, 'running');
    return this;
  }

  ids(): number[] {
    return [...this.s.workers.keys()];
  }

  phases(): Record<number, string> {
    return Object.fromEntries([...this.s.workers.values()].map((w) => [w.id, `${w.generation}:${w.status.phase}`]));
  }
}

/** The actions `do`, from `actions`. */
function of<D extends Action['do']>(actions: Action[], d: D): Array<Extract<Action, { do: D }>> {
  return actions.filter((a): a is Extract<Action, { do: D }> => a.do === d);
}

function logged(actions: Action[], pattern: RegExp): Array<Extract<Action, { do: 'log' }>> {
  return of(actions, 'log').filter((a) => pattern.test(a.msg));
}

describe('arbiter: decisions against a fake table', () => {
  describe('boot', () => {
    it('forks the workers once the sockets are open, and announces them once all are ready', () => {
      const f = new Fake();
      const opened = f.open();
      assert.deepEqual(of(opened, 'fork').map((a) => a.id), [1, 2]);
      assert.deepEqual(of(opened, 'spawn').map((a) => a.id), [1, 2]);
      assert.equal(logged(opened, /^starting gwserver master \(2 workers\)$/).length, 1);
      assert.equal(f.s.run.phase, 'booting');
      assert.deepEqual(of(f.ready(1), 'announce'), []);
      const last = f.ready(2);
      assert.equal(logged(last, /^listening$/).length, 1);
      assert.deepEqual(of(last, 'announce'), [{ do: 'announce' }]);
      assert.deepEqual(of(last, 'tick'), [{ do: 'tick', on: true }]);
      assert.equal(f.s.run.phase, 'running');
    });

    it('counts a worker whose preFork hook runs as on its way: no second fork for it', () => {
      const f = new Fake();
      f.held.add('pre-fork');
      f.open();
      assert.deepEqual([...f.s.forking], [1, 2]);
      // Any event meanwhile: manage forks nothing more.
      assert.deepEqual(of(f.send({ kind: 'wake' }), 'fork'), []);
      assert.deepEqual(of(f.release(), 'spawn').map((a) => a.id), [1, 2]);
      assert.equal(f.s.forking.size, 0);
    });

    it('a worker that cannot load the app halts a master that never was complete, with exit code 4', () => {
      const f = new Fake();
      f.open();
      f.send({ kind: 'message', id: 1, message: { act: 'gwserver:boot-error', kind: 'app-load', message: 'app.mjs threw while loading: Error: boom' } });
      const died = f.exit(1, 4);
      assert.deepEqual(of(died, 'halt'), [{ do: 'halt', code: 4 }]);
      assert.deepEqual(of(died, 'stderr'), [{ do: 'stderr', line: 'gwserver: error: app.mjs threw while loading: Error: boom\n' }]);
      assert.equal(logged(died, /^halting: app\.mjs threw/).length, 1);
      assert.deepEqual(of(died, 'fork'), [], 'no respawn');
      // The other worker is stopped at once; once it is gone, the master exits 4.
      assert.deepEqual(of(died, 'stop').map((a) => [a.id, a.signal]), [[2, 'SIGQUIT']]);
      assert.deepEqual(of(f.exit(2, 0), 'exit'), [{ do: 'exit', code: 4 }]);
    });

    it('a worker that cannot boot (listen, --user) halts it with exit code 3', () => {
      const f = new Fake({ workers: 1 });
      f.open();
      f.send({ kind: 'message', id: 1, message: { act: 'gwserver:boot-error', kind: 'boot', message: 'cannot switch the workers to user nobody-x (--user)' } });
      const died = f.exit(1, 3);
      assert.deepEqual(of(died, 'halt'), [{ do: 'halt', code: 3 }]);
      assert.deepEqual(of(died, 'exit'), [{ do: 'exit', code: 3 }], 'no worker left: the master exits at once');
    });

    it('a HUP during the boot waits for it to be over, then reloads once', () => {
      const f = new Fake();
      f.open();
      const hup = f.signal('SIGHUP');
      assert.deepEqual(of(hup, 'notify'), [], 'no reload while the first generation boots');
      assert.equal(f.s.reloadAgain, true);
      const booted = f.readyAll();
      assert.deepEqual(of(booted, 'notify').map((a) => a.state), ['reloading']);
      assert.equal(f.s.generation, 2);
    });
  });

  describe('crash loop', () => {
    it('a worker dying while booting is retried after 100, 200, 400 ms ... up to 30 s; a ready worker resets the count', () => {
      const f = new Fake({ workers: 1 }).boot();
      // A crash of a serving worker: replaced at once.
      assert.deepEqual(of(f.exit(1, null, 'SIGKILL'), 'fork').map((a) => a.id), [2]);
      const waits: number[] = [];
      for (let i = 0; i < 10; i++) {
        const [w] = f.ids();
        const died = f.exit(w!, 7);
        assert.deepEqual(of(died, 'fork'), [], `no fork at once after failure ${i + 1}`);
        const [backoff] = of(died, 'backoff');
        waits.push(backoff!.until - f.now);
        assert.equal(logged(died, /died while booting; next attempt in \d+ ms$/).length, 1);
        assert.deepEqual(of(died, 'wake-at'), [{ do: 'wake-at', at: backoff!.until }]);
        // Other events before the time: still no fork, and no second timer.
        f.now = backoff!.until - 1;
        const early = f.send({ kind: 'tick' });
        assert.deepEqual([of(early, 'fork'), of(early, 'wake-at')], [[], []]);
        f.now = backoff!.until;
        assert.equal(of(f.send({ kind: 'wake' }), 'fork').length, 1);
      }
      assert.deepEqual(waits, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000]);
      assert.equal(backoffMs(20), 30_000);
      // Fixed: the next worker boots; the count starts over.
      f.ready(f.ids()[0]!);
      assert.equal(f.s.bootFailures, 0);
      assert.equal(f.s.run.phase, 'running');
    });
  });

  describe('murder', () => {
    it('kills a worker silent past --timeout, after logging the stack its watchdog captured and running workerTimeout', () => {
      const f = new Fake({ workers: 1, timeout: 2 }).boot();
      f.stacks.set(1, 'Error\n    at spinForever (file:///app/stuck.mjs:12:3)');
      f.now += 1500;
      f.send({ kind: 'message', id: 1, message: { act: 'gwserver:heartbeat', requests: 3 } });
      f.now += 1900;
      assert.deepEqual(of(f.send({ kind: 'tick' }), 'time-out'), [], 'a heartbeat 1.9 s ago: alive');
      f.now += 200;
      f.held.add('worker-timeout');
      const tick = f.send({ kind: 'tick' });
      assert.deepEqual(of(tick, 'time-out'), [{ do: 'time-out', id: 1, silentMs: 2100 }]);
      assert.deepEqual(of(tick, 'fork').map((a) => a.id), [2], 'its replacement boots at once');
      const [record] = logged(tick, /^worker 1 timed out: its event loop has been blocked for 2\.1 s\n/);
      assert.ok(record, JSON.stringify(of(tick, 'log')));
      assert.equal(record.level, 'error');
      assert.match(record.msg, /at spinForever \(file:\/\/\/app\/stuck\.mjs:12:3\)/);
      assert.equal(record.fields.stack, 'Error\n    at spinForever (file:///app/stuck.mjs:12:3)');
      assert.deepEqual(of(tick, 'count'), [{ do: 'count', metric: 'timeout' }]);
      const [hook] = of(tick, 'hook').filter((h) => h.name === 'workerTimeout');
      assert.deepEqual(hook!.args, [{ id: 1, pid: 10_001 }, 'Error\n    at spinForever (file:///app/stuck.mjs:12:3)']);
      assert.equal(hook!.timeoutMs, 2000);
      // Killed only once the hook returned, and not timed out twice meanwhile.
      assert.deepEqual(of(tick, 'signal'), []);
      f.now += 500;
      assert.deepEqual(of(f.send({ kind: 'tick' }), 'time-out'), []);
      assert.deepEqual(of(f.release('worker-timeout'), 'signal'), [{ do: 'signal', id: 1, signal: 'SIGKILL' }]);
      // Its exit: a warning with the reason, counted as a restart.
      const exit = f.exit(1, null, 'SIGKILL');
      assert.deepEqual(logged(exit, /^worker 1 exited \(timeout\)$/).map((l) => l.level), ['warn']);
      assert.deepEqual(of(exit, 'count'), [{ do: 'count', metric: 'restart', reason: 'timeout' }]);
      assert.deepEqual(of(exit, 'hook').map((h) => h.name), ['childExit'], 'no workerExit: the worker did not stop on request');
    });

    it('says so when no stack could be captured', () => {
      const f = new Fake({ workers: 1, timeout: 1 }).boot();
      f.now += 1001;
      const [record] = logged(f.send({ kind: 'tick' }), /timed out/);
      assert.equal(record!.fields.stack, '(no stack captured)');
      assert.equal(record!.msg, 'worker 1 timed out: its event loop has been blocked for 1 s');
    });

    it('replaces a worker over --max-worker-memory: the replacement first, then a graceful stop', () => {
      const f = new Fake({ workers: 1, maxWorkerMemory: 100 }).boot();
      assert.deepEqual(of(f.send({ kind: 'tick', rss: new Map([[1, 99]]) }), 'retire'), []);
      const fat = f.send({ kind: 'tick', rss: new Map([[1, 150]]) });
      assert.deepEqual(of(fat, 'retire'), [{ do: 'retire', id: 1, reason: 'memory' }]);
      assert.equal(logged(fat, /uses 150 MiB \(over --max-worker-memory 100\)/).length, 1);
      assert.deepEqual(of(fat, 'fork').map((a) => a.id), [2]);
      assert.deepEqual(of(fat, 'stop'), []);
      assert.deepEqual(of(f.ready(2), 'stop').map((a) => [a.id, a.reason, a.signal]), [[1, 'memory', 'SIGTERM']]);
    });
  });

  describe('TTIN and TTOU', () => {
    it('TTIN forks one more; TTOU stops the oldest gracefully; never below one worker', () => {
      const f = new Fake().boot();
      const ttin = f.signal('SIGTTIN');
      assert.equal(f.s.numWorkers, 3);
      assert.deepEqual(of(ttin, 'fork').map((a) => a.id), [3]);
      assert.deepEqual(of(ttin, 'hook').filter((h) => h.name === 'nworkersChanged').map((h) => h.args), [[3, 2]]);
      assert.equal(logged(ttin, /^number of workers: 2 -> 3$/).length, 1);
      f.readyAll();
      const ttou = f.signal('SIGTTOU');
      assert.deepEqual(of(ttou, 'stop').map((a) => [a.id, a.reason, a.signal, a.graceMs]), [[1, 'scale-down', 'SIGTERM', 30_000]]);
      f.exitStopping();
      f.signal('SIGTTOU');
      f.exitStopping();
      assert.deepEqual(f.ids(), [3]);
      const last = f.signal('SIGTTOU');
      assert.deepEqual(of(last, 'stop'), []);
      assert.equal(logged(last, /^SIGTTOU: already at 1 worker$/).length, 1);
      assert.equal(f.s.numWorkers, 1);
    });
  });

  describe('HUP', () => {
    it('reads the config, runs onReload, boots a new generation, and stops each old worker only as a new one is ready', () => {
      const f = new Fake({}, { canReadConfig: true }).boot();
      const hup = f.signal('SIGHUP');
      // In order: RELOADING=1, the config, onReload, then the new workers.
      const order = hup.filter((a) => ['notify', 'read-config', 'fork'].includes(a.do) || (a.do === 'hook' && a.name === 'onReload')).map((a) => (a.do === 'hook' ? a.name : a.do));
      assert.deepEqual(order, ['notify', 'read-config', 'onReload', 'fork', 'fork']);
      assert.equal(logged(hup, /^reloading: booting new workers$/).length, 1);
      assert.deepEqual(of(hup, 'stop'), [], 'the old generation serves while the new one boots');
      assert.deepEqual(f.phases(), { 1: '1:ready', 2: '1:ready', 3: '2:booting', 4: '2:booting' });
      // One new worker ready: one old worker (the oldest) stops.
      const first = f.ready(3);
      assert.deepEqual(of(first, 'stop').map((a) => [a.id, a.reason, a.signal]), [[1, 'reload', 'SIGTERM']]);
      assert.deepEqual(logged(first, /^reloaded in/), []);
      // The generation complete: the last old worker stops, the reload is done, READY=1.
      f.now += 700;
      const second = f.ready(4);
      assert.deepEqual(of(second, 'stop').map((a) => [a.id, a.reason]), [[2, 'reload']]);
      assert.deepEqual(logged(second, /^reloaded in \d+ ms$/).map((l) => l.fields), [{ ms: 700 }]);
      assert.deepEqual(of(second, 'notify').map((a) => a.state), ['ready']);
      assert.equal(f.s.reload.phase, 'settling');
      const gone = f.exitStopping();
      assert.deepEqual(of(gone, 'count').map((c) => (c.metric === 'restart' ? c.reason : c.metric)), ['reload', 'reload']);
      assert.deepEqual(of(gone, 'hook').map((h) => h.name), ['childExit', 'workerExit', 'childExit', 'workerExit']);
      assert.deepEqual(of(gone, 'fork'), [], 'a worker stopped by the reload is not replaced');
      assert.equal(f.s.reload.phase, 'idle');
      assert.deepEqual(f.phases(), { 3: '2:ready', 4: '2:ready' });
    });

    it('keeps the current configuration when the new one is invalid, and reloads anyway', () => {
      const f = new Fake({}, { canReadConfig: true }).boot();
      f.nextConfig = 'gw.config.mjs: invalid value for workers: expected a number, got "four"';
      const hup = f.signal('SIGHUP');
      assert.deepEqual(logged(hup, /^reload: the configuration is invalid, keeping the current one: gw\.config\.mjs/).map((l) => l.level), ['error']);
      assert.equal(of(hup, 'fork').length, 2);
    });

    it('a HUP takes the TLS material read again for the new workers; an unreadable file keeps the current material', () => {
      const f = new Fake({}, { canReadConfig: true }).boot();
      const first = { cert: 'CERT 1', key: 'KEY 1' };
      f.nextConfig = { target: 'app.mjs:application', config: config({ certfile: 'server.pem' }), tls: first };
      f.signal('SIGHUP');
      assert.deepEqual(f.s.tls, first);
      f.readyAll();
      f.exitStopping();
      assert.equal(f.s.reload.phase, 'idle');
      f.nextConfig = '--certfile server.pem holds no PEM certificate';
      const hup = f.signal('SIGHUP');
      assert.equal(logged(hup, /^reload: the configuration is invalid, keeping the current one: --certfile server\.pem/).length, 1);
      assert.deepEqual(f.s.tls, first, 'the current material stays');
      assert.equal(of(hup, 'fork').length, 2, 'the reload goes on with it');
    });

    it('applies a new number of workers from the configuration', () => {
      const f = new Fake({}, { canReadConfig: true }).boot();
      f.nextConfig = { target: 'app.mjs:application', config: config({ workers: 3 }) };
      const hup = f.signal('SIGHUP');
      assert.equal(logged(hup, /^number of workers: 2 -> 3$/).length, 1);
      assert.equal(of(hup, 'fork').length, 3);
    });

    it('keeps what only a restart applies (settings.ts says which), names it in a warning, and applies the rest', () => {
      const f = new Fake({}, { canReadConfig: true }).boot();
      f.nextConfig = { target: 'app.mjs:application', config: config({ scheduling: 'round-robin', metricsBind: '127.0.0.1:9100', timeout: 60 }) };
      const hup = f.signal('SIGHUP');
      const warned = logged(hup, /takes effect on a restart/);
      assert.deepEqual(warned.map((l) => [l.level, l.fields?.setting]), [['warn', 'scheduling'], ['warn', 'metricsBind']]);
      assert.match(warned[0]!.msg, /^--scheduling round-robin takes effect on a restart or an upgrade \(USR2\), not on HUP: still os$/);
      assert.match(warned[1]!.msg, /^--metrics-bind 127\.0\.0\.1:9100 takes effect on a restart, not on HUP \(nor USR2, which keeps the metrics socket\): still ''$/);
      assert.equal(f.s.config.scheduling, 'os');
      assert.equal(f.s.config.metricsBind, '');
      assert.equal(f.s.config.timeout, 60);
    });

    it('a new generation that cannot load the app is cancelled: the old one keeps serving', () => {
      const f = new Fake({ workers: 1 }).boot();
      f.signal('SIGHUP');
      f.send({ kind: 'message', id: 2, message: { act: 'gwserver:boot-error', kind: 'app-load', message: 'broken deploy' } });
      const died = f.exit(2, 4);
      assert.deepEqual(of(died, 'halt'), [], 'no halt once booted');
      assert.equal(logged(died, /^reload failed: a new worker could not load the app: broken deploy; the running workers keep serving until the next reload$/).length, 1);
      assert.deepEqual([logged(died, /next attempt/), of(died, 'backoff')], [[], []], 'no attempt is promised: the next reload tries again, at once');
      assert.equal(of(died, 'log').length, 2, 'its exit, then the failure: said once');
      assert.deepEqual(of(died, 'notify').map((a) => a.state), ['ready']);
      assert.deepEqual(of(died, 'fork'), []);
      assert.equal(f.s.generation, 1);
      assert.deepEqual(f.phases(), { 1: '1:ready' });
      assert.equal(f.s.reload.phase, 'idle');
    });

    it('a burst of HUPs during a reload: exactly one more reload, after the first has settled, never two generations booting at once', () => {
      const f = new Fake({}, { canReadConfig: true }).boot();
      f.held.add('notify-reloading');
      f.signal('SIGHUP');
      // HUPs while RELOADING=1 is on its way, then while the new generation boots.
      const early = [f.signal('SIGHUP'), f.signal('SIGHUP')].flat();
      assert.deepEqual(of(early, 'notify'), []);
      f.held.clear();
      f.release();
      assert.equal(f.s.reload.phase, 'rolling');
      const late = [f.signal('SIGHUP'), f.send({ kind: 'reload', file: '/app/app.mjs', shown: 'app.mjs' })].flat();
      assert.deepEqual([of(late, 'notify'), of(late, 'fork')], [[], []]);
      assert.equal(logged(early.concat(late), /the reload will start once it is over$/).length, 1, 'said once');
      let most = 0;
      const count = () => (most = Math.max(most, f.s.workers.size + f.s.forking.size));
      f.ready(3);
      count();
      const done = f.ready(4);
      count();
      assert.deepEqual(of(done, 'notify').map((a) => a.state), ['ready'], 'the first reload is over');
      assert.equal(f.s.generation, 2);
      // Not before the old generation is gone.
      const oneGone = f.exit(1, 0);
      assert.deepEqual(of(oneGone, 'notify'), []);
      const again = f.exit(2, 0);
      assert.deepEqual(of(again, 'notify').map((a) => a.state), ['reloading']);
      assert.equal(f.s.generation, 3);
      assert.equal(of(again, 'fork').length, 2);
      count();
      f.readyAll();
      f.exitStopping();
      assert.deepEqual(f.phases(), { 5: '3:ready', 6: '3:ready' });
      assert.equal(f.s.reload.phase, 'idle');
      assert.equal(f.s.reloadAgain, false);
      assert.equal(logged(f.decided, /^reloading: booting new workers$/).length, 2, 'two reloads for five requests');
      assert.ok(most <= 4, `at most ${most} workers at once`);
    });

    it('a boot failure of a reload that another one waits behind gives way to it', () => {
      const f = new Fake({ workers: 1 }).boot();
      f.signal('SIGHUP');
      f.signal('SIGHUP');
      const died = f.exit(2, 7);
      assert.equal(logged(died, /another reload was asked for: this one is cancelled for it$/).length, 1);
      // Cancelled (READY=1: generation 1 serves), then the next one at once (nothing of generation 2 is left).
      assert.deepEqual(of(died, 'notify').map((a) => a.state), ['ready', 'reloading']);
      assert.equal(f.s.generation, 3);
      assert.deepEqual(f.phases(), { 1: '1:ready' });
      // The backoff applies to the next fork.
      assert.deepEqual(of(died, 'fork'), []);
      f.now += 100;
      assert.deepEqual(of(f.send({ kind: 'wake' }), 'fork').map((a) => a.id), [3]);
    });
  });

  describe('max-requests', () => {
    it('a worker at --max-requests is replaced: its replacement boots, then it stops gracefully', () => {
      const f = new Fake().boot();
      const retire = f.send({ kind: 'message', id: 1, message: { act: 'gwserver:retire', reason: 'max-requests', requests: 57 } });
      assert.deepEqual(of(retire, 'retire'), [{ do: 'retire', id: 1, reason: 'max-requests' }]);
      assert.equal(logged(retire, /^replacing worker 1 \(max-requests\)$/).length, 1);
      assert.deepEqual(of(retire, 'fork').map((a) => a.id), [3]);
      assert.deepEqual(of(retire, 'stop'), []);
      // Asking twice changes nothing.
      assert.deepEqual(f.send({ kind: 'message', id: 1, message: { act: 'gwserver:retire', reason: 'max-requests', requests: 58 } }), []);
      assert.deepEqual(of(f.ready(3), 'stop').map((a) => [a.id, a.reason, a.signal]), [[1, 'max-requests', 'SIGTERM']]);
      const exit = f.exit(1, 0);
      assert.deepEqual(logged(exit, /^worker 1 exited \(max-requests\)$/).map((l) => [l.level, l.fields.requests]), [['info', 58]]);
      assert.deepEqual(of(exit, 'count'), [{ do: 'count', metric: 'restart', reason: 'max-requests' }]);
      assert.deepEqual(of(exit, 'fork'), []);
    });
  });

  describe('max-worker-lifetime', () => {
    it('replaces a worker whose lifetime (with its jitter) is up: the replacement is ready before it stops, one worker at a time', () => {
      const f = new Fake({ workers: 2, maxWorkerLifetime: 10, maxWorkerLifetimeJitter: 4 });
      f.random = 0.25;
      f.boot();
      // 10 s + 0.25 x 4 s of jitter, from the fork.
      assert.deepEqual([...f.s.workers.values()].map((w) => w.retireAt - w.startedAt), [11_000, 11_000]);
      f.now += 10_999;
      assert.deepEqual(f.send({ kind: 'tick' }), []);
      f.now += 1;
      const due = f.send({ kind: 'tick' });
      // Both are due: the first goes, the second waits for its turn.
      assert.deepEqual(of(due, 'retire'), [{ do: 'retire', id: 1, reason: 'lifetime' }]);
      assert.equal(logged(due, /^worker 1 reached --max-worker-lifetime \(11 s old\)$/).length, 1);
      assert.equal(logged(due, /^replacing worker 1 \(lifetime\)$/).length, 1);
      assert.deepEqual(of(due, 'fork').map((a) => a.id), [3]);
      assert.deepEqual(of(due, 'stop'), []);
      // While worker 3 boots (and worker 1 serves on), worker 2 waits.
      f.now += 250;
      assert.deepEqual(of(f.send({ kind: 'tick' }), 'retire'), []);
      const ready = f.ready(3);
      assert.deepEqual(of(ready, 'stop').map((a) => [a.id, a.reason, a.signal]), [[1, 'lifetime', 'SIGTERM']]);
      // Worker 1 is stopping, its replacement serves: now worker 2's turn.
      f.now += 250;
      const next = f.send({ kind: 'tick' });
      assert.deepEqual(of(next, 'retire'), [{ do: 'retire', id: 2, reason: 'lifetime' }]);
      assert.deepEqual(of(next, 'fork').map((a) => a.id), [4]);
      const exit = f.exit(1, 0);
      assert.deepEqual(logged(exit, /^worker 1 exited \(lifetime\)$/).map((l) => l.level), ['info']);
      assert.deepEqual(of(exit, 'count'), [{ do: 'count', metric: 'restart', reason: 'lifetime' }]);
      assert.deepEqual(of(exit, 'fork'), [], 'no second replacement');
      assert.deepEqual(of(f.ready(4), 'stop').map((a) => [a.id, a.reason]), [[2, 'lifetime']]);
      // The replacements got lifetimes of their own.
      assert.ok([...f.s.workers.values()].filter((w) => w.id > 2).every((w) => w.retireAt - w.startedAt === 11_000));
    });

    it('with -w 1, the one worker serves until its replacement is ready', () => {
      const f = new Fake({ workers: 1, maxWorkerLifetime: 2 }).boot();
      f.now += 2000;
      const due = f.send({ kind: 'tick' });
      assert.deepEqual(of(due, 'retire').map((a) => a.id), [1]);
      assert.deepEqual(of(due, 'fork').map((a) => a.id), [2]);
      assert.deepEqual(f.phases(), { 1: '1:retiring', 2: '1:booting' });
      assert.deepEqual(of(f.ready(2), 'stop').map((a) => a.id), [1]);
    });

    it('off by default; never during a reload; not for a worker of another generation', () => {
      const off = new Fake({ timeout: 0 }).boot();
      off.now += 365 * 86_400_000;
      assert.deepEqual(off.send({ kind: 'tick' }), []);
      const f = new Fake({ workers: 1, maxWorkerLifetime: 1 }, { canReadConfig: true }).boot();
      f.held.add('on-reload');
      f.signal('SIGHUP');
      f.now += 5000;
      assert.deepEqual(recycle(f.s, f.now), [], 'a reload is under way');
    });
  });

  describe('adaptive workers', () => {
    const adaptive = { workers: 1, workersMin: 1, workersMax: 4, workersTargetInflight: 10, workersScaleDownDelay: 5 };
    /** Every serving worker heartbeats with this load. */
    function beat(f: Fake, load: { inflight?: number; elu?: number; lag?: number }): void {
      for (const w of [...f.s.workers.values()]) {
        if (w.status.phase === 'ready' || w.status.phase === 'retiring') {
          f.send({ kind: 'message', id: w.id, message: { act: 'gwserver:heartbeat', requests: 0, load: { inflight: 0, elu: 0, lag: 0, ...load } } });
        }
      }
    }
    function tick(f: Fake, ms = 250, backlog?: number): Action[] {
      f.now += ms;
      return f.send({ kind: 'tick', ...(backlog === undefined ? {} : { backlog }) });
    }

    it('starts with -w within the bounds; waits for every serving worker to report its load', () => {
      const f = new Fake({ ...adaptive, workers: 9 });
      assert.equal(f.s.numWorkers, 4);
      assert.deepEqual(logged(f.open(), /^starting gwserver master \(4 workers, adaptive: 1 to 4\)$/).length, 1);
      f.readyAll();
      assert.deepEqual(of(tick(f), 'scale'), [], 'no load reported yet');
    });

    it('scales up at once to what the requests in flight need, within the maximum, and waits for the new workers before deciding again', () => {
      const f = new Fake(adaptive).boot();
      beat(f, { inflight: 25 });
      const up = tick(f);
      assert.deepEqual(of(up, 'scale'), [{ do: 'scale', workers: 3, direction: 'up' }]);
      assert.equal(logged(up, /^adaptive workers: 1 -> 3 \(up: 25 requests in flight, event loops 0% busy, lag 0 ms\)$/).length, 1);
      assert.deepEqual(of(up, 'count'), [{ do: 'count', metric: 'scale', direction: 'up' }]);
      assert.deepEqual(of(up, 'hook').filter((h) => h.name === 'nworkersChanged').map((h) => h.args), [[3, 1]]);
      assert.deepEqual(of(up, 'fork').map((a) => a.id), [2, 3]);
      // The new workers boot, then have not reported: nothing more is decided.
      beat(f, { inflight: 100 });
      assert.deepEqual(of(tick(f), 'scale'), []);
      f.readyAll();
      assert.deepEqual(of(tick(f), 'scale'), [], 'the new workers have not reported yet');
      beat(f, { inflight: 100 });
      assert.deepEqual(of(tick(f), 'scale'), [{ do: 'scale', workers: 4, direction: 'up' }], 'never above the maximum');
      f.readyAll();
      beat(f, { inflight: 100 });
      assert.deepEqual(of(tick(f), 'scale'), []);
      assert.equal(f.s.numWorkers, 4);
    });

    it('event loops busy past 75%, a backlog on two samples in a row, or lag with busy loops each ask for more', () => {
      const busy = new Fake(adaptive).boot();
      beat(busy, { elu: 0.9 });
      assert.deepEqual(of(tick(busy), 'scale').map((a) => a.workers), [2]);
      const queued = new Fake(adaptive).boot();
      beat(queued, { inflight: 1 });
      assert.deepEqual(of(tick(queued, 250, 3), 'scale'), [], 'one sample is not enough');
      assert.deepEqual(of(tick(queued), 'scale'), [], 'between samples, the count holds');
      const up = tick(queued, 250, 5);
      assert.deepEqual(of(up, 'scale').map((a) => a.workers), [2]);
      assert.equal(logged(up, /connections waiting in the backlog/).length, 1);
      const late = new Fake(adaptive).boot();
      beat(late, { lag: 300, elu: 0.2 });
      assert.deepEqual(of(tick(late), 'scale'), [], 'a late loop that is not busy: the machine is, more workers would not help');
      beat(late, { lag: 300, elu: 0.6 });
      assert.deepEqual(of(tick(late), 'scale').map((a) => a.workers), [2]);
    });

    it('scales down one worker at a time, after the load has needed fewer for the delay, the oldest first, never below the minimum', () => {
      const f = new Fake({ ...adaptive, workersMin: 2, workers: 4, timeout: 0 }).boot();
      beat(f, { inflight: 3 });
      tick(f);
      assert.equal(f.s.scaler?.belowSince, f.now);
      assert.deepEqual(of(tick(f, 4000), 'scale'), []);
      // A moment of load resets the wait.
      beat(f, { inflight: 35 });
      assert.deepEqual(of(tick(f), 'scale'), []);
      assert.equal(f.s.scaler?.belowSince, 0);
      beat(f, { inflight: 3 });
      tick(f);
      assert.deepEqual(of(tick(f, 4999), 'scale'), []);
      const down = tick(f, 1);
      assert.deepEqual(of(down, 'scale'), [{ do: 'scale', workers: 3, direction: 'down' }]);
      assert.deepEqual(of(down, 'stop').map((a) => [a.id, a.reason, a.signal]), [[1, 'scale-down', 'SIGTERM']]);
      assert.equal(logged(down, /^adaptive workers: 4 -> 3 \(down: 12 requests in flight/).length, 1);
      f.exitStopping();
      assert.deepEqual(of(tick(f, 4999), 'scale'), []);
      assert.deepEqual(of(tick(f, 1), 'scale').map((a) => a.workers), [2]);
      f.exitStopping();
      assert.deepEqual(of(tick(f, 60_000), 'scale'), [], 'the minimum');
      assert.equal(f.s.numWorkers, 2);
    });

    it('TTIN and TTOU move both bounds and the count by one; WINCH parks it; a HUP restores the bounds and keeps the count', () => {
      const f = new Fake({ ...adaptive, workers: 2 }, { canReadConfig: true }).boot();
      const ttin = f.signal('SIGTTIN');
      assert.deepEqual([f.s.scaler?.min, f.s.scaler?.max, f.s.numWorkers], [2, 5, 3]);
      assert.equal(logged(ttin, /^adaptive workers: bounds 1-4 -> 2-5$/).length, 1);
      f.readyAll();
      f.signal('SIGTTOU');
      f.signal('SIGTTOU');
      assert.deepEqual([f.s.scaler?.min, f.s.scaler?.max, f.s.numWorkers], [1, 3, 1]);
      f.exitStopping();
      f.signal('SIGTTOU');
      f.signal('SIGTTOU');
      assert.deepEqual([f.s.scaler?.min, f.s.scaler?.max, f.s.numWorkers], [1, 1, 1]);
      assert.equal(logged(f.signal('SIGTTOU'), /^SIGTTOU: already at --workers-min 1 --workers-max 1, 1 worker$/).length, 1);
      f.signal('SIGWINCH');
      assert.equal(f.s.numWorkers, 0);
      f.exitStopping();
      beat(f, { inflight: 1000 });
      assert.deepEqual(of(tick(f), 'scale'), [], 'WINCH: no workers, nothing scales');
      f.signal('SIGTTIN');
      assert.equal(f.s.numWorkers, 1);
      f.readyAll();
      f.signal('SIGTTIN');
      f.readyAll();
      assert.deepEqual([f.s.scaler?.min, f.s.scaler?.max, f.s.numWorkers], [2, 2, 2]);
      f.signal('SIGHUP');
      assert.deepEqual([f.s.scaler?.min, f.s.scaler?.max, f.s.numWorkers], [1, 4, 2]);
    });

    it('decides nothing during a reload', () => {
      const f = new Fake(adaptive, { canReadConfig: true }).boot();
      beat(f, { inflight: 50 });
      f.held.add('on-reload');
      f.signal('SIGHUP');
      assert.deepEqual(scale(f.s, f.now + 250), []);
    });
  });

  describe('TERM, INT, QUIT', () => {
    it('TERM: STOPPING=1, then SIGTERM to every worker, and the master exits 0 once they are gone', () => {
      const f = new Fake({ gracefulTimeout: 10 }).boot();
      f.held.add('notify-stopping');
      const term = f.signal('SIGTERM');
      assert.equal(logged(term, /^shutting down gracefully$/).length, 1);
      assert.deepEqual(of(term, 'notify').map((a) => a.state), ['stopping']);
      assert.deepEqual(of(term, 'tick'), [{ do: 'tick', on: false }]);
      assert.deepEqual(of(term, 'stop'), [], 'systemd first');
      const told = f.release();
      assert.deepEqual(of(told, 'stop-accepting').length, 1);
      assert.deepEqual(of(told, 'stop').map((a) => [a.id, a.reason, a.signal, a.graceMs]), [[1, 'shutdown', 'SIGTERM', 10_000], [2, 'shutdown', 'SIGTERM', 10_000]]);
      // A HUP, a TTIN, a USR2 now: nothing is forked or started.
      const late = [f.signal('SIGHUP'), f.signal('SIGTTIN'), f.signal('SIGUSR2')].flat();
      assert.deepEqual([of(late, 'fork'), of(late, 'notify'), of(late, 'reexec')], [[], [], []]);
      assert.equal(logged(late, /^USR2 ignored: the master is stopping$/).length, 1);
      assert.deepEqual(of(f.exit(1, 0), 'exit'), []);
      const last = f.exit(2, 0);
      assert.deepEqual(of(last, 'count'), [], 'a shutdown is no restart');
      assert.deepEqual(of(last, 'fork'), []);
      assert.deepEqual(of(last, 'exit'), [{ do: 'exit', code: 0 }]);
      assert.equal(f.s.run.phase, 'exiting');
    });

    for (const sig of ['SIGINT', 'SIGQUIT'] as const) {
      it(`${sig}: SIGQUIT to every worker, SIGKILL to those still there 5 s later`, () => {
        const f = new Fake().boot();
        const quick = f.signal(sig);
        assert.equal(logged(quick, /^shutting down$/).length, 1);
        const stops = of(quick, 'stop');
        assert.deepEqual(stops.map((a) => [a.id, a.signal, a.graceMs]), [[1, 'SIGQUIT', 5000], [2, 'SIGQUIT', 5000]]);
        f.exit(1, 0);
        f.now += 5000;
        const due = f.send({ kind: 'kill-due', id: 2, killAt: stops[1]!.killAt });
        assert.deepEqual(of(due, 'signal'), [{ do: 'signal', id: 2, signal: 'SIGKILL' }]);
        assert.equal(logged(due, /^worker 2 did not stop within 5 s; killing it$/).length, 1);
        assert.deepEqual(of(f.exit(2, null, 'SIGKILL'), 'exit'), [{ do: 'exit', code: 0 }]);
      });
    }

    it('INT during a graceful stop hurries it; the graceful deadline no longer applies', () => {
      const f = new Fake({ gracefulTimeout: 30 }).boot();
      const term = f.signal('SIGTERM');
      const graceful = of(term, 'stop');
      const hurry = f.signal('SIGINT');
      assert.deepEqual(of(hurry, 'stop').map((a) => [a.id, a.reason, a.signal]), [[1, 'shutdown', 'SIGQUIT'], [2, 'shutdown', 'SIGQUIT']]);
      assert.deepEqual(of(hurry, 'notify'), [], 'STOPPING=1 was said once');
      f.now += 30_000;
      assert.deepEqual(f.send({ kind: 'kill-due', id: 1, killAt: graceful[0]!.killAt }), [], 'the first deadline was replaced');
      // A second TERM changes nothing.
      assert.deepEqual(of(f.signal('SIGTERM'), 'stop'), []);
    });
  });

  describe('signals that change nothing in the table', () => {
    it('USR1 reopens the logs and passes the signal on to every worker', () => {
      const f = new Fake().boot();
      const usr1 = f.signal('SIGUSR1');
      assert.deepEqual(usr1.filter((a) => a.do !== 'log'), [{ do: 'reopen-logs' }, { do: 'signal', id: 1, signal: 'SIGUSR1' }, { do: 'signal', id: 2, signal: 'SIGUSR1' }]);
    });

    it('WINCH stops every worker unless gwserver runs in a terminal; USR2 starts an upgrade', () => {
      const tty = new Fake({}, { inTerminal: true }).boot();
      assert.equal(logged(tty.signal('SIGWINCH'), /^SIGWINCH ignored/).length, 1);
      const f = new Fake().boot();
      assert.deepEqual(of(f.signal('SIGWINCH'), 'stop').map((a) => a.reason), ['scale-down', 'scale-down']);
      assert.equal(f.s.numWorkers, 0);
      assert.deepEqual(of(f.signal('SIGUSR2'), 'reexec'), [{ do: 'reexec' }]);
      assert.equal(f.s.upgrade.phase, 'starting');
      const over = f.send({ kind: 'handed-over', pid: 777 });
      assert.equal(logged(over, /^the new master \(pid 777\) took over: this master stops gracefully$/).length, 1);
      assert.equal(f.s.run.phase, 'stopping');
    });
  });
});

describe('arbiter: the pure decisions on tables built by hand', () => {
  function state(records: Array<[id: number, generation: number, status: WorkerStatus, startedAt?: number]>, over: Partial<ArbiterState> = {}): ArbiterState {
    const s = initialState({ config: config(), app: 'app.mjs:application' });
    for (const [id, generation, status, startedAt] of records) {
      const w: WorkerRecord = { id, pid: 100 + id, generation, startedAt: startedAt ?? id, lastBeat: 0, requests: 0, retireAt: 0, status };
      s.workers.set(id, w);
      s.lastId = Math.max(s.lastId, id);
    }
    return Object.assign(s, { run: { phase: 'running' }, booted: true }, over);
  }
  const ready: WorkerStatus = { phase: 'ready' };
  const booting: WorkerStatus = { phase: 'booting' };

  it('manage forks what is missing, with the next ids, and nothing while the master is stopping', () => {
    assert.deepEqual(manage(state([[1, 1, ready]]), 0), [{ do: 'fork', id: 2 }]);
    assert.deepEqual(manage(state([[1, 1, ready]], { forking: new Set([2]) }), 0), []);
    assert.deepEqual(manage(state([], { run: { phase: 'stopping', graceful: true, notified: true } }), 0), []);
  });

  it('manage stops the oldest extra workers, and the replaced ones as the current generation is ready', () => {
    const extra = manage(state([[1, 1, ready, 50], [2, 1, ready, 10], [3, 1, booting, 99]]), 0);
    assert.deepEqual(extra.map((a) => (a.do === 'stop' ? [a.id, a.reason] : a.do)), [[2, 'scale-down']]);
    // Generation 2 current: one ready worker of it, two of generation 1 (one booting still).
    const rolling = state([[1, 1, ready, 1], [2, 1, booting, 2], [3, 2, ready, 3], [4, 2, booting, 4]], { generation: 2 });
    assert.deepEqual(manage(rolling, 0).map((a) => (a.do === 'stop' ? [a.id, a.reason] : a.do)), [[1, 'reload']]);
  });

  it('murder times out serving workers only, and looks at the memory of the current generation only', () => {
    const s = state([[1, 1, ready], [2, 1, booting], [3, 1, { phase: 'stopping', reason: 'shutdown' }], [4, 1, { phase: 'retiring', reason: 'max-requests' }]], { config: config({ timeout: 1, maxWorkerMemory: 10 }) });
    assert.deepEqual(murder(s, 5000).filter((a) => a.do === 'time-out').map((a) => a.do === 'time-out' && a.id), [1, 4]);
    const old = state([[1, 1, ready], [2, 2, ready]], { generation: 2, config: config({ maxWorkerMemory: 10 }) });
    assert.deepEqual(murder(old, 0, new Map([[1, 50], [2, 50]])).filter((a) => a.do === 'retire'), [{ do: 'retire', id: 2, reason: 'memory' }]);
  });

  it('reap: a worker that died on its own is a crash (or an exit), one the master stopped is not replaced as such', () => {
    const s = state([[1, 1, ready], [2, 1, { phase: 'stopping', reason: 'scale-down' }]]);
    const crash = reap(s, { id: 1, code: 1, signal: null }, 0);
    assert.deepEqual(crash.filter((a) => a.do === 'count'), [{ do: 'count', metric: 'restart', reason: 'crash' }]);
    assert.deepEqual(crash.filter((a) => a.do === 'log').map((a) => a.do === 'log' && [a.level, a.msg]), [['warn', 'worker 1 exited (exit code 1)']]);
    const scaled = reap(s, { id: 2, code: 0, signal: null }, 0);
    assert.deepEqual(scaled.filter((a) => a.do === 'count'), []);
    assert.deepEqual(scaled.filter((a) => a.do === 'hook').map((a) => a.do === 'hook' && a.name), ['childExit', 'workerExit']);
    assert.deepEqual(reap(s, { id: 9, code: 0, signal: null }, 0), [], 'not ours');
  });
});
