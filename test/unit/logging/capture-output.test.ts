/**
 * `--capture-output`: console's methods, writes to process.stdout and
 * process.stderr, and Node's warnings become records of the logger given,
 * and everything goes back as it was on restore().
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { captureOutput } from '../../../src/logging/capture-output.js';
import { sink } from '../../helpers/sink.js';

describe('logging/capture-output: what the app prints becomes records', () => {
  const strip = (r: Record<string, unknown>) => ({ level: r.level, msg: r.msg, source: r.source });

  it('console.log/info/debug/warn/error at their levels, formatted as console does', () => {
    const { logger, records } = sink();
    const capture = captureOutput(logger);
    try {
      console.log('hello %s, %d', 'you', 42, { a: 1 });
      console.info('info');
      console.debug('debug');
      console.warn('warn');
      console.error('error', new Error('boom').message);
      console.log();
      console.assert(false, 'asserted');
    } finally {
      capture.restore();
    }
    assert.deepEqual(records.map(strip), [
      { level: 'info', msg: 'hello you, 42 { a: 1 }', source: 'console' },
      { level: 'info', msg: 'info', source: 'console' },
      { level: 'debug', msg: 'debug', source: 'console' },
      { level: 'warn', msg: 'warn', source: 'console' },
      { level: 'error', msg: 'error boom', source: 'console' },
      { level: 'warn', msg: 'Assertion failed: asserted', source: 'console' },
    ]);
  });

  it('writes to stdout and stderr: the whole lines of a write are one record, a part line waits for its end (or a flush)', () => {
    const { logger, records } = sink();
    const capture = captureOutput(logger);
    let called = 0;
    try {
      process.stdout.write('GET / 200 ');
      process.stdout.write(Buffer.from('1.2 ms\n'), () => called++);
      process.stderr.write('a\nb\nc');
      process.stderr.write('d\n', 'utf8');
      process.stdout.write('no end');
      assert.equal(records.length, 3);
      capture.flush();
    } finally {
      capture.restore();
    }
    assert.deepEqual(records.map(strip), [
      { level: 'info', msg: 'GET / 200 1.2 ms', source: 'stdout' },
      { level: 'error', msg: 'a\nb', source: 'stderr' },
      { level: 'error', msg: 'cd', source: 'stderr' },
      { level: 'info', msg: 'no end', source: 'stdout' },
    ]);
    return new Promise<void>((resolve) => setImmediate(() => {
      assert.equal(called, 1, 'the write callback is called');
      resolve();
    }));
  });

  it('a line that is a JSON object already (the app\'s own JSON logger) goes out as it is, in its place', () => {
    const { logger, records } = sink();
    const out: string[] = [];
    const real = Object.getOwnPropertyDescriptor(process.stdout, 'write');
    // The stream's own write, as capture finds it: a spy that keeps what reaches the descriptor.
    process.stdout.write = ((chunk: string) => out.push(String(chunk)) > 0) as typeof process.stdout.write;
    const capture = captureOutput(logger);
    try {
      process.stdout.write('text\n{"level":30,"msg":"pino"}\nmore {not json}\n');
      console.log(JSON.stringify({ hand: 'made' }));
      console.log('{ a: 1 }');
    } finally {
      capture.restore();
      if (real === undefined) delete (process.stdout as { write?: unknown }).write;
      else Object.defineProperty(process.stdout, 'write', real);
    }
    assert.deepEqual(out, ['{"level":30,"msg":"pino"}\n', '{"hand":"made"}\n']);
    assert.deepEqual(records.map(strip), [
      { level: 'info', msg: 'text', source: 'stdout' },
      { level: 'info', msg: 'more {not json}', source: 'stdout' },
      { level: 'info', msg: '{ a: 1 }', source: 'console' },
    ]);
  });

  it('Node warnings are warn records with their name and code, instead of Node printing them', async () => {
    const { logger, records } = sink();
    const before = console.error;
    const capture = captureOutput(logger);
    try {
      await Promise.all([once(process, 'warning'), Promise.resolve(process.emitWarning('old thing', { code: 'APP1', detail: 'use the new one' }))]);
      await new Promise((r) => setImmediate(r));
    } finally {
      capture.restore();
    }
    assert.equal(console.error, before);
    const w = records.find((r) => r.warning === 'Warning');
    assert.ok(w, JSON.stringify(records));
    assert.deepEqual([w.level, w.code, w.msg], ['warn', 'APP1', 'Warning: old thing\nuse the new one']);
    assert.equal(records.filter((r) => /old thing/.test(r.msg)).length, 1, 'once: Node did not print it through console.error too');
  });

  it('restore() puts console and the streams back', () => {
    const log = console.log;
    const write = process.stdout.write;
    const warningListeners = process.listeners('warning').length;
    captureOutput(sink().logger).restore();
    assert.equal(console.log, log);
    assert.equal(process.stdout.write, write);
    assert.equal(process.listeners('warning').length, warningListeners);
  });
});
