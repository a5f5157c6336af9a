/**
 * The control socket's request parsing (src/ipc/control.ts): every line a
 * client writes becomes a command or an error message, never an exception.
 */
import assert from 'node:assert/strict';
import { parseCommand } from '../../../src/ipc/control.js';

describe('control protocol: parseCommand', () => {
  it('reads each command with its arguments and defaults, and echoes the id', () => {
    assert.deepEqual(parseCommand('{"cmd":"status","id":7}'), { command: { cmd: 'status' }, id: 7 });
    assert.deepEqual(parseCommand('{"cmd":"workers"}'), { command: { cmd: 'workers', olderThanMs: 1000 }, id: null });
    assert.deepEqual(parseCommand('{"cmd":"workers","olderThanMs":0}'), { command: { cmd: 'workers', olderThanMs: 0 }, id: null });
    assert.deepEqual(parseCommand('{"cmd":"add"}'), { command: { cmd: 'add', n: 1 }, id: null });
    assert.deepEqual(parseCommand('{"cmd":"remove","n":3,"id":"x"}'), { command: { cmd: 'remove', n: 3 }, id: 'x' });
    assert.deepEqual(parseCommand('{"cmd":"kill","worker":12}'), { command: { cmd: 'kill', worker: 12, graceful: true }, id: null });
    assert.deepEqual(parseCommand('{"cmd":"shutdown","graceful":false}'), { command: { cmd: 'shutdown', graceful: false }, id: null });
    assert.deepEqual(parseCommand('{"cmd":"stack","worker":2}'), { command: { cmd: 'stack', worker: 2 }, id: null });
  });

  it('says what is wrong with a line, whatever it is', () => {
    const error = (line: string) => {
      const r = parseCommand(line);
      assert.ok('error' in r, line);
      return r.error;
    };
    assert.match(error('{nope'), /^malformed JSON: /);
    assert.match(error(''), /^malformed JSON: /);
    assert.equal(error('[1]'), 'a request is a JSON object: {"cmd": "status"}');
    assert.equal(error('null'), 'a request is a JSON object: {"cmd": "status"}');
    assert.equal(error('{"command":"status"}'), 'the request has no "cmd" string');
    assert.match(error('{"cmd":"frobnicate"}'), /^unknown command "frobnicate" \(commands: status, workers, /);
    assert.equal(error('{"cmd":"add","n":0}'), 'add: "n" must be an integer >= 1');
    assert.equal(error('{"cmd":"add","n":"2"}'), 'add: "n" must be an integer >= 1');
    assert.equal(error('{"cmd":"stack"}'), 'stack: "worker" must be an integer >= 1');
    assert.equal(error('{"cmd":"kill","worker":1,"graceful":"yes"}'), 'kill: "graceful" must be true or false');
    assert.equal(error('{"cmd":"workers","olderThanMs":-1}'), 'workers: "olderThanMs" must be an integer >= 0');
    assert.ok(error(`{"cmd":"${'x'.repeat(10_000)}"}`).length < 300, 'a long name is cut in the message');
  });
});
