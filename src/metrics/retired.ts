/**
 * What exited workers counted. When a worker exits, the master folds the
 * counters and histograms of its last snapshot in here, so that a sum over
 * workers never goes down (prom-client's AggregatorRegistry forgets an
 * exited worker: its counters drop). Gauges describe a live process and are
 * dropped with it; summaries' quantiles cannot be added up and are dropped
 * too. Pure data, no prom-client: unit-tested on its own.
 *
 * @module
 */
import type { MetricJSON, MetricValue } from './types.js';

interface Family {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: Map<string, MetricValue>;
}

/** Whether a metric's values can be summed across processes that no longer run. */
export function isFoldable(m: MetricJSON): boolean {
  return (m.type === 'counter' || m.type === 'histogram') && (m.aggregator === undefined || m.aggregator === 'sum');
}

/** The identity of a sample: its series name and its labels, in a stable order. */
function sampleKey(v: MetricValue): string {
  const keys = Object.keys(v.labels).sort();
  let out = v.metricName ?? '';
  for (const k of keys) out += `\u0000${k}\u0001${String(v.labels[k])}`;
  return out;
}

/** The sums of the counters and histograms of every worker that exited. */
export class RetiredTotals {
  readonly #families = new Map<string, Family>();

  /** Adds an exited worker's last snapshot. */
  fold(snapshot: readonly MetricJSON[]): void {
    for (const m of snapshot) {
      if (!isFoldable(m)) continue;
      let f = this.#families.get(m.name);
      if (f === undefined) {
        f = { name: m.name, help: m.help, type: m.type, aggregator: 'sum', values: new Map() };
        this.#families.set(m.name, f);
      } else if (f.type !== m.type) {
        // The same name with another type (an app that changed its metric between reloads): the newer wins.
        f.type = m.type;
        f.help = m.help;
        f.values.clear();
      }
      for (const v of m.values) {
        if (typeof v.value !== 'number' || !Number.isFinite(v.value)) continue;
        const key = sampleKey(v);
        const had = f.values.get(key);
        if (had) had.value += v.value;
        else f.values.set(key, { value: v.value, labels: { ...v.labels }, ...(v.metricName === undefined ? {} : { metricName: v.metricName }) });
      }
    }
  }

  /** The totals in prom-client's JSON shape (copies: aggregating them does not change them). */
  toJSON(): MetricJSON[] {
    return [...this.#families.values()].map((f) => ({
      name: f.name,
      help: f.help,
      type: f.type,
      aggregator: f.aggregator,
      values: [...f.values.values()].map((v) => ({ ...v, labels: { ...v.labels } })),
    }));
  }
}
