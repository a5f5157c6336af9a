/**
 * The watchdog in real processes: test/fixtures/watchdog/run.mjs starts it
 * (from src/, through tsx) and blocks its own event loop in various ways; the
 * report is read from the child's stderr and from the report file. Every
 * child is killed by pid when its test ends.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWatchdog } from '../../../src/worker/watchdog.js';
import { until } from '../../helpers/until.js';
import { tempDir } from '../../helpers/temp-dir.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const FIXTURES = path.join(ROOT, 'test/fixtures/watchdog');
const RUN = path.join(FIXTURES, 'run.mjs');
const TYPED = path.join(FIXTURES, 'typed.ts');
const STUCK_MS = 500;

type Rec = Record<string, any>;

/** 1-based line of the line that carries `marker` in `file`. */
function lineOf(file: string, marker: string): number {
  const index = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(marker));
  assert.ok(index >= 0, `${marker} not found in ${file}`);
  return index + 1;
}

function parseLine(line: string): Rec | undefined {
  try {
    const v = JSON.parse(line);
    return v && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** How long a child may take to do something (it starts under tsx, maybe on a loaded machine). */
const DEADLINE = 15_000;

interface Child {
  proc: ChildProcess;
  /** `{"event": ...}` lines from stdout. */
  events: Rec[];
  /** JSON records from stderr (the watchdog's fd). */
  records: Rec[];
  stderr: string[];
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  event(name: string, nth?: number): Promise<Rec>;
  record(pred: (r: Rec) => boolean, timeoutMs: number, what: string): Promise<Rec>;
  exited(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();

function run(mode: string, env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', RUN, mode], {
    cwd: ROOT,
    env: { ...process.env, STUCK_MS: String(STUCK_MS), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  const child: Child = {
    proc,
    events: [],
    records: [],
    stderr: [],
    exit: undefined,
    event(name, nth = 1) {
      return until(() => child.events.filter((e) => e.event === name)[nth - 1], 10_000, () => `event ${name} #${nth} (stderr: ${child.stderr.join('\n')})`);
    },
    record(pred, timeoutMs, what) {
      return until(() => child.records.find(pred), timeoutMs, () => `${what} (stderr: ${child.stderr.join('\n')})`);
    },
    exited(timeoutMs) {
      return until(() => child.exit, timeoutMs, 'exit');
    },
  };
  const lines = (stream: NodeJS.ReadableStream, onLine: (line: string) => void): void => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
  };
  lines(proc.stdout!, (line) => {
    const v = parseLine(line);
    if (v) child.events.push(v);
  });
  lines(proc.stderr!, (line) => {
    child.stderr.push(line);
    const v = parseLine(line);
    if (v) child.records.push(v);
  });
  proc.on('exit', (code, signal) => {
    children.delete(proc);
    child.exit = { code, signal };
  });
  return child;
}

const isBlocked = (r: Rec): boolean => r.msg === 'worker event loop blocked';
const isUnblocked = (r: Rec): boolean => r.msg === 'worker event loop unblocked';

/** Milliseconds from the fixture's "blocking" event to the report's time. */
function latency(blocking: Rec, report: Rec): number {
  return Date.parse(report.time) - blocking.at;
}

describe('watchdog', function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(() => {
    dir = tempDir('gwserver-watchdog-');
  });

  afterEach(() => {
    for (const proc of children) {
      if (proc.pid !== undefined) {
        try {
          process.kill(proc.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    children.clear();
  });

  it('reports the function, file and line of a for(;;){} on the fd and in the report file', async () => {
    const reportFile = path.join(dir, 'report.json');
    const child = run('spin', { REPORT_FILE: reportFile });
    const blocking = await child.event('blocking');
    const report = await child.record(isBlocked, DEADLINE, 'the blocked report');
    const ms = latency(blocking, report);
    console.log(`      block -> report: ${ms} ms (stuckAfterMs ${STUCK_MS})`);
    // Generous: a loaded 2-core machine delays the thread; the figure is printed above.
    assert.ok(ms < 5000, `report after ${ms} ms`);

    assert.equal(report.level, 'error');
    assert.equal(report.pid, child.proc.pid);
    assert.equal(report.worker_id, 7);
    assert.ok(report.blocked_ms >= STUCK_MS, `blocked_ms ${report.blocked_ms}`);
    assert.ok(!Number.isNaN(Date.parse(report.time)));
    assert.deepEqual(report.frames[0], { ...report.frames[0], function: 'spinForever', file: RUN, line: lineOf(RUN, '@spin-line') });
    assert.ok(report.frames.length <= 30);
    assert.match(report.stack.split('\n')[0], new RegExp(`^    at spinForever \\(${RUN.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${lineOf(RUN, '@spin-line')}:\\d+\\)$`));
    assert.equal(report.stack.split('\n').length, report.frames.length);

    // The file is written before the fd line, and holds the same record.
    assert.deepEqual(JSON.parse(readFileSync(reportFile, 'utf8')), report);
    // Once only per episode, however long it lasts (an absence needs a window to watch).
    await new Promise((resolve) => setTimeout(resolve, 3 * STUCK_MS));
    assert.equal(child.records.filter(isBlocked).length, 1);

    child.proc.kill('SIGKILL');
    assert.equal((await child.exited(DEADLINE)).signal, 'SIGKILL');
  });

  it('maps a TypeScript frame through its source map to the .ts line', async () => {
    const child = run('spin-ts');
    const blocking = await child.event('blocking');
    const report = await child.record(isBlocked, DEADLINE, 'the blocked report');
    console.log(`      block -> report (tsx, source-mapped): ${latency(blocking, report)} ms`);
    const top = report.frames[0];
    assert.equal(top.function, 'spinTyped');
    assert.equal(top.file, TYPED);
    // The interrupt lands on the loop's back edge: the `for` line or its body.
    const line = lineOf(TYPED, '@typed-line');
    assert.ok(top.line === line || top.line === line + 1, `line ${top.line}, expected ${line} or ${line + 1}`);
    assert.equal(report.frames[1].file, RUN);
    child.proc.kill('SIGKILL');
    await child.exited(DEADLINE);
  });

  it('lets a long computation finish, re-arms, reports the next block too, and stops cleanly', async () => {
    const reportFile = path.join(dir, 'report.json');
    const child = run('recover', { REPORT_FILE: reportFile, BLOCK_MS: '1500' });
    const first = await child.event('blocking', 1);
    const report1 = await child.record(isBlocked, DEADLINE, 'the first report');
    console.log(`      block -> report (recovering loop): ${latency(first, report1)} ms`);
    assert.deepEqual(
      report1.frames.slice(0, 2).map((f: Rec) => [f.function, f.file, f.line]),
      [['busyWait', RUN, lineOf(RUN, '@busy-line')], ['firstBlock', RUN, lineOf(RUN, 'busyWait(blockMs);')]],
    );
    // The report file exists while the block lasts...
    assert.equal(JSON.parse(readFileSync(reportFile, 'utf8')).frames[1].function, 'firstBlock');

    // ...the loop was resumed, not left paused: the fixture goes on.
    await child.event('unblocked', 1);
    const unblocked = await child.record(isUnblocked, DEADLINE, 'the unblocked record');
    assert.equal(unblocked.level, 'warn');
    assert.ok(unblocked.blocked_ms >= 1400, `blocked_ms ${unblocked.blocked_ms}`);
    // ...and is withdrawn when the loop turns again.
    await until(() => !existsSync(reportFile), 2000, 'report file removed');

    const second = await child.event('blocking', 2);
    const report2 = await child.record((r) => isBlocked(r) && r !== report1, DEADLINE, 'the second report');
    assert.ok(Date.parse(report2.time) >= second.at);
    assert.deepEqual(report2.frames.slice(0, 2).map((f: Rec) => f.function), ['busyWait', 'secondBlock']);

    const exit = await child.exited(DEADLINE);
    assert.deepEqual(exit, { code: 0, signal: null }, child.stderr.join('\n'));
    assert.ok(child.events.some((e) => e.event === 'stopped'));
    assert.equal(child.records.filter(isBlocked).length, 2);
    assert.equal(child.records.filter(isUnblocked).length, 2);
    assert.equal(existsSync(reportFile), false);
  });

  it('reports a block outside JavaScript without frames, and the loop goes on', async () => {
    const reportFile = path.join(dir, 'report.json');
    const child = run('native', { REPORT_FILE: reportFile, BLOCK_MS: '2000' });
    const report = await child.record(isBlocked, DEADLINE, 'the blocked report');
    assert.deepEqual(report.frames, []);
    assert.equal(report.stack, '');
    assert.match(report.capture_error, /outside JavaScript/);
    // The pause request left behind must not freeze the process once it returns to JavaScript.
    const exit = await child.exited(DEADLINE);
    assert.deepEqual(exit, { code: 0, signal: null }, child.stderr.join('\n'));
    assert.ok(child.events.some((e) => e.event === 'stopped'));
    assert.equal(existsSync(reportFile), false);
  });

  it('never writes to a reused fd number, and follows setFd()', async () => {
    const reportFile = path.join(dir, 'report.json');
    const child = run('reopen', { LOG_DIR: dir, REPORT_FILE: reportFile, BLOCK_MS: '1000' });
    const reopened = await child.event('reopened');
    console.log(`      log fd ${reopened.a} closed, new log opened as fd ${reopened.b}`);
    const exit = await child.exited(DEADLINE);
    assert.deepEqual(exit, { code: 0, signal: null }, child.stderr.join('\n'));
    assert.equal(readFileSync(path.join(dir, 'a.log'), 'utf8'), '');
    const inB = readFileSync(path.join(dir, 'b.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Rec);
    // The first report only reached the report file; the second, after setFd(), the new log too.
    assert.deepEqual(inB.map((r) => r.msg), ['worker event loop blocked', 'worker event loop unblocked']);
    assert.equal(inB[0].frames[1].function, 'secondBlock');
    assert.deepEqual(child.records, []);
  });

  it('says nothing about a loop that never blocks, and does not keep the process alive', async () => {
    const child = run('idle');
    await child.event('done');
    // The fixture never calls stop(): only the unref'd beat and thread are left.
    const exit = await child.exited(DEADLINE);
    assert.deepEqual(exit, { code: 0, signal: null }, child.stderr.join('\n'));
    assert.deepEqual(child.records, []);
  });

  it('rejects a threshold that is not a positive number of ms', () => {
    assert.throws(() => startWatchdog({ stuckAfterMs: 0 }), RangeError);
    assert.throws(() => startWatchdog({ stuckAfterMs: Number.NaN }), RangeError);
  });

  it('stop() ends the thread and is idempotent', async () => {
    const watchdog = startWatchdog({ stuckAfterMs: 1000, base: { fn: () => 1 } as Record<string, unknown> });
    const stopping = watchdog.stop();
    assert.equal(watchdog.stop(), stopping);
    await stopping;
  });
});
