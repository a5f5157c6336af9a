/**
 * The access log and the error log of a real multi-worker gwserver, read
 * from real files: one JSON line per request with the right fields, a line
 * for a client that left mid-response, gunicorn's text format, no line a
 * client can forge, `wsgi.errors` and app errors in the error log, nothing
 * lost at a graceful or quick stop, and USR1 after a logrotate-style rename.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ROOT, runToExit, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { get, reachEveryWorker, request, type Reply } from '../helpers/http.js';
import { RawClient, rawRequest } from '../helpers/raw.js';
import { until } from '../helpers/until.js';
import { tempDir } from '../helpers/temp-dir.js';

const APP = 'test/fixtures/apps/logs.mjs:application';

type LogRecord = Record<string, any>;

function lines(file: string): string[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
}

function jsonLines(file: string): LogRecord[] {
  return lines(file).map((l) => JSON.parse(l) as LogRecord);
}

/** The worker id of each worker pid, from the master's "worker N ready" records. */
function workerIds(srv: Gwserver, file?: string): Map<number, number> {
  const records = file === undefined ? srv.records() : jsonLines(file);
  return new Map(records.filter((r) => /^worker \d+ ready$/.test(r.msg ?? '')).map((r) => [r.worker_pid as number, r.worker_id as number]));
}

async function waitLines(file: string, n: number): Promise<void> {
  await until(() => lines(file).length >= n, 15_000, () => `${n} lines in ${path.basename(file)}; the file holds:\n${lines(file).join('\n')}`);
}

describe('logging: the access log and the error log', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => { dir = tempDir('gw-logging-'); });

  it('N requests through -w 2 give exactly N JSON access lines with the right fields', async () => {
    const access = path.join(dir, 'logs', 'access.log');
    const srv = await startGwserver(['-w', '2', '--access-logfile', access, APP]);
    const workers = await srv.waitWorkers(2);
    await srv.waitForRecord((r) => /^worker 2 ready$/.test(r.msg ?? ''));
    const replies: Array<{ reply: Reply; kind: 'get' | 'post'; i: number }> = [];
    const N = 30;
    for (let i = 0; i < N; i++) {
      if (i % 3 === 0) {
        replies.push({ i, kind: 'post', reply: await request(srv.port, { method: 'POST', path: `/echo?i=${i}`, body: 'x'.repeat(100 + i), headers: { 'Content-Type': 'text/plain' } }) });
      } else {
        replies.push({ i, kind: 'get', reply: await request(srv.port, { path: i % 2 === 0 ? `/p/${i}` : `/p/${i}?a=1&b=%20x`, headers: { 'User-Agent': `ua-${i}`, ...(i % 2 === 0 ? { Referer: `http://ref.example/${i}` } : {}) } }) });
      }
    }
    await waitLines(access, N);
    const ids = workerIds(srv);
    const stopped = await srv.stop();
    assert.equal(stopped.code, 0);
    const records = jsonLines(access);
    assert.equal(records.length, N, 'one line per request, no more');
    const byId = new Map(records.map((r) => [r.request_id, r]));
    const servedBy = new Set<number>();
    for (const { reply, kind, i } of replies) {
      assert.equal(reply.status, 200);
      const rid = reply.headers['x-request-id'] as string;
      const rec = byId.get(rid);
      assert.ok(rec, `a line for request ${i} (${rid})`);
      const pid = Number(reply.body.split(' ')[0]);
      servedBy.add(pid);
      assert.deepEqual(Object.keys(rec).sort(), ['bytes', 'completed', 'duration_ms', 'level', 'method', 'msg', 'path', 'pid', 'protocol', 'query', 'referer', 'remote_addr', 'request_bytes', 'request_id', 'status', 'time', 'user_agent', 'worker_id']);
      assert.equal(rec.pid, pid, 'pid of the worker that served');
      assert.equal(rec.worker_id, ids.get(pid), 'worker_id of the worker that served');
      assert.equal(rec.status, 200);
      assert.equal(rec.bytes, Buffer.byteLength(reply.body));
      assert.equal(rec.protocol, 'HTTP/1.1');
      assert.equal(rec.remote_addr, '127.0.0.1');
      assert.equal(rec.completed, true);
      assert.equal(typeof rec.duration_ms, 'number');
      assert.ok(rec.duration_ms > 0 && rec.duration_ms < 10_000, `duration_ms ${rec.duration_ms}`);
      assert.ok(Math.abs(Date.parse(rec.time) - Date.now()) < 60_000, 'time is ISO 8601, now');
      assert.match(rec.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      if (kind === 'post') {
        assert.equal(rec.method, 'POST');
        assert.equal(rec.path, '/echo');
        assert.equal(rec.query, `i=${i}`);
        assert.equal(rec.request_bytes, 100 + i);
        assert.equal(Number(reply.body.split(' ')[1]), 100 + i);
        assert.equal(rec.user_agent, null);
      } else {
        assert.equal(rec.method, 'GET');
        assert.equal(rec.path, `/p/${i}`);
        assert.equal(rec.query, i % 2 === 0 ? '' : 'a=1&b=%20x');
        assert.equal(rec.request_bytes, 0);
        assert.equal(rec.user_agent, `ua-${i}`);
        assert.equal(rec.referer, i % 2 === 0 ? `http://ref.example/${i}` : null);
      }
    }
    assert.deepEqual(new Set(servedBy), new Set(workers), 'both workers served and logged');
  });

  it('a client that leaves mid-response gets a line (the status sent, completed: false); a refused request gets one too', async () => {
    const access = path.join(dir, 'access.log');
    const srv = await startGwserver(['-w', '1', '--access-logfile', access, '--limit-request-line', '100', APP]);
    const c = new RawClient(srv.port);
    c.send('GET /slow HTTP/1.1\r\nHost: x\r\nX-Request-ID: leaving-client-1\r\n\r\n');
    await c.waitFor('the first chunk', () => c.text.includes('first\n'));
    c.destroy();
    await waitLines(access, 1);
    const [left] = jsonLines(access);
    assert.equal(left!.request_id, 'leaving-client-1');
    assert.equal(left!.status, 200, 'the status that was sent');
    assert.equal(left!.completed, false);
    assert.ok(left!.bytes >= 'first\n'.length);

    // Refused by gwserver's limits before the environ was built (414): still one line.
    const r = await rawRequest({ port: srv.port }, `GET /${'a'.repeat(200)}?q=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: long-one\r\n\r\n`);
    assert.equal(r.status, 414);
    await waitLines(access, 2);
    const refused = jsonLines(access)[1]!;
    assert.equal(refused.status, 414);
    assert.equal(refused.path, `/${'a'.repeat(200)}`);
    assert.equal(refused.query, 'q=1');
    assert.equal(refused.user_agent, 'long-one');
    assert.equal(refused.remote_addr, '127.0.0.1');
    assert.equal(refused.request_id, r.headers['x-request-id']);
  });

  it('a header with a CR or LF cannot forge a line: node refuses it (400) and the log has no line from it', async () => {
    const access = path.join(dir, 'access.log');
    const srv = await startGwserver(['-w', '1', '--access-logfile', access, APP]);
    const forged = '{"time":"2026-01-01T00:00:00.000Z","status":200,"request_id":"forged"}';
    for (const sep of ['\n', '\r', '\r\n', '\x1b']) {
      const r = await rawRequest({ port: srv.port }, `GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: a${sep}${forged}\r\n\r\n`);
      assert.equal(r.status, 400, JSON.stringify(sep));
    }
    assert.equal((await get(srv.port)).status, 200);
    await waitLines(access, 1);
    await srv.stop();
    assert.equal(lines(access).length, 1, 'only the good request');
    assert.ok(!readFileSync(access, 'utf8').includes('forged'));
  });

  describe('hostile values: quotes, backslashes, tabs and non-ASCII bytes', () => {
    // Bytes node's parser lets through in a header value: everything but CR, LF, NUL and other controls than tab.
    const hostile = Buffer.concat([Buffer.from('a"b\\c\td '), Buffer.from([0xc3, 0xa9, 0xff, 0x80, 0x9b]), Buffer.from(' "} {"x":"')]);
    const raw = (i: number) => Buffer.concat([
      Buffer.from(`GET /h/${i}?q=%22 HTTP/1.1\r\nHost: x\r\nUser-Agent: `), hostile,
      Buffer.from('\r\nReferer: '), hostile,
      Buffer.from('\r\nX-Foo: '), hostile,
      Buffer.from('\r\nConnection: close\r\n\r\n'),
    ]);

    it('JSON: every line is one valid record, the values intact (one latin-1 character per byte)', async () => {
      const access = path.join(dir, 'access.log');
      const srv = await startGwserver(['-w', '2', '--access-logfile', access, APP]);
      const N = 6;
      for (let i = 0; i < N; i++) assert.equal((await rawRequest({ port: srv.port }, raw(i))).status, 200);
      await waitLines(access, N);
      await srv.stop();
      const all = lines(access);
      assert.equal(all.length, N);
      for (const l of all) {
        const rec = JSON.parse(l) as LogRecord;
        assert.equal(rec.user_agent, hostile.toString('latin1'));
        assert.equal(rec.referer, hostile.toString('latin1'));
      }
    });

    it('text: one line per request, values escaped as \\xNN, \\" and \\\\', async () => {
      const access = path.join(dir, 'access.log');
      const error = path.join(dir, 'error.log');
      const format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" "%({x-foo}i)s"';
      const srv = await startGwserver(['-w', '2', '--log-format', 'text', '--error-logfile', error, '--access-logfile', access, '--access-logformat', format, APP], { noWait: true });
      const port = await textPort(srv, error);
      const N = 6;
      for (let i = 0; i < N; i++) assert.equal((await rawRequest({ port }, raw(i))).status, 200);
      await waitLines(access, N);
      srv.proc.kill('SIGTERM');
      await srv.exited;
      const all = lines(access);
      assert.equal(all.length, N, 'the line count equals the request count');
      const escaped = 'a\\"b\\\\c\\x09d \\xc3\\xa9\\xff\\x80\\x9b \\"} {\\"x\\":\\"';
      for (const l of all) {
        assert.match(l, /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/h\/\d\?q=%22 HTTP\/1\.1" 200 \d+ "/);
        assert.ok(l.endsWith(` "${escaped}" "${escaped}" "${escaped}"`), l);
        assert.ok(/^[\x20-\x7e]*$/.test(l), 'printable ASCII only');
      }
    });
  });

  /** The port of a gwserver whose error log is a text file, from its listening line. */
  async function textPort(srv: Gwserver, error: string): Promise<number> {
    return until(() => {
      if (srv.proc.exitCode !== null) throw new Error(`gwserver exited: ${srv.stderr.join('\n')}`);
      const m = /\] listening address=http:\/\/127\.0\.0\.1:(\d+)/.exec(lines(error).join('\n'));
      return m ? Number(m[1]) : 0;
    }, 15_000, 'the listening line');
  }

  it('text: gunicorn\'s default format, a custom one with %({x-foo}i)s %({content-type}o)s %(M)s, and a text error log', async () => {
    const access = path.join(dir, 'access.log');
    const custom = path.join(dir, 'custom.log');
    const error = path.join(dir, 'error.log');
    const srv = await startGwserver(['-w', '1', '--log-format', 'text', '--error-logfile', error, '--access-logfile', access, APP], { noWait: true });
    const port = await textPort(srv, error);
    const r = await request(port, { path: '/x?y=1', headers: { 'User-Agent': 'curl/8', Referer: 'http://r/', Authorization: `Basic ${Buffer.from('bob:secret').toString('base64')}` } });
    await waitLines(access, 1);
    assert.match(lines(access)[0]!, new RegExp(`^127\\.0\\.0\\.1 - bob \\[\\d\\d/\\w{3}/\\d{4}:\\d\\d:\\d\\d:\\d\\d [+-]\\d{4}\\] "GET /x\\?y=1 HTTP/1\\.1" 200 ${r.body.length} "http://r/" "curl/8"$`));
    // The error log in text: [time] [pid] [LEVEL] message key=value.
    const listening = lines(error).find((l) => l.includes('] listening '))!;
    assert.match(listening, new RegExp(`^\\[\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d [+-]\\d{4}\\] \\[${srv.pid}\\] \\[INFO\\] listening address=http://127\\.0\\.0\\.1:${port}$`));
    srv.proc.kill('SIGTERM');
    await srv.exited;
    assert.ok(lines(error).some((l) => / \[INFO\] worker stopping worker_id=1 reason=SIGTERM$/.test(l)));

    const error2 = path.join(dir, 'error2.log');
    const srv2 = await startGwserver(['-w', '1', '--log-format', 'text', '--error-logfile', error2, '--access-logfile', custom,
      '--access-logformat', '%({x-foo}i)s|%({content-type}o)s|%(M)s|%(m)s %(U)s %(q)s %(H)s|%(B)s %(b)s|%(p)s|%(T)s|%({X-Request-ID}o)s|%%', APP], { noWait: true });
    const port2 = await textPort(srv2, error2);
    const r2 = await request(port2, { path: '/z?k=v', headers: { 'X-Foo': 'foo value' } });
    await waitLines(custom, 1);
    const fields = lines(custom)[0]!.split('|');
    assert.equal(fields[0], 'foo value');
    assert.equal(fields[1], 'text/plain; charset=utf-8');
    assert.match(fields[2]!, /^\d+$/);
    assert.equal(fields[3], 'GET /z k=v HTTP/1.1');
    assert.equal(fields[4], `${r2.body.length} ${r2.body.length}`);
    assert.equal(fields[5], `<${r2.body}>`);
    assert.equal(fields[6], '0');
    assert.equal(fields[7], r2.headers['x-request-id']);
    assert.equal(fields[8], '%');
    srv2.proc.kill('SIGTERM');
    await srv2.exited;
  });

  it('an access log that cannot be opened stops gwserver at boot with the reason (exit 3)', async () => {
    const notADir = path.join(dir, 'file');
    writeFileSync(notADir, '');
    const r = await runToExit(['-w', '1', '-b', '127.0.0.1:0', '--access-logfile', path.join(notADir, 'access.log'), APP]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /gwserver: error: cannot open the access log .*file\/access\.log: E/);
  });

  it('wsgi.errors lines and an app exception land in the error log with the request id and the stack', async () => {
    const srv = await startGwserver(['-w', '1', APP]);
    const r = await get(srv.port, '/errors');
    assert.equal(r.status, 500);
    const rid = r.headers['x-request-id'];
    const first = await srv.waitForRecord((x) => x.msg === 'first wsgi.errors line');
    const second = await srv.waitForRecord((x) => x.msg === 'second wsgi.errors line');
    const failed = await srv.waitForRecord((x) => x.msg === 'application error');
    for (const rec of [first, second, failed]) {
      assert.equal(rec.request_id, rid);
      assert.equal(typeof rec.worker_id, 'number');
      assert.equal(typeof rec.pid, 'number');
      assert.equal(rec.level, 'error');
    }
    assert.equal(first.source, 'wsgi.errors');
    assert.equal(failed.err.message, 'boom from the app');
    assert.match(failed.err.stack, /^Error: boom from the app\n\s+at .*application.*logs\.mjs:\d+/);
  });

  for (const [how, signal] of [['graceful (TERM)', 'SIGTERM'], ['quick (INT)', 'SIGINT']] as const) {
    it(`a ${how} stop under load: every response a client received whole has its line`, async () => {
      const access = path.join(dir, 'access.log');
      const srv = await startGwserver(['-w', '2', '--access-logfile', access, APP]);
      await srv.waitWorkers(2);
      // Keep-alive and concurrency: many lines end in the same loop turns and are queued together; the signal comes while they are.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      const done: string[] = [];
      let stop = false;
      const one = () => new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: srv.port, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200 && res.complete) done.push(String(res.headers['x-request-id']));
            resolve();
          });
          res.on('error', () => resolve());
        });
        req.on('error', () => { stop = true; resolve(); });
      });
      const loop = async () => { for (let i = 0; i < 2000 && !stop; i++) await one(); };
      const loops = Array.from({ length: 8 }, loop);
      await until(() => done.length >= 300, 20_000, '300 responses');
      srv.proc.kill(signal);
      await srv.exited;
      stop = true;
      await Promise.all(loops);
      agent.destroy();
      const logged = new Set(jsonLines(access).map((r) => r.request_id));
      const missing = done.filter((id) => !logged.has(id));
      assert.deepEqual(missing, [], `${missing.length} of ${done.length} responses without a line`);
    });
  }

  it('USR1 after a logrotate-style rename: new lines go to the new files, old ones stay, none lost', async () => {
    const access = path.join(dir, 'access.log');
    const error = path.join(dir, 'error.log');
    const srv = await startGwserver(['-w', '2', '--access-logfile', access, '--error-logfile', error, APP], { noWait: true });
    await until(() => jsonLines(error).some((r) => r.msg === 'listening'), 15_000, 'listening');
    const port = Number(new URL(jsonLines(error).find((r) => r.msg === 'listening')!.address).port);
    const workers = await srv.waitWorkers(2);
    await until(() => workerIds(srv, error).size === 2, 15_000, 'both workers ready');
    const before = (await reachEveryWorker(port, workers)).length;
    await waitLines(access, before);

    // logrotate: mv access.log access.log.1 (and the error log); kill -USR1 master.
    renameSync(access, `${access}.1`);
    renameSync(error, `${error}.1`);
    srv.proc.kill('SIGUSR1');
    await until(() => jsonLines(error).some((r) => r.msg === 'log files reopened' && r.pid === srv.pid), 15_000, 'the master reopened');
    for (const w of workers) await until(() => jsonLines(error).some((r) => r.msg === 'log files reopened' && r.pid === w), 15_000, `worker ${w} reopened`);

    const after = (await reachEveryWorker(port, workers)).length;
    await waitLines(access, after);
    srv.proc.kill('SIGTERM');
    await srv.exited;
    const old = jsonLines(`${access}.1`);
    const fresh = jsonLines(access);
    assert.equal(old.length, before, 'the lines before USR1 stayed in the rotated file');
    assert.equal(fresh.length, after, 'the lines after USR1 are in the new file');
    assert.deepEqual(new Set(fresh.map((r) => r.pid)), new Set(workers), 'every worker writes to the new file');
    assert.ok(jsonLines(`${error}.1`).some((r) => r.msg === 'handling SIGUSR1'));
    assert.ok(jsonLines(error).some((r) => r.msg === 'master stopped'));
  });

  it('the shipped config/logrotate.conf, run by logrotate -f on tmp paths, rotates without losing a line', async function () {
    if (spawnSync('logrotate', ['--version']).error) {
      console.log('      (skipped: logrotate is not installed; apt-get install logrotate)');
      this.skip();
    }
    const access = path.join(dir, 'access.log');
    const error = path.join(dir, 'error.log');
    const pidfile = path.join(dir, 'gw.pid');
    // The shipped file, pointed at the tmp dir, the test's user, and a pid file instead of systemctl.
    const shipped = readFileSync(path.join(ROOT, 'config/logrotate.conf'), 'utf8');
    const conf = shipped
      .replace('/var/log/gwserver/*.log', `${dir}/*.log`)
      .replace(/create 0640 gwserver gwserver/, 'create 0640')
      .replace(/^\s*systemctl kill .*$/m, `        kill -USR1 "$(cat ${pidfile})"`);
    assert.notEqual(conf, shipped);
    assert.match(conf, /kill -USR1/);
    const confFile = path.join(dir, 'logrotate.conf');
    writeFileSync(confFile, conf, { mode: 0o644 });

    const srv = await startGwserver(['-w', '2', '--pid', pidfile, '--access-logfile', access, '--error-logfile', error, APP], { noWait: true });
    await until(() => jsonLines(error).some((r) => r.msg === 'listening'), 15_000, 'listening');
    const port = Number(new URL(jsonLines(error).find((r) => r.msg === 'listening')!.address).port);
    const workers = await srv.waitWorkers(2);
    await until(() => workerIds(srv, error).size === 2 && existsSync(pidfile), 15_000, 'both workers ready');
    const before = (await reachEveryWorker(port, workers)).length;
    await waitLines(access, before);

    const r = spawnSync('logrotate', ['-f', '-s', path.join(dir, 'state'), confFile], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(`${access}.1`), `rotated: ${readdirSync(dir).join(' ')}`);
    for (const w of [srv.pid, ...workers]) await until(() => jsonLines(error).some((x) => x.msg === 'log files reopened' && x.pid === w), 15_000, `${w} reopened`);
    const after = (await reachEveryWorker(port, workers)).length;
    await waitLines(access, after);
    srv.proc.kill('SIGTERM');
    await srv.exited;
    assert.equal(jsonLines(`${access}.1`).length, before);
    assert.equal(jsonLines(access).length, after);
  });
});
