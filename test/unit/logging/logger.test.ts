/**
 * The error log's text format (`--log-format text`): gunicorn's head, the
 * fields as key=value but for those the message says, the message's further
 * lines and the stack below, and nothing that can start a line; and what
 * `--log-format auto` comes to for each log.
 */
import assert from 'node:assert/strict';
import { formatTextRecord, resolveLogFormats, saidInMessage } from '../../../src/logging/logger.js';

describe('logging/logger: the text format of the error log', () => {
  const time = '2026-11-21T18:00:00.000Z';

  it('[time] [pid] [LEVEL] message key=value', () => {
    const line = formatTextRecord(JSON.stringify({ level: 'warn', time, pid: 42, worker_id: 2, msg: 'something odd', n: 3, ok: true, path: '/a b', obj: { a: 1 } }));
    assert.match(line, /^\[2026-11-2\d \d\d:\d\d:00 [+-]\d{4}\] \[42\] \[WARNING\] something odd worker_id=2 n=3 ok=true path="\/a b" obj=\{"a":1\}\n$/);
    if (new Date().getTimezoneOffset() === 0) assert.ok(line.startsWith('[2026-11-21 18:00:00 +0000] '));
  });

  it('names levels as gunicorn does', () => {
    const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((level) => /\] \[([A-Z]+)\] /.exec(formatTextRecord(JSON.stringify({ level, time, pid: 1, msg: 'm' })))![1]);
    assert.deepEqual(levels, ['TRACE', 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']);
  });

  it('puts the message\'s further lines, then the stack, on the following lines, indented; control characters are escaped', () => {
    const err = new Error('bad\nthing');
    const line = formatTextRecord(JSON.stringify({ level: 'error', time, pid: 1, request_id: 'r1', msg: 'application error\r\n[2026-01-01 00:00:00 +0000] [1] [INFO] forged', err: { type: 'Error', message: err.message, stack: err.stack }, ua: 'x"\x1b[31m' }));
    const lines = line.replace(/\n$/, '').split('\n');
    assert.match(lines[0]!, /\[ERROR\] application error\\x0d request_id=r1 ua="x\\"\\x1b\[31m"$/);
    assert.equal(lines[1], '  [2026-01-01 00:00:00 +0000] [1] [INFO] forged');
    assert.equal(lines[2], '  Error: bad');
    assert.equal(lines[3], '  thing');
    assert.match(lines[4]!, /^ {6}at /);
    assert.ok(lines.slice(1).every((l) => l.startsWith('  ')), 'only the first line of a record starts with [');
  });

  it('leaves out the fields the message says', () => {
    const text = (rec: Record<string, unknown>) => formatTextRecord(JSON.stringify({ level: 'info', time, pid: 7, ...rec })).replace(/^\[[^\]]+\] \[7\] \[[A-Z]+\] /, '').replace(/\n$/, '');
    assert.equal(text({ worker_id: 1, worker_pid: 32419, msg: 'booting worker 1 with pid 32419' }), 'booting worker 1 with pid 32419');
    assert.equal(text({ worker_id: 1, worker_pid: 32419, code: 0, signal: null, reason: 'shutdown', requests: 1, msg: 'worker 1 exited (shutdown)' }), 'worker 1 exited (shutdown) worker_pid=32419 code=0 signal=null requests=1');
    assert.equal(text({ signal: 'SIGHUP', msg: 'handling SIGHUP' }), 'handling SIGHUP');
    assert.equal(text({ ms: 932, msg: 'reloaded in 932 ms' }), 'reloaded in 932 ms');
    assert.equal(text({ workers: 2, target: 'app:application', msg: 'starting gwserver master (2 workers)' }), 'starting gwserver master (2 workers) target=app:application');
    assert.equal(text({ workers: 1, msg: 'starting gwserver master (1 worker)' }), 'starting gwserver master (1 worker)');
    assert.equal(text({ graceful: true, msg: 'shutting down gracefully' }), 'shutting down gracefully graceful=true');
    assert.equal(text({ protocols: ['HTTP/1.1', 'h2c'], msg: 'serving HTTP/1.1 and h2c' }), 'serving HTTP/1.1 and h2c');
    assert.equal(text({ protocols: ['HTTP/1.1', 'h2'], msg: 'serving HTTP/1.1' }), 'serving HTTP/1.1 protocols=["HTTP/1.1","h2"]');
    assert.equal(text({ interface: 'gateway', why: 'a function', msg: 'serving a gateway app: a function' }), 'serving a gateway app: a function');
    assert.equal(text({ address: 'http://127.0.0.1:8000', msg: 'listening' }), 'listening address=http://127.0.0.1:8000');
    assert.equal(text({ source: 'console', worker_id: 2, msg: 'hello 42' }), 'hello 42 worker_id=2', 'console output reads as printed');
    assert.equal(text({ worker_id: 2, source: 'stdout', msg: 'GET / 200' }), 'GET / 200 worker_id=2 source=stdout');
  });

  it('a value is said by a whole word; a number only next to a word of its name', () => {
    assert.equal(saidInMessage('reason', 'reload', 'reloading the workers'), false, 'not part of a word');
    assert.equal(saidInMessage('reason', 'reload', 'worker 1 exited (reload)'), true);
    assert.equal(saidInMessage('requests', 1, 'worker 1 exited'), false, 'the 1 of another field');
    assert.equal(saidInMessage('retry_in_ms', 100, 'next attempt in 100 ms'), true);
    assert.equal(saidInMessage('rss_mib', 300, 'worker 2 uses 300 MiB'), true);
    assert.equal(saidInMessage('limit_mib', 200, 'over --max-worker-memory 200'), false);
    assert.equal(saidInMessage('kept', 'os', 'still os'), false, 'a short string needs its name near');
    assert.equal(saidInMessage('obj', { a: 1 }, 'a 1'), false);
    assert.equal(saidInMessage('list', [], 'anything'), false);
  });

  it('--log-format auto: text for a log that goes to a terminal, JSON otherwise; json and text everywhere', () => {
    const both = { stderr: true, stdout: true };
    const none = { stderr: false, stdout: false };
    const cfg = (logFormat: string, errorLogfile = '-', accessLogfile = '-') => ({ logFormat, errorLogfile, accessLogfile });
    assert.deepEqual(resolveLogFormats(cfg('auto'), both), { error: 'text', access: 'text' });
    assert.deepEqual(resolveLogFormats(cfg('auto'), none), { error: 'json', access: 'json' });
    assert.deepEqual(resolveLogFormats(cfg('auto'), { stderr: true, stdout: false }), { error: 'text', access: 'json' });
    assert.deepEqual(resolveLogFormats(cfg('auto', '/var/log/error.log', '/var/log/access.log'), both), { error: 'json', access: 'json' }, 'files are for machines');
    assert.deepEqual(resolveLogFormats(cfg('auto', '-', ''), both), { error: 'text', access: 'json' });
    assert.deepEqual(resolveLogFormats(cfg('json'), both), { error: 'json', access: 'json' });
    assert.deepEqual(resolveLogFormats(cfg('text', 'e.log', 'a.log'), none), { error: 'text', access: 'text' });
  });

  it('passes a line that is not JSON through', () => {
    assert.equal(formatTextRecord('not json\n'), 'not json\n');
  });
});
