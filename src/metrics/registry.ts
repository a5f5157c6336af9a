/**
 * The registry an app registers its metrics in, reached through gwserver:
 * the very prom-client instance gwserver collects from, even when npm did
 * not dedupe the app's own prom-client with gwserver's.
 *
 * @module
 */
import { createRequire } from 'node:module';
import type { Registry } from 'prom-client';

/**
 * prom-client's default registry, as gwserver's workers push it to the
 * master with --metrics-bind: a metric registered here (`registers:
 * [metricsRegistry()]`) appears in the master's `/metrics`, aggregated over
 * the workers. Loads prom-client on the first call, not before.
 */
export function metricsRegistry(): Registry {
  const require = createRequire(import.meta.url);
  return (require('prom-client') as typeof import('prom-client')).register;
}
