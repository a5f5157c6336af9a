/**
 * The shape metrics travel in between workers and the master: prom-client's
 * `registry.getMetricsAsJSON()`, so that gwserver's own request metrics, the
 * default process metrics and an app's metrics are aggregated alike. It is
 * part of the master-worker protocol (`gwserver:metrics`), so it is declared
 * in src/ipc/protocol.ts; the metrics modules take it from here.
 *
 * @module
 */

export type { MetricJSON, MetricValue } from '../ipc/protocol.js';

/** How often a worker pushes its snapshot (the master counts a worker silent for 2.5 pushes as stale). */
export const PUSH_INTERVAL_MS = 1000;
