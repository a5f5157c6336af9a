// @ts-check
/**
 * Helpers shared by the bench scripts (run.mjs, scheduling.mjs,
 * cpu-per-request.mjs).
 *
 * @module
 */
import net from 'node:net';

/**
 * A port nobody listens on now: each server gets a fresh one (TIME_WAIT
 * piles up on a port that served a wrk run).
 * @returns {Promise<number>}
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (s.address());
      s.close(() => resolve(port));
    });
  });
}
