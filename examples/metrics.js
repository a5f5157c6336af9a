// @ts-check
/**
 * An application with metrics of its own, next to gwserver's.
 *
 *     gwserver -w 2 --metrics-bind 127.0.0.1:9100 examples/metrics:application
 *     curl http://127.0.0.1:8000/roll          # a die roll: 1 to 6
 *     curl http://127.0.0.1:9100/metrics       # example_dice_rolls_total{face="..."} summed over both workers
 *
 * - `GET /roll` rolls a die, counts the face in `example_dice_rolls_total`
 *   and times the roll in `example_roll_duration_seconds`.
 * - anything else: a line saying where to look.
 *
 * Each worker registers its metrics in prom-client's default registry,
 * which gwserver pushes to the master with its own once a second: the
 * master's `/metrics` shows them summed over the workers, and counts of
 * workers that exited stay counted. The app and gwserver must use the same
 * prom-client (npm dedupes `prom-client@15` with gwserver's; or take
 * `metricsRegistry()` from gwserver). Without `--metrics-bind` the metrics
 * are counted but not served.
 *
 * @module
 */
import { Counter, Histogram } from 'prom-client';

/** @typedef {import('gwserver').Application} Application */

// Created once per worker, when the app module loads (never per request).
const rolls = new Counter({
  name: 'example_dice_rolls_total',
  help: 'Dice rolled, by face.',
  labelNames: ['face'],
});
const rollTime = new Histogram({
  name: 'example_roll_duration_seconds',
  help: 'Time to roll a die, in seconds.',
  buckets: [0.0001, 0.001, 0.01],
});

/** @type {Application} */
export const application = (environ, startResponse) => {
  if (environ.PATH_INFO === '/roll') {
    const end = rollTime.startTimer();
    const face = String(1 + Math.floor(Math.random() * 6));
    rolls.inc({ face });
    end();
    startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
    return [`${face}\n`];
  }
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return ['GET /roll rolls a die; the counts are on the --metrics-bind address, at /metrics.\n'];
};
