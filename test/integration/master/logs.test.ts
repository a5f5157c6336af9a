/**
 * Logging and configuration operations through a real gwserver:
 * `--error-logfile` (master and worker records in the file), USR1 after a
 * logrotate-style rename (master and workers reopen), WINCH when not in a
 * terminal (workers stop, the master and its socket stay), `--check-config`,
 * and HUP with a config file that became invalid (old config kept, error
 * logged; a fixed file applies on the next HUP).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runToExit, startGwserver, type Gwserver } from '../../helpers/gwserver.js';
import { get, reachEveryWorker } from '../../helpers/http.js';
import { RawClient } from '../../helpers/raw.js';
import { until } from '../../helpers/until.js';
import { tempDir } from '../../helpers/temp-dir.js';

const APP = 'test/fixtures/apps/ops.mjs:application';
const CONFIGS = 'test/fixtures/configs';

type LogRecord = Record<string, any>;

function fileRecords(file: string): LogRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogRecord);
}

/** Waits until a record of `file` matches (while gwserver runs); returns it. */
async function waitForFileRecord(srv: Gwserver, file: string, pred: (r: LogRecord) => boolean, timeoutMs = 15_000): Promise<LogRecord> {
  const holds = () => `${path.basename(file)} holds:\n${existsSync(file) ? readFileSync(file, 'utf8') : '(no file)'}\nstderr:\n${srv.stderr.join('\n')}`;
  return until(() => {
    if (srv.proc.exitCode !== null || srv.proc.signalCode !== null) throw new Error(`gwserver exited; ${holds()}`);
    return fileRecords(file).find(pred);
  }, timeoutMs, () => `a record in ${path.basename(file)}; ${holds()}`);
}

/** `/log?probe=NAME-i` requests until every worker served one (reachEveryWorker); returns probe -> pid. */
async function probeEveryWorker(port: number, workers: number[], name: string): Promise<Map<string, number>> {
  const pids = await reachEveryWorker(port, workers, (i) => `/log?probe=${name}-${i}`);
  return new Map(pids.map((pid, i) => [`${name}-${i}`, pid]));
}

describe('master: log files, WINCH, --check-config, HUP with a broken config', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => { dir = tempDir('gw-logs-'); });

  /** Starts gwserver logging to `file`; resolves with its port once the file says "listening". */
  async function startLogging(file: string, args: string[]): Promise<{ srv: Gwserver; port: number }> {
    const srv = await startGwserver(['-b', '127.0.0.1:0', '--error-logfile', file, ...args], { noWait: true });
    const listening = await waitForFileRecord(srv, file, (r) => r.msg === 'listening');
    return { srv, port: Number(new URL(listening.address).port) };
  }

  it('--error-logfile: master and worker records land in the file, with pid and worker_id', async () => {
    const file = path.join(dir, 'logs', 'error.log');
    const { srv, port } = await startLogging(file, ['-w', '2', APP]);
    const workers = await srv.waitWorkers(2);
    const served = await probeEveryWorker(port, workers, 'p');
    await until(() => fileRecords(file).filter((r) => typeof r.probe === 'string').length >= served.size, 5000, 'probe records');
    const records = fileRecords(file);
    const starting = records.find((r) => /^starting gwserver master/.test(r.msg ?? ''))!;
    assert.equal(starting.pid, srv.pid);
    assert.equal(starting.worker_id, undefined);
    // Which worker id has which pid, from the master's "worker N ready" records.
    const idOf = new Map(records.filter((r) => /^worker \d+ ready$/.test(r.msg ?? '')).map((r) => [r.worker_pid as number, r.worker_id as number]));
    for (const [probe, pid] of served) {
      const rec = records.find((r) => r.probe === probe);
      assert.ok(rec, `probe ${probe} in the file`);
      assert.equal(rec.pid, pid);
      assert.equal(rec.worker_id, idOf.get(pid));
      assert.equal(rec.level, 'info');
    }
    assert.deepEqual(srv.records(), [], 'nothing on stderr');
    srv.proc.kill('SIGTERM');
    assert.equal((await srv.exited).code, 0);
    assert.ok(fileRecords(file).some((r) => r.msg === 'master stopped' && r.pid === srv.pid));
    assert.ok(fileRecords(file).some((r) => r.msg === 'worker stopping' && workers.includes(r.pid) && typeof r.worker_id === 'number'));
  });

  it('USR1 after a logrotate-style rename: master and workers write to a new file', async () => {
    const file = path.join(dir, 'error.log');
    const rotated = `${file}.1`;
    const { srv, port } = await startLogging(file, ['-w', '2', APP]);
    const workers = await srv.waitWorkers(2);
    await probeEveryWorker(port, workers, 'before');
    // logrotate: mv error.log error.log.1; kill -USR1 master.
    renameSync(file, rotated);
    srv.proc.kill('SIGUSR1');
    const masterReopened = await waitForFileRecord(srv, file, (r) => r.msg === 'log files reopened' && r.pid === srv.pid);
    assert.equal(masterReopened.worker_id, undefined);
    for (const w of workers) {
      const rec = await waitForFileRecord(srv, file, (r) => r.msg === 'log files reopened' && r.pid === w);
      assert.equal(typeof rec.worker_id, 'number');
    }
    // A request after USR1 whose app logs through environ['gwserver.log'] lands in the new file, from every worker.
    const served = await probeEveryWorker(port, workers, 'after');
    for (const [probe, pid] of served) {
      const rec = await waitForFileRecord(srv, file, (r) => r.probe === probe);
      assert.equal(rec.pid, pid);
    }
    const old = fileRecords(rotated);
    assert.ok(old.some((r) => typeof r.probe === 'string' && r.probe.startsWith('before-')), 'the records before USR1 stayed in the rotated file');
    assert.ok(old.some((r) => r.msg === 'handling SIGUSR1'), 'the master wrote there until it reopened');
    assert.deepEqual(old.filter((r) => typeof r.probe === 'string' && r.probe.startsWith('after-')), [], 'nothing after USR1 in the rotated file');
    assert.deepEqual(fileRecords(file).filter((r) => typeof r.probe === 'string' && r.probe.startsWith('before-')), []);
  });

  it('USR1: a worker\'s watchdog thread (which writes with fs.writeSync) reports a blocked loop into the new file too', async () => {
    const file = path.join(dir, 'error.log');
    const { srv, port } = await startLogging(file, ['-w', '1', '--timeout', '4', 'test/fixtures/apps/stuck.mjs:application']);
    const [worker] = await srv.waitWorkers(1);
    renameSync(file, `${file}.1`);
    srv.proc.kill('SIGUSR1');
    await waitForFileRecord(srv, file, (r) => r.msg === 'log files reopened' && r.pid === worker);
    // Blocks the loop for 1.5 s: under --timeout 4 the watchdog reports it, and the worker lives.
    const r = await get(port, '/block?ms=1500');
    assert.equal(r.status, 200);
    const blocked = await waitForFileRecord(srv, file, (x) => x.msg === 'worker event loop blocked');
    assert.equal(blocked.pid, worker);
    assert.match(blocked.stack, /busyWait/);
    assert.equal(fileRecords(`${file}.1`).some((x) => x.msg === 'worker event loop blocked'), false);
  });

  it('WINCH (not in a terminal) stops every worker, the master and its socket stay; TTIN brings one back, HUP the configured number', async () => {
    const srv = await startGwserver(['-w', '2', APP]);
    const before = await srv.waitWorkers(2);
    srv.proc.kill('SIGWINCH');
    await srv.waitForRecord((r) => /^SIGWINCH: stopping all workers/.test(r.msg ?? ''));
    await srv.waitWorkers(0);
    for (const pid of before) {
      const exit = await srv.waitForRecord((r) => r.worker_pid === pid && /exited/.test(r.msg ?? ''));
      assert.equal(exit.code, 0, 'stopped gracefully');
    }
    assert.equal(srv.proc.exitCode, null, 'the master stays up');
    // With no worker, a client is accepted by the kernel and waits in the backlog.
    const waiting = get(srv.port, '/queued');
    const probe = await RawClient.open(srv.port).catch(() => undefined);
    probe?.destroy();
    assert.ok(probe, 'the socket is still listening with no worker');
    assert.deepEqual(srv.workerPids(), []);

    srv.proc.kill('SIGTTIN');
    const [back] = await srv.waitWorkers(1);
    const queued = await waiting;
    assert.equal(queued.status, 200);
    assert.equal(Number(queued.body), back, 'the waiting request was served by the new worker');
    assert.equal((await get(srv.port)).status, 200);

    // WINCH again, then HUP: the configured -w 2 comes back.
    srv.proc.kill('SIGWINCH');
    await srv.waitWorkers(0);
    srv.proc.kill('SIGHUP');
    await srv.waitWorkers(2);
    await srv.waitForRecord((r) => /^reloaded in/.test(r.msg ?? ''));
    assert.equal((await get(srv.port)).status, 200);
  });

  describe('--check-config', () => {
    it('exits 0 and prints only the interface for a valid config file (the app it names loads)', async () => {
      for (const args of [['-c', `${CONFIGS}/check-valid.mjs`], ['-c', `${CONFIGS}/hooks.mjs`, APP]]) {
        const r = await runToExit(['--check-config', ...args]);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
        assert.equal(r.stderr, '', args.join(' '));
        assert.match(r.stdout, /^interface: gateway \(.*\)\n$/, args.join(' '));
      }
    });

    it('exits 2 with one line naming the file and the problem for an invalid config file', async () => {
      const cases: Array<[string, RegExp]> = [
        ['check-invalid-value.mjs', /^gwserver: error: test\/fixtures\/configs\/check-invalid-value\.mjs: invalid value for workers: expected a number, got "four"$/],
        ['check-unknown-key.mjs', /^gwserver: error: test\/fixtures\/configs\/check-unknown-key\.mjs: unknown setting "worker" \(did you mean "workers"\?\)$/],
        ['check-syntax-error.mjs', /^gwserver: error: test\/fixtures\/configs\/check-syntax-error\.mjs: cannot load the config file: SyntaxError/],
      ];
      for (const [file, expected] of cases) {
        const r = await runToExit(['--check-config', '-c', `${CONFIGS}/${file}`]);
        assert.equal(r.code, 2, `${file}: ${r.stderr}`);
        assert.equal(r.stdout, '');
        const lines = r.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0]!, expected);
      }
    });

    it('exits 4 when the config file is valid but the app it names cannot be loaded', async () => {
      const r = await runToExit(['--check-config', '-c', `${CONFIGS}/check-bad-app.json`]);
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /^gwserver: error: .*threw while loading/);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1);
    });
  });

  it('HUP with a config file that became invalid keeps the old config and logs the error; a fixed file applies on the next HUP', async () => {
    const config = path.join(dir, 'gw.config.mjs');
    writeFileSync(config, 'export default { workers: 2 };\n');
    const srv = await startGwserver(['-c', config, APP]);
    await srv.waitWorkers(2);
    const reloads = () => srv.records().filter((r) => /^reloaded in/.test(r.msg ?? '')).length;
    const invalidRecords = () => srv.records().filter((r) => /^reload: the configuration is invalid/.test(r.msg ?? ''));

    // A bad value.
    writeFileSync(config, "export default { workers: 'four' };\n");
    srv.proc.kill('SIGHUP');
    const bad = await srv.waitForRecord((r) => /^reload: the configuration is invalid/.test(r.msg ?? ''));
    assert.equal(bad.level, 'error');
    assert.match(bad.msg, /gw\.config\.mjs: invalid value for workers: expected a number, got "four"/);
    await until(() => reloads() >= 1, 15_000, 'the reload to finish with the old config');
    await srv.waitWorkers(2);
    assert.equal((await get(srv.port)).status, 200);

    // A file that does not even load.
    writeFileSync(config, 'export default { workers: 3,, };\n');
    srv.proc.kill('SIGHUP');
    await until(() => invalidRecords().length >= 2, 15_000, 'the second error');
    assert.match(invalidRecords()[1]!.msg, /cannot load the config file: SyntaxError/);
    await until(() => reloads() >= 2, 15_000, 'the second reload');
    await srv.waitWorkers(2);
    assert.equal((await get(srv.port)).status, 200);
    assert.equal(srv.proc.exitCode, null, 'the master never stopped');

    // Fixed, with a new value: it applies.
    writeFileSync(config, 'export default { workers: 3 };\n');
    srv.proc.kill('SIGHUP');
    await srv.waitForRecord((r) => r.msg === 'number of workers: 2 -> 3');
    await until(() => reloads() >= 3, 15_000, 'the third reload');
    await srv.waitWorkers(3);
    assert.equal(invalidRecords().length, 2);
    assert.equal((await get(srv.port)).status, 200);
  });
});
