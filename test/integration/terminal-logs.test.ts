/**
 * Logs a person reads: in a terminal (a pseudo-terminal made by python3's
 * pty module) the error and access logs are text, with no field repeated
 * that the message says; piped, they stay JSON; what the app prints
 * (console, stdout, stderr, Node's warnings) is records of its worker either
 * way, unless --capture-output false; and the access records read as one
 * line each through `npx pino-pretty --singleLine`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { childPids, ROOT, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { get } from '../helpers/http.js';
import { until } from '../helpers/until.js';

const APP = 'test/fixtures/apps/console.mjs';

/** Runs its arguments in a new pseudo-terminal (stdin, stdout and stderr all the terminal), exiting with their exit code. */
const IN_A_TERMINAL = ['python3', '-c', 'import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))'];

/** What the terminal showed so far, line by line, without the terminal's CRs. */
function screen(srv: Gwserver): string[] {
  return srv.stdout.map((l) => l.replace(/\r$/, ''));
}

/** A text record's head: `[2026-12-07 17:48:09 +0000] [pid] [LEVEL] message...`. */
const TEXT_LINE = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[(\d+)\] \[([A-Z]+)\] (.*)$/;

/** gwserver in a terminal, once it says where it listens. */
async function startInTerminal(args: string[]): Promise<{ srv: Gwserver; port: number }> {
  const srv = await startGwserver(args, { wrap: IN_A_TERMINAL, noWait: true });
  const listening = await until(() => screen(srv).map((l) => /listening address=http:\/\/127\.0\.0\.1:(\d+)/.exec(l)).find(Boolean), 15_000, () => `the listening line; the terminal shows:\n${screen(srv).join('\n')}`);
  return { srv, port: Number(listening[1]) };
}

/** Stops gwserver in its terminal by the master's pid (the terminal's process is python, its parent). */
async function stopInTerminal(srv: Gwserver): Promise<number | null> {
  const [master] = childPids(srv.pid);
  assert.ok(master !== undefined, 'the master runs in the terminal');
  process.kill(master, 'SIGTERM');
  return (await srv.exited).code;
}

describe('logs in a terminal, and what the app prints', function () {
  this.timeout(30_000);

  it('in a terminal: text lines without repeated fields, the access log in the combined format, the app\'s output as records', async () => {
    const { srv, port } = await startInTerminal(['-w', '1', '-b', '127.0.0.1:0', '--access-logfile', '-', APP]);
    assert.equal((await get(port, '/print?x=1')).body, 'printed');
    await until(() => screen(srv).some((l) => l.includes('"GET /print?x=1 HTTP/1.1" 200 7')), 10_000, () => `the access line; the terminal shows:\n${screen(srv).join('\n')}`);
    await until(() => screen(srv).some((l) => l.includes('an old API')), 10_000, 'the warning');
    assert.equal(await stopInTerminal(srv), 0);

    const lines = screen(srv).filter((l) => l !== '');
    assert.deepEqual(lines.filter((l) => l.startsWith('{')), [], 'no JSON in a terminal');
    const records = lines.map((l) => TEXT_LINE.exec(l)).filter((m): m is RegExpExecArray => m !== null).map((m) => ({ pid: Number(m[1]), level: m[2]!, text: m[3]! }));
    const [masterPid] = records.map((r) => r.pid);
    const booting = records.find((r) => r.text.startsWith('booting worker 1'));
    assert.ok(booting, lines.join('\n'));
    assert.match(booting.text, /^booting worker 1 with pid \d+$/, 'worker_id and worker_pid are in the message, not repeated');
    const workerPid = Number(/pid (\d+)$/.exec(booting.text)![1]);
    assert.ok(records.some((r) => r.pid === masterPid && r.text === 'handling SIGTERM'), 'signal=SIGTERM not repeated');
    assert.ok(records.some((r) => r.pid === masterPid && /^worker 1 ready worker_pid=\d+ ms=\d+$/.test(r.text)));
    assert.ok(records.some((r) => r.pid === workerPid && r.text === 'serving HTTP/1.1 worker_id=1'));

    // The app's output: records of its worker, as it printed them; debug is below --log-level info.
    const fromWorker = records.filter((r) => r.pid === workerPid).map((r) => `[${r.level}] ${r.text}`);
    for (const want of [
      '[INFO] loading the app, 1 routes worker_id=1',
      "[INFO] hello from the app: formatted { n: 42 } worker_id=1",
      '[INFO] an info line worker_id=1',
      '[WARNING] a warning line worker_id=1',
      '[ERROR] an error line worker_id=1',
      '[INFO] a morgan-style line worker_id=1 source=stdout',
      '[ERROR] a debug-style line worker_id=1 source=stderr',
      '[WARNING] Warning: an old API worker_id=1 code=GW_FIXTURE',
    ]) assert.ok(fromWorker.includes(want), `${want}\nin:\n${fromWorker.join('\n')}`);
    assert.ok(!lines.some((l) => l.includes('a debug line')));
    assert.ok(!lines.some((l) => /^\(node:\d+\)/.test(l)), 'Node did not print its warning itself');
    assert.match(lines.find((l) => l.includes('GET /print'))!, /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/print\?x=1 HTTP\/1\.1" 200 7 "-" "[^"]*"$/);
  });

  it('in a terminal, an explicit --log-format json is JSON', async () => {
    const srv = await startGwserver(['-w', '1', '-b', '127.0.0.1:0', '--log-format', 'json', APP], { wrap: IN_A_TERMINAL, noWait: true });
    const listening = await until(() => screen(srv).map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return undefined; } }).find((r) => r?.msg === 'listening'), 15_000, () => screen(srv).join('\n'));
    assert.match(String(listening.address), /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await stopInTerminal(srv), 0);
    assert.deepEqual(screen(srv).filter((l) => l !== '' && !l.startsWith('{')), []);
  });

  it('piped: JSON; the app\'s output is records with its worker_id, level and source; the access records have level and msg', async () => {
    const srv = await startGwserver(['-w', '1', '--access-logfile', '-', APP]);
    await get(srv, '/print');
    await srv.waitForRecord((r) => r.warning === 'Warning');
    await until(() => srv.stdout.some((l) => l.includes('"status":200')), 10_000, 'the access record');
    assert.equal((await srv.stop()).code, 0);
    assert.deepEqual(srv.stderr.filter((l) => !l.startsWith('{')), [], 'nothing raw on stderr');
    const app = srv.records().filter((r) => r.source !== undefined || r.warning !== undefined).map((r) => [r.level, r.worker_id, r.source, r.msg]);
    assert.deepEqual(app, [
      ['info', 1, 'console', 'loading the app, 1 routes'],
      ['info', 1, 'console', 'hello from the app: formatted { n: 42 }'],
      ['info', 1, 'console', 'an info line'],
      ['warn', 1, 'console', 'a warning line'],
      ['error', 1, 'console', 'an error line'],
      ['info', 1, 'stdout', 'a morgan-style line'],
      ['error', 1, 'stderr', 'a debug-style line'],
      ['warn', 1, undefined, 'Warning: an old API'],
    ]);
    const access = srv.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(access.length, 1, 'stdout holds the access log alone');
    assert.equal(access[0]!.level, 'info');
    assert.match(String(access[0]!.msg), /^GET \/print 200 7 B in \d+\.\d{3} ms$/);
  });

  it('--capture-output false leaves stdout and stderr alone', async () => {
    const srv = await startGwserver(['-w', '1', '--capture-output', 'false', APP]);
    await get(srv, '/print');
    await until(() => srv.stderr.some((l) => l.includes('an old API')), 10_000, 'Node\'s own warning');
    assert.equal((await srv.stop()).code, 0);
    assert.ok(srv.stdout.includes('loading the app, 1 routes'));
    assert.ok(srv.stdout.includes('a morgan-style line'));
    assert.ok(srv.stderr.includes('an error line'));
    assert.ok(srv.stderr.some((l) => /^\(node:\d+\) \[GW_FIXTURE\] Warning: an old API$/.test(l)));
    assert.ok(!srv.records().some((r) => r.source === 'console'));
  });

  it('`| npx pino-pretty --singleLine` shows one readable line per access record', async () => {
    const srv = await startGwserver(['-w', '1', '--access-logfile', '-', APP]);
    for (const p of ['/a', '/b?c=1', '/print']) await get(srv, p);
    await until(() => srv.stdout.length >= 3, 10_000, 'three access records');
    assert.equal((await srv.stop()).code, 0);
    const pretty = spawnSync(path.join(ROOT, 'node_modules/.bin/pino-pretty'), ['--singleLine', '--colorize', 'false'], { input: `${srv.stdout.join('\n')}\n`, encoding: 'utf8' });
    assert.equal(pretty.status, 0, pretty.stderr);
    const out = pretty.stdout.trimEnd().split('\n');
    assert.equal(out.length, 3, pretty.stdout);
    const want = ['GET /a 200 2 B', 'GET /b?c=1 200 2 B', 'GET /print 200 7 B'];
    out.forEach((line, i) => assert.match(line, new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\] INFO \\(\\d+\\): ${want[i]!.replace(/[?/]/g, '\\$&')} in \\d+\\.\\d{3} ms \\{"worker_id":1,"request_id":"[^"]+",.*\\}$`), line));
  });
});
