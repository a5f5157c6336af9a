/**
 * The shape metrics travel in between workers and the master: prom-client's
 * `registry.getMetricsAsJSON()`, so that gwserver's own request metrics, the
 * default process metrics and an app's metrics are aggregated alike.
 *
 * @module
 */

/** One sample: a value with its labels (`metricName` names a histogram's `_bucket`, `_sum`, `_count`). */
export interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/** One metric family, as prom-client's `getMetricsAsJSON()` gives it. */
export interface MetricJSON {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | string;
  values: MetricValue[];
  /** How the master combines the workers' values (prom-client's aggregators; `sum` when absent). */
  aggregator?: string;
}

/** How often a worker pushes its snapshot (the master counts a worker silent for 2.5 pushes as stale). */
export const PUSH_INTERVAL_MS = 1000;
