/**
 * hookLog: what hooks get as `server.log` and `worker.log`. gunicorn's hooks
 * call it printf-style (`server.log.info("spawned (pid: %s)", pid)`), with
 * its level names (`warning`, `critical`); the records are the process's
 * own, through its pino logger, with its base fields (a worker's id).
 */
import assert from 'node:assert/strict';
import { hookLog } from '../../../src/logging/hook-log.js';
import { sink } from '../../helpers/sink.js';

describe('hookLog: server.log and worker.log for hooks', () => {
  it('formats a message printf-style, as gunicorn hooks write it, at each level', () => {
    const { logger, records } = sink({ base: { worker_id: 3 } });
    const log = hookLog(logger);
    log.debug('debug %d', 1);
    log.info('worker spawned (pid: %s)', 4242);
    log.warn('warn %s', 'w');
    log.warning('warning %s', 'gunicorn');
    log.error('error %j', { a: 1 });
    log.critical('critical');
    assert.deepEqual(records.map((r) => [r.level, r.msg, r.worker_id]), [
      ['debug', 'debug 1', 3],
      ['info', 'worker spawned (pid: 4242)', 3],
      ['warn', 'warn w', 3],
      ['warn', 'warning gunicorn', 3],
      ['error', 'error {"a":1}', 3],
      ['fatal', 'critical', 3],
    ]);
  });

  it('takes pino fields first, and methods taken off it keep working', () => {
    const { logger, records } = sink();
    const { info } = hookLog(logger);
    info({ step: 'warm-up' }, 'cache %s', 'ready');
    assert.equal(records[0]!.step, 'warm-up');
    assert.equal(records[0]!.msg, 'cache ready');
  });

  it('follows the process\'s --log-level', () => {
    const { logger, records } = sink({ level: 'warn' });
    const log = hookLog(logger);
    log.info('dropped');
    log.warning('kept');
    assert.deepEqual(records.map((r) => r.msg), ['kept']);
  });
});
