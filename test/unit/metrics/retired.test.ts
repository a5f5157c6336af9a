/**
 * The retired totals: what exited workers counted stays counted.
 */
import assert from 'node:assert/strict';
import { isFoldable, RetiredTotals } from '../../../src/metrics/retired.js';
import type { MetricJSON } from '../../../src/metrics/types.js';

const counter = (v: number, labels: Record<string, string> = { method: 'GET' }): MetricJSON => ({ name: 'c_total', help: 'c', type: 'counter', aggregator: 'sum', values: [{ value: v, labels }] });
const gauge = (v: number): MetricJSON => ({ name: 'g', help: 'g', type: 'gauge', aggregator: 'sum', values: [{ value: v, labels: {} }] });
const hist = (count: number): MetricJSON => ({
  name: 'h', help: 'h', type: 'histogram', values: [
    { value: count, labels: { le: 1, status: '200' }, metricName: 'h_bucket' },
    { value: count, labels: { status: '200', le: '+Inf' }, metricName: 'h_bucket' },
    { value: count * 0.5, labels: { status: '200' }, metricName: 'h_sum' },
    { value: count, labels: { status: '200' }, metricName: 'h_count' },
  ],
});

describe('metrics: RetiredTotals', () => {
  it('sums counters and histograms sample by sample (labels in any order)', () => {
    const t = new RetiredTotals();
    t.fold([counter(3), hist(2)]);
    t.fold([counter(4), counter(1, { method: 'POST' }), hist(5)]);
    const json = t.toJSON();
    const c = json.find((m) => m.name === 'c_total')!;
    assert.deepEqual(c.values.map((v) => [v.labels.method, v.value]), [['GET', 7], ['POST', 1]]);
    const h = json.find((m) => m.name === 'h')!;
    assert.equal(h.values.length, 4);
    assert.equal(h.values.find((v) => v.metricName === 'h_sum')!.value, 3.5);
    assert.equal(h.values.find((v) => v.labels.le === '+Inf')!.value, 7);
    assert.equal(h.aggregator, 'sum');
  });

  it('drops gauges, summaries and metrics aggregated otherwise than by sum', () => {
    assert.equal(isFoldable(gauge(1)), false);
    assert.equal(isFoldable({ ...counter(1), aggregator: 'max' }), false);
    assert.equal(isFoldable({ name: 's', help: 's', type: 'summary', values: [] }), false);
    assert.equal(isFoldable({ ...counter(1), aggregator: undefined }), true);
    const t = new RetiredTotals();
    t.fold([gauge(5), counter(1)]);
    assert.deepEqual(t.toJSON().map((m) => m.name), ['c_total']);
  });

  it('hands out copies: aggregating them does not change the totals', () => {
    const t = new RetiredTotals();
    t.fold([counter(2)]);
    t.toJSON()[0]!.values[0]!.value = 100;
    assert.equal(t.toJSON()[0]!.values[0]!.value, 2);
  });
});
