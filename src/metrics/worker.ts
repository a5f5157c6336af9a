/**
 * A worker's side of the metrics (loaded only with --metrics-bind, so that a
 * worker without metrics never loads prom-client).
 *
 * The worker pushes: once a second it sends the master ONE message with its
 * cumulative metrics (gwserver's request metrics from {@link RequestRecorder},
 * plus prom-client's default registry, where Node's process metrics and the
 * app's own metrics live). The master never asks, so a scrape never waits on
 * a worker (prom-client's pull over IPC fails the whole scrape after 5 s when
 * one worker is stuck), and the master keeps the last snapshot of a worker
 * that exits, so no counter goes down. A graceful stop sends a final
 * snapshot before the worker exits: nothing is lost.
 *
 * @module
 */
import client from 'prom-client';
import type { ExchangeRecord } from '../gateway/handler.js';
import type { WorkerMessage } from '../ipc/protocol.js';
import { RequestRecorder } from './recorder.js';
import { PUSH_INTERVAL_MS, type MetricJSON } from './types.js';

export interface WorkerMetricsOptions {
  /** --metrics-buckets. */
  buckets: readonly number[];
  /** Requests started so far (the worker counts them anyway, for --max-requests). */
  started: () => number;
  /** Upgraded connections open now and accepted so far (the worker server counts them). */
  upgrades?: () => { open: number; total: number };
  /** Logs a failed collection (an app metric whose collect() throws). */
  onError?: (err: unknown) => void;
}

/** What the worker's main module uses. */
export interface WorkerMetrics {
  /** The request observer's callback (see RequestObserver.requestEnded). */
  observe(record: ExchangeRecord): void;
  /** Starts the pushes (once the worker listens). */
  start(): void;
  /** Stops the pushes and sends a final snapshot; resolves once it is written to the channel (or could not be). */
  flush(): Promise<void>;
}

/** Sets up the worker's metrics: Node's default metrics in prom-client's default registry, and the request recorder. */
export function createWorkerMetrics(options: WorkerMetricsOptions): WorkerMetrics {
  const recorder = new RequestRecorder(options.buckets);
  try {
    client.collectDefaultMetrics();
  } catch (err) {
    // The app called collectDefaultMetrics() itself (while it loaded): its metrics are the same ones.
    if (!/already been registered/.test(String((err as Error)?.message))) throw err;
  }
  let timer: NodeJS.Timeout | undefined;

  /** The app's and Node's metrics (async: some collect on demand). */
  const registry = async (): Promise<MetricJSON[]> => {
    try {
      return (await client.register.getMetricsAsJSON()) as unknown as MetricJSON[];
    } catch (err) {
      // One broken app metric must not take gwserver's own counts with it.
      options.onError?.(err);
      return [];
    }
  };

  /**
   * Sends a snapshot. The request counts are read in the same tick as the
   * send: of two snapshots, the one sent later never counts less, so the
   * master can always keep the last one it received.
   */
  const send = (fromRegistry: MetricJSON[]): Promise<void> =>
    new Promise((resolve) => {
      if (!process.connected || typeof process.send !== 'function') return resolve();
      const message: WorkerMessage = { act: 'gwserver:metrics', metrics: [...recorder.toJSON(options.started(), options.upgrades?.()), ...fromRegistry] };
      // The callback also takes a failed send (the master died): never an uncaught 'error'.
      process.send(message, undefined, {}, () => resolve());
    });

  let inflight: Promise<void> | undefined;
  const push = () => {
    // A slow collection (a big app registry) must not pile up pushes.
    inflight ??= registry().then(send).finally(() => (inflight = undefined));
    return inflight;
  };

  return {
    observe: (record) => recorder.observe(record),
    start() {
      if (timer !== undefined) return;
      void push();
      timer = setInterval(() => void push(), PUSH_INTERVAL_MS);
      timer.unref();
    },
    async flush() {
      clearInterval(timer);
      timer = undefined;
      // After a push under way, so that the final snapshot is also the last one sent.
      await inflight;
      // Bounded: an exit must not hang on a channel that does not drain.
      let guard: NodeJS.Timeout | undefined;
      await Promise.race([registry().then(send), new Promise<void>((resolve) => (guard = setTimeout(resolve, 2000)))]);
      clearTimeout(guard);
    },
  };
}
