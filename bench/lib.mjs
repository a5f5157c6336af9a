// @ts-check
/**
 * Helpers shared by the bench scripts (run.mjs, scheduling.mjs,
 * cpu-per-request.mjs).
 *
 * @module
 */
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { spawnSync } from 'node:child_process';

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

/**
 * The pids of a process's children, from /proc (empty once it is gone).
 * @param {number} pid
 * @returns {number[]}
 */
export function childPids(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

/**
 * VmRSS of a process in KiB (undefined if it is gone).
 * @param {number} pid
 * @returns {number | undefined}
 */
export function rssKiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The pids of wrk processes running now that are not in `ours`: another
 * benchmark sharing the machine, which makes every figure of the run noisy.
 * @param {Iterable<number>} ours
 * @returns {number[]}
 */
export function foreignWrk(ours) {
  const mine = new Set(ours);
  /** @type {number[]} */
  const out = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (mine.has(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'wrk') out.push(pid);
    } catch {
      // Gone.
    }
  }
  return out;
}

/** µs per clock tick of /proc/PID/stat's utime and stime. */
let tickUs = 0;

/**
 * CPU time (user + system, every thread) used so far by a process and all
 * its descendants, in µs, from /proc: what a server cost, whatever else
 * ran on the machine. Time the scheduler gave other processes, or the
 * hypervisor took (steal), is not in it, which makes requests per
 * CPU-second a steadier per-core figure than requests/s on a shared
 * machine. A process gone before the reading counts 0.
 * @param {number} pid
 * @returns {number}
 */
export function treeCpuUs(pid) {
  if (tickUs === 0) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    tickUs = 1e6 / (Number(r.stdout?.trim()) || 100);
  }
  let total = 0;
  const seen = new Set();
  const walk = (/** @type {number} */ p) => {
    if (seen.has(p)) return;
    seen.add(p);
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(f[11]) + Number(f[12])) * tickUs;
    } catch {
      return;
    }
    for (const c of childPids(p)) walk(c);
  };
  walk(pid);
  return total;
}

/**
 * `list` in the order of round `round` (from 1): as given in odd rounds,
 * reversed in even ones (A B C, then C B A), so that a drift of the
 * machine's speed within a round favours none of the servers measured.
 * @template T
 * @param {T[]} list @param {number} round
 * @returns {T[]}
 */
export function inTurn(list, round) {
  return round % 2 === 1 ? list : [...list].reverse();
}
