/**
 * --metrics-bind, the master's side: the workers' snapshots and the master's
 * own metrics (src/metrics/master.ts), served with /healthz and /readyz on
 * an address of their own (src/metrics/server.ts). prom-client and the HTTP
 * server are loaded only when the setting is on: a master without metrics
 * never loads them.
 *
 * A master re-executed on USR2 inherits the old master's listening metrics
 * socket and serves it only once its own workers are ready, so that a probe
 * never reaches a master without workers while the old one still serves; the
 * old one closes its own once told the new one is ready ({@link MetricsEndpoint.handOver}).
 *
 * @module
 */
import type { Worker } from 'node:cluster';
import { closeSync } from 'node:fs';
import type { Logger } from '../logging/logger.js';
import type { MasterMetrics, RestartReason, WorkerView } from '../metrics/master.js';
import type { MetricsServer } from '../metrics/server.js';
import type { MasterChannel } from './channel.js';
import { takeInheritedMetricsFd } from './reexec.js';
import { BindError } from './sockets.js';
import type { Config } from '../config/settings.js';

/** --metrics-bind cannot be used as given: one line for the operator, exit code 1 (as a bind failure). */
export class MetricsBindError extends BindError {
  constructor(message: string) {
    super('--metrics-bind', 'EINVAL');
    this.message = message;
  }
}

/** What the endpoint reads of the master. */
export interface MetricsHost {
  log: Logger;
  /** The workers' messages: their `gwserver:metrics` snapshots. */
  channel: MasterChannel;
  /** The workers now, as the metrics read them. */
  workers: () => Iterable<WorkerView>;
  /** The number of workers the master aims for. */
  target: () => number;
  /** The id of a worker the master forked (still known after its exit: its last snapshot may come after 'exit'). */
  idOf: (worker: Worker) => number | undefined;
  /** /readyz: at least one worker serves and the master is not stopping. */
  ready: () => boolean;
}

/** The master's metrics and their HTTP endpoint. */
export class MetricsEndpoint {
  readonly #bind: string;
  /** A listening socket inherited from the old master (USR2): served once this master is ready. */
  readonly #inherited: number | undefined;
  #host: MetricsHost | undefined;
  #metrics: MasterMetrics | undefined;
  #server: MetricsServer | undefined;

  private constructor(bind: string, inherited: number | undefined) {
    this.#bind = bind;
    this.#inherited = inherited;
  }

  /**
   * Before the sockets are opened and any worker forked: takes the metrics
   * socket an old master handed over (workers must not see the variable),
   * and checks that --metrics-bind is not also an application address.
   * Undefined when metrics are off.
   *
   * @throws MetricsBindError when --metrics-bind shares an application address.
   */
  static async prepare(config: Readonly<Config>): Promise<MetricsEndpoint | undefined> {
    const fd = takeInheritedMetricsFd();
    if (config.metricsBind === '') {
      // Metrics are off now: a socket nobody accepts on would leave scrapers hanging instead of refused.
      if (fd !== undefined) closeSync(fd);
      return undefined;
    }
    const { sharedAppAddress } = await import('../metrics/server.js');
    const shared = sharedAppAddress(config.metricsBind, config.bind);
    if (shared !== undefined) throw new MetricsBindError(shared);
    return new MetricsEndpoint(config.metricsBind, fd);
  }

  /**
   * Loads the metrics and binds --metrics-bind (an inherited socket waits
   * for {@link serveInherited}).
   *
   * @throws BindError when the address cannot be used.
   */
  async start(host: MetricsHost): Promise<void> {
    const { MasterMetrics } = await import('../metrics/master.js');
    const metrics = new MasterMetrics({ workers: host.workers, target: host.target });
    this.#host = host;
    this.#metrics = metrics;
    host.channel.on('gwserver:metrics', (m, worker) => {
      const id = host.idOf(worker);
      if (id !== undefined) metrics.update(id, m.metrics);
    });
    if (this.#inherited !== undefined) {
      host.log.info({ fd: this.#inherited }, `using the metrics socket inherited from the old master (fd ${this.#inherited}) once this master is ready`);
      return;
    }
    const { parseBind } = await import('../config/binds.js');
    const bind = parseBind(this.#bind);
    if (bind.kind !== 'tcp') throw new MetricsBindError(`--metrics-bind must be HOST:PORT, not ${this.#bind}`);
    try {
      await this.#listen({ host: bind.host, port: bind.port });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new BindError(`${this.#bind} (--metrics-bind)`, e.code ?? e.message);
    }
  }

  /** The master is ready: serve the socket inherited from the old master, if any (not yet served). */
  async serveInherited(): Promise<void> {
    if (this.#metrics && this.#inherited !== undefined && this.#server === undefined) await this.#listen({ fd: this.#inherited });
  }

  async #listen(where: { host: string; port: number } | { fd: number }): Promise<void> {
    const { startMetricsServer } = await import('../metrics/server.js');
    const host = this.#host!;
    const metrics = this.#metrics!;
    this.#server = await startMetricsServer(where, {
      render: () => metrics.render(),
      ready: host.ready,
      onError: (err) => host.log.error({ err }, 'metrics endpoint error'),
    });
    host.log.info({ address: this.#server.address }, 'metrics listening');
  }

  /** The listening socket's descriptor, for a new master (USR2). */
  get fd(): number | undefined {
    return this.#server?.fd;
  }

  /** A worker was forked. */
  add(id: number): void {
    this.#metrics?.add(id);
  }

  restarted(reason: RestartReason): void {
    this.#metrics?.restarted(reason);
  }

  timedOut(): void {
    this.#metrics?.timedOut();
  }

  scaled(direction: 'up' | 'down'): void {
    this.#metrics?.scaled(direction);
  }

  /**
   * Worker `id` exited: fold its counts into the retired totals once its
   * last message is read. 'exit' (the process is gone) can come before the
   * channel's last messages, the final snapshot of a graceful stop among
   * them: fold once the channel is closed too (or a second later).
   */
  retire(id: number, worker: Worker): void {
    const metrics = this.#metrics;
    if (metrics === undefined) return;
    const fold = () => metrics.retire(id);
    if (worker.isConnected()) {
      worker.once('disconnect', fold);
      setTimeout(fold, 1000).unref();
    } else {
      fold();
    }
  }

  /** USR2: the new master serves the metrics socket now; a scrape or a probe must not reach this one, which is leaving. */
  handOver(newMasterPid: number): void {
    if (this.#server === undefined) return;
    void this.#server.close();
    this.#host?.log.info({ new_master_pid: newMasterPid }, 'metrics and health checks: the new master answers them now');
  }

  /** The master exits. */
  async close(): Promise<void> {
    await this.#server?.close();
  }
}
