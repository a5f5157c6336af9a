import assert from 'node:assert/strict';
import { ActTable } from '../../../src/ipc/dispatch.js';
import { EXIT, MASTER_EXIT_MEANING } from '../../../src/ipc/exit-codes.js';
import { heartbeatInterval, type WorkerMessage } from '../../../src/ipc/protocol.js';

describe('ipc: one handler table keyed by act', () => {
  it('runs the handlers of an act in the order they were added, with what the side passes along', () => {
    const table = new ActTable<WorkerMessage, [from: string]>();
    const seen: string[] = [];
    table.on('gwserver:heartbeat', (m, from) => seen.push(`first ${m.requests} from ${from}`));
    table.on('gwserver:ready', (_m, from) => seen.push(`ready from ${from}`));
    table.on('gwserver:heartbeat', (m) => seen.push(`second ${m.requests}`));
    assert.equal(table.dispatch({ act: 'gwserver:heartbeat', requests: 7 }, 'w1'), true);
    assert.equal(table.dispatch({ act: 'gwserver:ready' }, 'w2'), true);
    assert.deepEqual(seen, ['first 7 from w1', 'second 7', 'ready from w2']);
  });

  it("leaves other messages to their listeners (prom-client's, node:cluster's), and drops an act nobody handles", () => {
    const table = new ActTable<WorkerMessage>();
    let called = 0;
    table.on('gwserver:ready', () => called++);
    for (const m of [{ type: 'prom-client:getMetricsRes', requestId: 1 }, { cmd: 'NODE_CLUSTER', act: 'online' }, 'gwserver:ready', null, 42]) {
      assert.equal(table.dispatch(m), false, JSON.stringify(m));
    }
    assert.equal(table.dispatch({ act: 'gwserver:unknown' }), true);
    assert.equal(called, 0);
  });

  it('removes a handler, even while the handlers of its act run', () => {
    const table = new ActTable<WorkerMessage>();
    const seen: string[] = [];
    const offFirst = table.on('gwserver:ready', () => {
      seen.push('first');
      offFirst();
    });
    const offSecond = table.on('gwserver:ready', () => seen.push('second'));
    table.dispatch({ act: 'gwserver:ready' });
    table.dispatch({ act: 'gwserver:ready' });
    offSecond();
    table.dispatch({ act: 'gwserver:ready' });
    assert.deepEqual(seen, ['first', 'second', 'second']);
  });
});

describe('ipc: exit codes and heartbeats', () => {
  it("keeps gunicorn's numbers, and says what each failure code means", () => {
    assert.deepEqual(EXIT, { OK: 0, ERROR: 1, USAGE: 2, WORKER_BOOT_ERROR: 3, APP_LOAD_ERROR: 4 });
    for (const code of [EXIT.ERROR, EXIT.USAGE, EXIT.WORKER_BOOT_ERROR, EXIT.APP_LOAD_ERROR]) assert.ok(MASTER_EXIT_MEANING[code], String(code));
    assert.equal(MASTER_EXIT_MEANING[EXIT.OK], undefined);
  });

  it('beats four times per --timeout, between 100 ms and 1 s, and once a second without a timeout', () => {
    assert.equal(heartbeatInterval(30), 1000);
    assert.equal(heartbeatInterval(2), 500);
    assert.equal(heartbeatInterval(0.2), 100);
    assert.equal(heartbeatInterval(0), 1000);
  });
});
