/**
 * The master's aggregation, in-process with a fake worker table and clock:
 * live snapshots and retired totals add up, a worker's exit never lowers a
 * counter, a silent worker is stale but still counted.
 */
import assert from 'node:assert/strict';
import { MasterMetrics, STALE_MS, type WorkerView } from '../../../src/metrics/master.js';
import { RequestRecorder } from '../../../src/metrics/recorder.js';
import type { MetricJSON } from '../../../src/metrics/types.js';
import { sharedAppAddress } from '../../../src/metrics/server.js';

function snapshot(n: number, status = 200): MetricJSON[] {
  const r = new RequestRecorder([0.1, 1]);
  for (let i = 0; i < n; i++) r.observe({ req: { method: 'GET' }, loggedStatus: status, sent: 1, received: 0, startedAt: 0, endedAt: 0 });
  return r.toJSON(n);
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics: MasterMetrics', () => {
  let now = 0;
  let workers: WorkerView[] = [];
  const make = () => new MasterMetrics({ workers: () => workers, target: () => 2, now: () => now });

  beforeEach(() => {
    now = 1_000_000;
    workers = [{ id: 1, state: 'ready' }, { id: 2, state: 'ready' }];
  });

  it('sums the live workers, keeps an exited worker\'s counts, ignores its late messages', async () => {
    const m = make();
    m.add(1);
    m.add(2);
    m.update(1, snapshot(3));
    m.update(2, snapshot(4));
    const series = 'gwserver_http_requests_total{method="GET",status="200"}';
    assert.equal(value((await m.render()).body, series), 7);
    workers = [{ id: 2, state: 'ready' }];
    m.retire(1);
    m.update(1, snapshot(30));
    assert.equal(value((await m.render()).body, series), 7);
    m.add(3);
    m.update(3, snapshot(1));
    m.update(2, snapshot(5));
    const body = (await m.render()).body;
    assert.equal(value(body, series), 9);
    assert.equal(value(body, 'gwserver_http_request_duration_seconds_count{method="GET",status="200"}'), 9);
    assert.equal(value(body, 'gwserver_http_request_duration_seconds_bucket{le="+Inf",method="GET",status="200"}'), 9);
    // Gauges of exited workers are not kept: in flight is the live workers'.
    assert.equal(value(body, 'gwserver_http_requests_in_flight'), 0);
  });

  it('counts a ready worker silent for 2.5 pushes as stale, and still counts its last snapshot', async () => {
    const m = make();
    m.add(1);
    m.add(2);
    m.update(1, snapshot(2));
    m.update(2, snapshot(2));
    assert.equal(value((await m.render()).body, 'gwserver_metrics_stale_workers'), 0);
    now += STALE_MS + 1;
    m.update(2, snapshot(3));
    const body = (await m.render()).body;
    assert.equal(value(body, 'gwserver_metrics_stale_workers'), 1);
    assert.equal(value(body, 'gwserver_http_requests_total{method="GET",status="200"}'), 5);
  });

  it('reports workers by state, restarts by reason (all reasons present from the start), timeouts', async () => {
    const m = make();
    workers = [{ id: 1, state: 'ready' }, { id: 2, state: 'booting' }, { id: 3, state: 'stopping' }];
    m.restarted('reload');
    m.restarted('reload');
    m.timedOut();
    const body = (await m.render()).body;
    assert.equal(value(body, 'gwserver_workers{state="ready"}'), 1);
    assert.equal(value(body, 'gwserver_workers{state="booting"}'), 1);
    assert.equal(value(body, 'gwserver_workers_desired'), 2);
    assert.equal(value(body, 'gwserver_worker_restarts_total{reason="reload"}'), 2);
    assert.equal(value(body, 'gwserver_worker_restarts_total{reason="crash"}'), 0);
    assert.equal(value(body, 'gwserver_worker_timeouts_total'), 1);
  });

  it('an app metric named like one of the master\'s does not break the scrape', async () => {
    const m = make();
    m.add(1);
    m.update(1, [{ name: 'gwserver_workers', help: 'x', type: 'gauge', values: [{ value: 99, labels: {} }] }]);
    const body = (await m.render()).body;
    assert.equal(value(body, 'gwserver_workers{state="ready"}'), 2);
  });
});

describe('metrics: sharedAppAddress', () => {
  it('refuses the same port on the same or a wildcard host; allows others and port 0', () => {
    assert.match(sharedAppAddress('127.0.0.1:8000', ['127.0.0.1:8000'])!, /also an application address/);
    assert.ok(sharedAppAddress('127.0.0.1:8000', ['0.0.0.0:8000']));
    assert.ok(sharedAppAddress('0.0.0.0:8000', ['10.0.0.1:8000']));
    assert.ok(sharedAppAddress(':8000', ['127.0.0.1:8000']));
    assert.equal(sharedAppAddress('127.0.0.1:9100', ['127.0.0.1:8000', 'unix:/tmp/x.sock']), undefined);
    assert.equal(sharedAppAddress('127.0.0.2:8000', ['127.0.0.1:8000']), undefined);
    assert.equal(sharedAppAddress('127.0.0.1:0', ['127.0.0.1:0']), undefined);
  });
});

describe('metrics: takeInheritedMetricsFd (USR2)', () => {
  it('reads GWSERVER_METRICS_FD, removes it, and refuses a value that is not an fd number', async () => {
    const { METRICS_FD_ENV, takeInheritedMetricsFd } = await import('../../../src/master/reexec.js');
    const env: NodeJS.ProcessEnv = { [METRICS_FD_ENV]: '5' };
    assert.equal(takeInheritedMetricsFd(env), 5);
    assert.equal(env[METRICS_FD_ENV], undefined);
    assert.equal(takeInheritedMetricsFd({}), undefined);
    assert.throws(() => takeInheritedMetricsFd({ [METRICS_FD_ENV]: 'x' }), /must be an fd number/);
  });
});
