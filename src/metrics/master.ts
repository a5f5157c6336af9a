/**
 * The master's side of the metrics (loaded only with --metrics-bind): the
 * latest snapshot each live worker pushed, the totals of the workers that
 * exited, and the master's own metrics about its workers. A scrape
 * aggregates what is in memory with prom-client's
 * `AggregatorRegistry.aggregate()` (each metric by its own aggregator: sum
 * for gwserver's and most of Node's), and never asks a worker anything: a
 * stuck worker cannot slow it down, it only shows in
 * `gwserver_metrics_stale_workers` (its last snapshot still counts).
 *
 * @module
 */
import client from 'prom-client';
import type { WorkerState } from '../ipc/protocol.js';
import { RetiredTotals } from './retired.js';
import { PUSH_INTERVAL_MS, type MetricJSON } from './types.js';

/** A worker whose last snapshot is older than this is stale: 2.5 pushes missed. */
export const STALE_MS = PUSH_INTERVAL_MS * 2.5;

/**
 * Why a worker was replaced, for `gwserver_worker_restarts_total{reason}`.
 * `crash`: it died on its own (a signal, or a non-zero exit); `exit`: it
 * exited with code 0 without the master asking (an app that called
 * process.exit(), a TERM sent to the worker by hand); `boot-failure`: it
 * died while booting. Stops that are not replacements (shutdown,
 * scale-down) are not restarts.
 */
export const RESTART_REASONS = ['timeout', 'memory', 'max-requests', 'lifetime', 'reload', 'crash', 'exit', 'boot-failure'] as const;
export type RestartReason = (typeof RESTART_REASONS)[number];

/** What the master metrics read of the arbiter's workers. */
export interface WorkerView {
  id: number;
  state: WorkerState;
}

interface Live {
  /** When the worker was forked (a worker that never pushed is stale from then on). */
  since: number;
  /** When its last snapshot arrived (0: none yet). */
  at: number;
  metrics: MetricJSON[] | undefined;
}

export interface MasterMetricsOptions {
  /** The arbiter's workers now. */
  workers(): Iterable<WorkerView>;
  /** The number of workers the master aims for. */
  target(): number;
  /** For tests: the clock. */
  now?: () => number;
}

/** Live snapshots, retired totals, and the master's own registry. */
export class MasterMetrics {
  readonly #now: () => number;
  readonly #live = new Map<number, Live>();
  readonly #retired = new RetiredTotals();
  /** gwserver's metrics about its workers: not aggregated, the master alone knows them. */
  readonly #own = new client.Registry();
  /** The master's own Node.js process metrics, aggregated with the workers' (totals over all of gwserver's processes). */
  readonly #process = new client.Registry();
  readonly #restarts: client.Counter<'reason'>;
  readonly #timeouts: client.Counter;
  readonly #scaled: client.Counter<'direction'>;
  readonly #ownNames: Set<string>;

  constructor(options: MasterMetricsOptions) {
    this.#now = options.now ?? Date.now;
    const registers = [this.#own];
    const live = this.#live;
    const now = this.#now;
    new client.Gauge({
      name: 'gwserver_workers',
      help: 'Worker processes, by state (booting, ready, stopping).',
      labelNames: ['state'],
      registers,
      collect() {
        const n = { booting: 0, ready: 0, stopping: 0 };
        for (const w of options.workers()) n[w.state]++;
        for (const [state, v] of Object.entries(n)) this.set({ state }, v);
      },
    });
    new client.Gauge({
      name: 'gwserver_workers_desired',
      help: 'The number of workers the master aims for (-w, TTIN/TTOU, adaptive workers).',
      registers,
      collect() {
        this.set(options.target());
      },
    });
    new client.Gauge({
      name: 'gwserver_metrics_stale_workers',
      help: `Workers whose last metrics snapshot is older than ${STALE_MS / 1000} s (a blocked event loop): their last snapshot is still counted.`,
      registers,
      collect() {
        const t = now();
        let stale = 0;
        for (const w of options.workers()) {
          const l = live.get(w.id);
          if (w.state === 'booting' || l === undefined) continue;
          if (t - (l.at || l.since) > STALE_MS) stale++;
        }
        this.set(stale);
      },
    });
    this.#restarts = new client.Counter({
      name: 'gwserver_worker_restarts_total',
      help: 'Workers replaced, by reason: timeout, memory, max-requests, lifetime, reload, crash, exit, boot-failure.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of RESTART_REASONS) this.#restarts.inc({ reason }, 0);
    this.#timeouts = new client.Counter({
      name: 'gwserver_worker_timeouts_total',
      help: 'Workers killed because their event loop was blocked longer than --timeout.',
      registers,
    });
    this.#scaled = new client.Counter({
      name: 'gwserver_workers_scaled_total',
      help: 'Adaptive workers (--workers-max): changes of the number of workers the master aims for, by direction (up, down).',
      labelNames: ['direction'],
      registers,
    });
    for (const direction of ['up', 'down']) this.#scaled.inc({ direction }, 0);
    this.#ownNames = new Set(this.#own.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name));
    client.collectDefaultMetrics({ register: this.#process });
  }

  /** A worker was forked: its snapshots are expected. */
  add(id: number): void {
    if (!this.#live.has(id)) this.#live.set(id, { since: this.#now(), at: 0, metrics: undefined });
  }

  /** A worker pushed a snapshot (ignored once the worker was retired: a late message must not count twice). */
  update(id: number, metrics: MetricJSON[]): void {
    const l = this.#live.get(id);
    if (l === undefined || !Array.isArray(metrics)) return;
    l.metrics = metrics;
    l.at = this.#now();
  }

  /** A worker is gone: its counters and histograms join the retired totals. Idempotent. */
  retire(id: number): void {
    const l = this.#live.get(id);
    if (l === undefined) return;
    this.#live.delete(id);
    if (l.metrics) this.#retired.fold(l.metrics);
  }

  /** A worker was replaced. */
  restarted(reason: RestartReason): void {
    this.#restarts.inc({ reason });
  }

  /** Adaptive workers: the number aimed for went up or down. */
  scaled(direction: 'up' | 'down'): void {
    this.#scaled.inc({ direction });
  }

  /** A worker was killed for --timeout. */
  timedOut(): void {
    this.#timeouts.inc();
  }

  /** The Prometheus text of every metric: the workers' (live and retired) aggregated, the master's own. */
  async render(): Promise<{ contentType: string; body: string }> {
    const parts: MetricJSON[][] = [this.#retired.toJSON()];
    for (const l of this.#live.values()) if (l.metrics) parts.push(l.metrics);
    parts.push((await this.#process.getMetricsAsJSON()) as unknown as MetricJSON[]);
    // An app metric named like one of the master's would make the merge throw: the master's wins.
    const own = this.#ownNames;
    const input = parts.map((p) => p.filter((m) => !own.has(m.name)));
    const aggregated = client.AggregatorRegistry.aggregate<client.PrometheusContentType>(input);
    const merged = client.Registry.merge([aggregated, this.#own]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }
}
