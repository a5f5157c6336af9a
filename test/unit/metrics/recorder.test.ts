/**
 * The worker's request counting: bounded labels, histograms in
 * prom-client's JSON shape, in-flight from started - ended.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { METHODS, methodIndex, NAMES, RequestRecorder, statusIndex, statusLabel, type ObservedRequest } from '../../../src/metrics/recorder.js';
import type { MetricJSON } from '../../../src/metrics/types.js';

function req(method: string | undefined, status: number, extra: Partial<ObservedRequest> = {}): ObservedRequest {
  return { req: { method }, loggedStatus: status, sent: 10, received: 0, startedAt: performance.now(), endedAt: performance.now(), ...extra };
}

function family(json: MetricJSON[], name: string): MetricJSON {
  const f = json.find((m) => m.name === name);
  assert.ok(f, name);
  return f;
}

describe('metrics: RequestRecorder', () => {
  it('bounds the method label: the nine standard methods, everything else "other"', () => {
    for (const m of METHODS.slice(0, -1)) assert.equal(METHODS[methodIndex(m)], m);
    for (const m of ['FOO', 'PROPFIND', 'get', '', undefined]) assert.equal(METHODS[methodIndex(m)], 'other');
  });

  it('bounds the status label: 100..599 as themselves, anything else "other"', () => {
    assert.equal(statusLabel(statusIndex(200)), '200');
    assert.equal(statusLabel(statusIndex(100)), '100');
    assert.equal(statusLabel(statusIndex(599)), '599');
    for (const s of [0, 99, 600, 1000, -1, 200.5, NaN]) assert.equal(statusLabel(statusIndex(s)), 'other');
  });

  it('counts requests by method and status, and the duration histogram per pair', () => {
    const r = new RequestRecorder([0.1, 1]);
    r.observe(req('GET', 200));
    r.observe(req('GET', 200));
    r.observe(req('BREW', 418));
    r.observe(req('POST', 700));
    r.observe(req('GET', 200, { startedAt: performance.now() - 500 }));
    const json = r.toJSON(6);
    const total = family(json, NAMES.requests);
    assert.equal(total.type, 'counter');
    assert.deepEqual(total.values.map((v) => [v.labels, v.value]), [
      [{ method: 'GET', status: '200' }, 3],
      [{ method: 'other', status: '418' }, 1],
      [{ method: 'POST', status: 'other' }, 1],
    ]);
    const d = family(json, NAMES.duration).values.filter((v) => v.labels.method === 'GET');
    const bucket = (le: number | string) => d.find((v) => v.metricName === `${NAMES.duration}_bucket` && v.labels.le === le)!.value;
    assert.equal(bucket(0.1), 2);
    assert.equal(bucket(1), 3);
    assert.equal(bucket('+Inf'), 3);
    assert.equal(d.find((v) => v.metricName === `${NAMES.duration}_count`)!.value, 3);
    const sum = d.find((v) => v.metricName === `${NAMES.duration}_sum`)!.value;
    assert.ok(sum >= 0.5 && sum < 1, String(sum));
    assert.equal(family(json, NAMES.inFlight).values[0]!.value, 1);
    assert.equal(r.ended, 5);
  });

  it('size histograms: request bytes read, response bytes sent', () => {
    const r = new RequestRecorder([1]);
    r.observe(req('POST', 201, { received: 100, sent: 5000 }));
    r.observe(req('GET', 200, { received: 0, sent: 20_000_000 }));
    const json = r.toJSON(2);
    const rq = family(json, NAMES.requestSize).values;
    assert.equal(rq.find((v) => v.labels.le === 64)!.value, 1);
    assert.equal(rq.find((v) => v.labels.le === 256)!.value, 2);
    assert.equal(rq.find((v) => v.metricName?.endsWith('_sum'))!.value, 100);
    const rs = family(json, NAMES.responseSize).values;
    assert.equal(rs.find((v) => v.labels.le === 4096)!.value, 0);
    assert.equal(rs.find((v) => v.labels.le === 16384)!.value, 1);
    assert.equal(rs.find((v) => v.labels.le === 16777216)!.value, 1);
    assert.equal(rs.find((v) => v.labels.le === '+Inf')!.value, 2);
  });

  it('observe() stays well under a microsecond', () => {
    const r = new RequestRecorder([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
    const recs = Array.from({ length: 16 }, (_, i) => req(['GET', 'POST', 'HEAD'][i % 3], [200, 404, 304, 500][i % 4], { sent: i * 1000 }));
    const n = 200_000;
    let best = Infinity;
    for (let round = 0; round < 5; round++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) r.observe(recs[i & 15]!);
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
    }
    // Measured about 90 ns here (40 of them performance.now()); the bound leaves room for a loaded CI machine.
    assert.ok(best < 1000, `${best.toFixed(0)} ns per observe()`);
  });
});
