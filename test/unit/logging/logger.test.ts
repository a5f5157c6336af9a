/**
 * The error log's text format (`--log-format text`): gunicorn's head, the
 * fields as key=value, the stack below, and nothing that can start a line.
 */
import assert from 'node:assert/strict';
import { formatTextRecord } from '../../../src/logging/logger.js';

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

  it('puts the stack on the following lines, indented; control characters are escaped', () => {
    const err = new Error('bad\nthing');
    const line = formatTextRecord(JSON.stringify({ level: 'error', time, pid: 1, request_id: 'r1', msg: 'application error\n[2026-01-01 00:00:00 +0000] [1] [INFO] forged', err: { type: 'Error', message: err.message, stack: err.stack }, ua: 'x"\x1b[31m' }));
    const lines = line.replace(/\n$/, '').split('\n');
    assert.match(lines[0]!, /\[ERROR\] application error\\x0a\[2026-01-01 00:00:00 \+0000\] \[1\] \[INFO\] forged request_id=r1 ua="x\\"\\x1b\[31m"$/);
    assert.equal(lines[1], '  Error: bad');
    assert.equal(lines[2], '  thing');
    assert.match(lines[3]!, /^ {6}at /);
    assert.ok(lines.slice(1).every((l) => l.startsWith('  ')), 'only the first line of a record starts with [');
  });

  it('passes a line that is not JSON through', () => {
    assert.equal(formatTextRecord('not json\n'), 'not json\n');
  });
});
